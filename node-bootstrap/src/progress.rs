//! Whether the node is getting anywhere while its launch action waits (issue 32): the clock of
//! its last progress (a step done, a restore's download moving, a learner catching up) and what it
//! waits on now, kept for the whole process, and [`plan_wait`], the pure rule that decides from
//! them whether the action is kept alive.
//!
//! The rules, each a row of the table test:
//! 1. Moving on within the stall bound (`STEADFAST_STALL_SECS`, by default two thirds of the
//!    hook's timeout): keep the action alive (a heartbeat). Transient trouble that clears is
//!    retried on this node, as before. A wait that ends by itself at a known time (a holder
//!    that is shutting down, within its grace: then it lets go or is force-detached) is not a
//!    stall until that time.
//! 2. In `prepare`, no progress for the stall bound: ABANDON now, naming what it waited on.
//!    The action never runs out by itself under a waiting node, and the group
//!    launches a replacement (a new address, a new launch event, another host): a group never
//!    stops replacing because one node waits on something that never comes.
//! 3. In `ready`, no progress for as long: stop the heartbeats and say why; etcd runs and joins
//!    whenever it can, and the hook's default result applies once (its timeout after the last
//!    heartbeat). A cluster without a quorum is never made worse by replacements.
//! 4. Refusals are not decided here: they never heartbeat (DESIGN decision 9).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Which half of the node's start waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Prepare,
    Ready,
}

/// What to do with the launch action at a heartbeat's tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// Send the heartbeat.
    KeepAlive,
    /// Abandon the launch now: `why` names the wait that made no progress.
    Abandon { why: String },
    /// Send no more heartbeats (said once): the hook's default result will apply.
    LetRunOut { why: String },
}

/// The rule (see the module's doc): `stalled` is how long since the last progress, `bound` how
/// long that may be (the stall bound), `waiting_on` what the node waits on now.
pub fn plan_wait(phase: Phase, stalled: Duration, bound: Duration, waiting_on: &str) -> Wait {
    if stalled < bound {
        return Wait::KeepAlive;
    }
    let why = format!(
        "no progress for {} s (the stall bound, STEADFAST_STALL_SECS, is {} s) while waiting on: {}",
        stalled.as_secs(),
        bound.as_secs(),
        if waiting_on.is_empty() {
            "(nothing said)"
        } else {
            waiting_on
        }
    );
    match phase {
        Phase::Prepare => Wait::Abandon { why },
        Phase::Ready => Wait::LetRunOut { why },
    }
}

#[derive(Debug)]
struct State {
    last: Instant,
    waiting_on: String,
    /// When the current wait ends by itself, if it does (see [`waiting_until`]).
    ends: Option<Instant>,
    /// The wait last logged, and when: a new one is logged at most every 5 s, so a node's last
    /// log line says what it waits on.
    logged: Option<(String, Instant)>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with<T>(f: impl FnOnce(&mut State) -> T) -> T {
    let mut g = STATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let s = g.get_or_insert_with(|| State {
        last: Instant::now(),
        waiting_on: String::new(),
        ends: None,
        logged: None,
    });
    f(s)
}

/// The node moved on (`what`: a step done, bytes downloaded, an index applied).
pub fn moved(what: &str) {
    with(|s| {
        s.last = Instant::now();
        s.waiting_on = format!("(after {what})");
        s.ends = None;
    });
}

/// What the node waits on now (it does not count as progress). Logged when it changes, at most
/// every 5 s.
pub fn waiting(why: &str) {
    wait(why, None);
}

/// A wait that ends by itself at `ends` (a holder shutting down lets go, or its grace runs out
/// and the node force-detaches it): until then it is not a stall, and the stall clock counts
/// from `ends` (or the last progress, if later). It holds until the node moves on: the waits
/// said in between (prepare's retries of the same claim) do not cancel it.
pub fn waiting_until(why: &str, ends: Instant) {
    wait(why, Some(ends));
}

fn wait(why: &str, ends: Option<Instant>) {
    let log = with(|s| {
        s.waiting_on = why.to_string();
        if ends.is_some() {
            s.ends = ends;
        }
        let due = s
            .logged
            .as_ref()
            .is_none_or(|(w, at)| w != why && at.elapsed() >= Duration::from_secs(5));
        if due {
            s.logged = Some((why.to_string(), Instant::now()));
        }
        due.then(|| since(s))
    });
    if let Some(stalled) = log {
        tracing::info!(waiting_on = %why, since_progress_ms = stalled.as_millis() as u64, "waiting");
    }
}

/// How long since the last progress, and what the node waits on.
pub fn stalled() -> (Duration, String) {
    with(|s| (since(s), s.waiting_on.clone()))
}

fn since(s: &State) -> Duration {
    let from = s.ends.map_or(s.last, |e| e.max(s.last));
    Instant::now().saturating_duration_since(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_secs(200);

    #[test]
    fn plan_wait_follows_its_rules() {
        let s = Duration::from_secs;
        // (phase, seconds without progress, expected)
        let rows: [(Phase, u64, &str); 7] = [
            // Rule 1: progress within two thirds of the timeout keeps the action alive.
            (Phase::Prepare, 0, "keep"),
            (Phase::Prepare, 199, "keep"),
            (Phase::Ready, 199, "keep"),
            // Rule 2: prepare that gets nowhere abandons, before the action could run out.
            (Phase::Prepare, 200, "abandon"),
            (Phase::Prepare, 3600, "abandon"),
            // Rule 3: ready that gets nowhere lets the default result apply.
            (Phase::Ready, 200, "run-out"),
            (Phase::Ready, 3600, "run-out"),
        ];
        for (phase, secs, want) in rows {
            let got = plan_wait(
                phase,
                s(secs),
                BOUND,
                "peer-3.main.etcd.internal to resolve to 10.0.1.7",
            );
            let kind = match &got {
                Wait::KeepAlive => "keep",
                Wait::Abandon { .. } => "abandon",
                Wait::LetRunOut { .. } => "run-out",
            };
            assert_eq!(kind, want, "{phase:?} after {secs} s: {got:?}");
            if let Wait::Abandon { why } | Wait::LetRunOut { why } = got {
                assert!(why.contains("peer-3.main.etcd.internal"), "names the wait: {why}");
                assert!(why.contains(&secs.to_string()), "{why}");
            }
        }
        // A node that says nothing still gets a reason.
        assert!(
            matches!(plan_wait(Phase::Prepare, s(250), BOUND, ""), Wait::Abandon { why } if why.contains("nothing said"))
        );
    }

    #[test]
    fn progress_resets_the_clock_and_a_wait_does_not() {
        moved("test step");
        waiting("something");
        let (d, why) = stalled();
        assert!(d < Duration::from_secs(1));
        assert_eq!(why, "something");
        std::thread::sleep(Duration::from_millis(30));
        waiting("something else");
        assert!(stalled().0 >= Duration::from_millis(30), "a wait is not progress");
        moved("another step");
        assert!(stalled().0 < Duration::from_millis(30));
        // A wait with its own end is no stall until then, and counts from there after it.
        std::thread::sleep(Duration::from_millis(30));
        waiting_until("a holder shutting down", Instant::now() + Duration::from_secs(60));
        assert_eq!(stalled().0, Duration::ZERO, "a wait that ends by itself is not a stall");
        waiting_until("a holder shutting down", Instant::now() - Duration::from_millis(10));
        let d = stalled().0;
        assert!(d >= Duration::from_millis(10) && d < Duration::from_millis(30), "{d:?}");
        // A retry said meanwhile does not cancel the known end; progress does.
        waiting_until("a holder shutting down", Instant::now() + Duration::from_secs(60));
        waiting("prepare, attempt 1 failed: the holder still holds it");
        assert_eq!(stalled().0, Duration::ZERO, "a retry is the same wait");
        moved("attach");
        std::thread::sleep(Duration::from_millis(30));
        waiting("something open-ended");
        assert!(
            stalled().0 >= Duration::from_millis(30),
            "an open wait counts from the last progress"
        );
    }
}

//! `sandbox chaos`: the scenarios that turn the design's promise into numbers. Each runs under
//! a steady client load ([`traffic`]) on a healthy region, does its damage ([`scenarios`],
//! through the region's verbs), waits until all nine peers are healthy again as the same
//! members, then reads every acknowledged write back. The [`report`] splits each replacement
//! into its steps (from the supervisor's event log), checks the targets, and [`chart`] draws
//! each scenario.
//!
//! The runner is generic: load, fault, heal, read back, judge. What differs between scenarios is
//! data (their [`scenarios::Spec`]) and what their inject returns ([`scenarios::Injected`]).

pub mod chart;
pub mod elections;
pub mod report;
pub mod scenarios;
pub mod tls_cost;
pub mod traffic;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use steadfast_core::backup::RestoreOrder;
use steadfast_core::poll::{self, Backoff, Poll};
use steadfast_core::vocab::{EtcdTiming, Step};
use steadfast_core::Cluster;

use self::report::{Replacement, Report, ScenarioReport, Target};
use self::scenarios::{Ctx, Goal, Injected, Scenario, Settle};
use self::traffic::{longest_gap, lost_writes, percentile, Ack, Load, Tally};
use crate::error::{Result, SandboxError};
use crate::profile::Profile;
use crate::region::health::{cluster_id, health};
use crate::region::verbs;
use crate::supervisor::event_log::{Event, Logged};

/// What happened when, for the charts: (ms since the load started, label).
#[derive(Debug)]
pub struct Marks {
    start: Instant,
    /// The wall clock at `start` (etcd's logs are in wall-clock time).
    wall: chrono::DateTime<chrono::Utc>,
    list: Mutex<Vec<(f64, String)>>,
}

impl Marks {
    fn new(start: Instant) -> Self {
        let wall = chrono::Utc::now() - chrono::Duration::from_std(start.elapsed()).unwrap_or_default();
        Self {
            start,
            wall,
            list: Mutex::default(),
        }
    }

    /// The first mark (the first damage), as (ms since the load started, wall clock).
    fn first(&self) -> Option<(f64, chrono::DateTime<chrono::Utc>)> {
        let l = self.list.lock().ok()?;
        let (t, _) = l.first()?;
        Some((*t, self.wall + chrono::Duration::milliseconds(*t as i64)))
    }

    /// Marks `label` now; when (ms since the load started).
    pub fn mark(&self, label: &str) -> f64 {
        let t = self.start.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(t_ms = t, label, "chaos");
        if let Ok(mut l) = self.list.lock() {
            l.push((t, label.to_string()));
        }
        t
    }

    fn all(&self) -> Vec<(f64, String)> {
        self.list.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// Per peer, whether it answered as healthy, sampled over time: (ms, healthy by peer).
pub type HealthTimeline = Vec<(f64, Vec<bool>)>;

#[derive(Debug, Clone)]
pub struct Options {
    pub scenarios: Vec<Scenario>,
    pub profile: Profile,
    /// Where report.json, the charts and index.html go.
    pub out_dir: PathBuf,
    /// The supervisor's event log.
    pub events: PathBuf,
    /// How long a scenario may take to heal before it fails.
    pub heal_timeout: Duration,
    /// etcd's timing on the nodes (the election timeout is the unit of the zone + 1 target).
    pub etcd_timing: EtcdTiming,
    /// Measure the TLS cost first (two side clusters, 24 s).
    pub tls_cost: bool,
}

/// The cargo profile this binary (and so the nodes' and the Lambda's, built beside it) came from.
fn build_kind() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// Runs the scenarios in order on the running region; writes the report files.
pub async fn run(cluster: &Cluster, opts: &Options) -> Result<Report> {
    std::fs::create_dir_all(&opts.out_dir).map_err(SandboxError::io(format!("mkdir {}", opts.out_dir.display())))?;
    let mut report = Report {
        profile: opts.profile.name.to_string(),
        heartbeat_interval_ms: opts.etcd_timing.heartbeat().as_secs_f64() * 1000.0,
        build: build_kind().to_string(),
        scenarios: Vec::new(),
        tls_cost: None,
        reach: None,
    };
    if opts.tls_cost {
        eprintln!("chaos: tls cost (plain http vs mutual TLS, same load, in turns)");
        match tls_cost::measure(cluster, opts.etcd_timing, &crate::state::state_dir().join("tls-cost")).await {
            Ok(c) => report.tls_cost = Some(c),
            Err(e) => eprintln!("chaos: tls cost not measured: {e}"),
        }
    }
    for s in &opts.scenarios {
        eprintln!("chaos: {} ({} profile)", s.name, opts.profile.name);
        let r = run_one(cluster, s, opts).await?;
        eprintln!(
            "chaos: {}: {} acked, {} lost, {} stale, longest gap {:.0} ms, healthy after {}",
            r.name,
            r.writes_acked,
            r.writes_lost,
            r.stale_reads,
            r.max_write_gap_ms,
            r.time_to_healthy_ms
                .map(|t| format!("{t:.0} ms"))
                .unwrap_or_else(|| "NEVER".into())
        );
        report.scenarios.push(r);
        report.reach = reach().await;
        write(&opts.out_dir, &report)?;
    }
    Ok(report)
}

/// What the nodes called so far, as the moto launcher counted it.
async fn reach() -> Option<report::Reach> {
    let v = crate::region::verbs::moto_get("reach").await.ok()?;
    let key = crate::config::NODE_KEY;
    let counts = |section: &str| -> std::collections::BTreeMap<String, u64> {
        v[section][key]
            .as_object()
            .map(|m| m.iter().map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0))).collect())
            .unwrap_or_default()
    };
    Some(report::Reach {
        allowed: v["allow"][key]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        called: counts("called"),
        refused: counts("refused"),
    })
}

fn write(dir: &Path, report: &Report) -> Result<()> {
    let json = serde_json::to_string_pretty(report).map_err(|e| SandboxError::Setup(e.to_string()))?;
    std::fs::write(dir.join("report.json"), json).map_err(SandboxError::io("write report.json"))?;
    chart::html(dir, report)
}

/// Samples every peer's health until stopped.
fn sample_health(cluster: Cluster, start: Instant, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<HealthTimeline> {
    tokio::spawn(async move {
        let mut out = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let h = health(&cluster).await;
            out.push((
                start.elapsed().as_secs_f64() * 1000.0,
                h.iter().map(|p| p.healthy()).collect(),
            ));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        out
    })
}

/// The region before the damage: every peer healthy, their member ids, the cluster's id, the
/// instances that ran, and where the event log and the clock stood.
#[derive(Debug)]
struct Before {
    members: Vec<Option<u64>>,
    cluster_id: Option<u64>,
    instances: Vec<String>,
    since_secs: u64,
    events_from: u64,
}

impl Before {
    /// Waits until every peer is healthy (one leader), then looks.
    async fn look(cluster: &Cluster, opts: &Options) -> Result<Self> {
        let found = poll::until(
            opts.heal_timeout,
            Backoff::every(Duration::from_millis(250)),
            || async {
                let h = health(cluster).await;
                Ok::<_, SandboxError>(
                    if h.iter().all(|p| p.healthy()) && h.iter().filter(|p| p.is_leader()).count() == 1 {
                        Poll::Ready(h.iter().map(|p| p.member_id()).collect())
                    } else {
                        Poll::Pending(format!("{h:?}"))
                    },
                )
            },
        )
        .await?;
        let members = found.map_err(|t| {
            SandboxError::Setup(format!(
                "the region is not healthy before the scenario (after {:?}): {}",
                opts.heal_timeout, t.last
            ))
        })?;
        Ok(Self {
            members,
            cluster_id: cluster_id(cluster).await,
            instances: crate::state::read_nodes().into_keys().collect(),
            since_secs: steadfast_core::clock::now_secs(),
            events_from: std::fs::metadata(&opts.events).map(|m| m.len()).unwrap_or(0),
        })
    }
}

/// When the region healed: every peer healthy as the member it was before (a renewed one as a
/// new voting member; after a restore, whoever the restore made), looked at every 100 ms (the
/// figure's resolution), and when the last replacement's node started (the restore target
/// counts from there). Both in ms after the fault.
#[derive(Debug, Default)]
struct Healed {
    healed_ms: Option<f64>,
    last_start_ms: Option<f64>,
}

async fn wait_healed(
    cluster: &Cluster,
    s: Scenario,
    before: &Before,
    injected: &Injected,
    load: &Load,
    fault_ms: f64,
    timeout: Duration,
) -> Result<Healed> {
    let last_start_ms: Mutex<Option<f64>> = Mutex::new(None);
    let healed = poll::until(timeout, Backoff::every(Duration::from_millis(100)), || async {
        if s.replaces_instances() && last_start_ms.lock().is_ok_and(|g| g.is_none()) {
            let nodes = crate::state::read_nodes();
            // Every peer replaced: a node runs on an instance that was not there before.
            let all_new = cluster.peers().all(|p| {
                nodes
                    .values()
                    .any(|n| n.peer == p.get() && !before.instances.contains(&n.instance_id))
            });
            if all_new {
                if let Ok(mut g) = last_start_ms.lock() {
                    *g = Some(load.now_ms() - fault_ms);
                }
            }
        }
        let h = health(cluster).await;
        // A restore rebuilds the membership from the stable URLs and the token: the members are
        // the cluster's first ones again (one healed since has a new id).
        let same = h.iter().filter(|p| p.is_leader()).count() == 1
            && h.iter()
                .zip(&before.members)
                .zip(cluster.peers())
                .all(|((p, m), peer)| {
                    p.healthy()
                        && if s.restores {
                            true
                        } else if injected.renewed.contains(&peer) {
                            p.member_id().is_some() && p.member_id() != *m
                        } else {
                            p.member_id() == *m
                        }
                });
        Ok::<_, SandboxError>(if same {
            Poll::Ready(load.now_ms() - fault_ms)
        } else {
            Poll::Pending("not all healthy as the same members".into())
        })
    })
    .await?;
    Ok(Healed {
        healed_ms: healed.ok(),
        last_start_ms: last_start_ms.lock().ok().and_then(|g| *g),
    })
}

/// What the judgement found beyond lost writes: violations fail the scenario, notes explain.
#[derive(Debug, Default)]
struct Judged {
    violations: Vec<String>,
    notes: Vec<String>,
    restored_from: Option<report::RestoredFrom>,
}

impl Judged {
    /// A second cluster (its id changed) fails any scenario.
    fn same_cluster(&mut self, before: Option<u64>, after: Option<u64>) {
        if let (Some(b), Some(a)) = (before, after) {
            if a != b {
                self.violations
                    .push(format!("the cluster id changed from {b:x} to {a:x}: a second cluster"));
            }
        }
    }

    /// What must have survived: every acknowledged write, or after a restore every write
    /// acknowledged at or before the restored snapshot's revision (and with a bump, those the
    /// restored cluster acknowledged). A restore plan where no restore belongs fails it.
    fn must_survive(&mut self, s: Scenario, orders: &[RestoreOrder], tally: &mut Tally) -> Vec<Ack> {
        // Every writer's: the direct ones' and the one's through the client endpoint.
        let every: Vec<Ack> = tally.acks.iter().chain(&tally.lb.acks).copied().collect();
        if !s.restores {
            if !orders.is_empty() {
                self.violations.push(format!(
                    "a restore was planned ({}) although volumes still held the data",
                    orders
                        .iter()
                        .map(|o| o.snapshot.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            return every;
        }
        let [o] = orders else {
            self.violations
                .push(format!("{} restore plans, not exactly one", orders.len()));
            return every;
        };
        tally.stale_after_restore(o);
        if let Some(b) = o.numbered_after() {
            // The load's last write (after all nine were healthy again) is numbered beyond the
            // bump.
            match tally.acks.iter().max_by(|a, c| a.end_ms.total_cmp(&c.end_ms)) {
                Some(last) if last.revision > b => {}
                Some(last) => self.violations.push(format!(
                    "the restored cluster's revisions did not move past {b} (snapshot {} + bump {}): the last write was at {}",
                    o.revision, o.bump_revision, last.revision
                )),
                None => self.violations.push("no write acknowledged at all".into()),
            }
        }
        self.restored_from = Some(report::RestoredFrom {
            snapshot: o.snapshot.clone(),
            revision: o.revision,
            writes_after: every.iter().filter(|a| !o.keeps(a.revision)).count() as u64,
            rolled_back: None,
        });
        every.into_iter().filter(|a| o.keeps(a.revision)).collect()
    }

    /// A restore on purpose rolls back: the writes acknowledged after its snapshot, before the
    /// operator ran it, are gone (their keys absent or older), or it restored nothing.
    async fn rolled_back(&mut self, cluster: &Cluster, prefix: &str, ran_ms: f64, tally: &Tally) {
        let Some(rf) = self.restored_from.as_mut() else {
            self.violations.push("no restore of the requested snapshot".into());
            return;
        };
        let rolled_back: Vec<Ack> = tally
            .acks
            .iter()
            .filter(|a| a.revision > rf.revision && a.end_ms < ran_ms)
            .copied()
            .collect();
        match lost_writes(cluster, prefix, &rolled_back).await {
            Ok(gone) if gone.len() == rolled_back.len() && !rolled_back.is_empty() => {
                rf.rolled_back = Some(gone.len() as u64);
            }
            Ok(gone) => self.violations.push(format!(
                "{} of the {} writes acknowledged after the restored snapshot are still there: nothing was rolled back",
                rolled_back.len() - gone.len(),
                rolled_back.len()
            )),
            Err(e) => self
                .notes
                .push(format!("the rolled-back writes could not be read: {e}")),
        }
    }
}

async fn run_one(cluster: &Cluster, s: Scenario, opts: &Options) -> Result<ScenarioReport> {
    let before = Before::look(cluster, opts).await?;
    let prefix = format!("chaos/{}/{}", s.name, chrono::Utc::now().timestamp_millis());
    let load = Load::start(cluster, &prefix);
    let marks = Marks::new(load.started);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_health(cluster.clone(), load.started, stop.clone());
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Fault.
    let fault_ms = load.now_ms();
    let ctx = Ctx {
        cluster,
        marks: &marks,
        settle: Settle {
            cluster: cluster.clone(),
            members: before.members.clone(),
            timeout: opts.heal_timeout,
        },
    };
    let injected = (s.inject)(&ctx).await;

    // Heal.
    let healed = match &injected {
        Ok(i) => wait_healed(cluster, s, &before, i, &load, fault_ms, opts.heal_timeout).await?,
        Err(_) => Healed::default(),
    };
    if healed.healed_ms.is_some() {
        marks.mark(match &injected {
            Ok(i) if !i.renewed.is_empty() => "all healthy, the wiped peer as a new member",
            _ => "all healthy, same members",
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let end_ms = load.now_ms();
    let mut tally = load.stop().await;
    stop.store(true, Ordering::SeqCst);
    let timeline = sampler.await.unwrap_or_default();

    // Read back and judge.
    let mut j = Judged::default();
    if let Err(e) = &injected {
        j.notes.push(format!("the scenario could not do its damage: {e}"));
    }
    j.same_cluster(before.cluster_id, cluster_id(cluster).await);
    let orders = verbs::restore_orders(cluster, before.since_secs)
        .await
        .unwrap_or_else(|e| {
            j.notes
                .push(format!("the bucket's restore plans could not be read: {e}"));
            vec![]
        });
    let must_survive = j.must_survive(s, &orders, &mut tally);
    let lost = match lost_writes(cluster, &prefix, &must_survive).await {
        Ok(l) => l,
        Err(e) => {
            j.notes
                .push(format!("the acknowledged writes could not be read back: {e}"));
            must_survive.iter().map(|a| a.seq).collect()
        }
    };
    if s.rolls_back {
        match injected.as_ref().ok().and_then(|i| i.restore_ran_ms) {
            Some(ran_ms) => j.rolled_back(cluster, &prefix, ran_ms, &tally).await,
            None => j.violations.push("the operator's restore never ran".into()),
        }
    }
    if let Some(first) = lost.first() {
        let key = traffic::write_key(&prefix, *first);
        j.notes.push(format!(
            "lost acknowledged writes, first: {:?}; {key} per member: {}",
            &lost[..lost.len().min(5)],
            traffic::whereabouts(cluster, &key).await.join(", ")
        ));
    }
    j.notes.extend(tally.stale_examples.iter().cloned());
    j.notes.extend(tally.late_examples.iter().cloned());
    if healed.healed_ms.is_none() {
        j.notes.push(format!(
            "not all peers healthy as the same members within {:?}",
            opts.heal_timeout
        ));
    }
    let latencies: Vec<f64> = tally.acks.iter().map(|a| a.end_ms - a.start_ms).collect();
    let client_endpoint = via_endpoint(&tally, &lost, fault_ms, end_ms);
    if client_endpoint.writes_acked == 0 {
        j.violations.push(format!(
            "nothing was acknowledged through the client endpoint {} ({} attempts; first failure: {})",
            cluster.client_endpoint(),
            client_endpoint.writes_attempted,
            client_endpoint.first_failure.as_deref().unwrap_or("none")
        ));
    }
    let first_election_ms = marks.first().and_then(|(_, wall)| {
        let t = elections::first_leader_after(&crate::state::state_dir().join("nodes"), wall)?;
        Some((t - wall).num_milliseconds() as f64)
    });
    let mut r = ScenarioReport {
        name: s.name.into(),
        writes_attempted: tally.attempts,
        writes_acked: tally.acks.len() as u64,
        writes_failed: tally.failed,
        writes_lost: lost.len() as u64,
        stale_reads: tally.stale_reads,
        late_writes: tally.late_writes,
        reads: tally.reads,
        max_write_gap_ms: longest_gap(&tally.acks, fault_ms, end_ms),
        write_p50_ms: percentile(&latencies, 50.0),
        write_p99_ms: percentile(&latencies, 99.0),
        time_to_healthy_ms: healed.healed_ms,
        first_election_ms,
        election_timeout_ms: opts.etcd_timing.election().as_secs_f64() * 1000.0,
        replacements: replacements(cluster, &opts.events, before.events_from),
        targets: Vec::new(),
        notes: j.notes,
        violations: j.violations,
        restored_from: j.restored_from,
        healthy_after_last_start_ms: match (healed.healed_ms, healed.last_start_ms) {
            (Some(h), Some(l)) => Some(h - l),
            _ => None,
        },
        client_endpoint: Some(client_endpoint),
        chart: None,
    };
    if s.loses_quorum {
        r.notes.push(if r.writes_failed == 0 {
            "writes never stopped although a majority was lost".to_string()
        } else {
            format!(
                "the documented limit: writes stopped ({} failed attempts, first error: {})",
                r.writes_failed,
                tally.failure_examples.first().cloned().unwrap_or_default()
            )
        });
    }
    r.targets = targets(s, &r, &opts.profile);
    explain_missed_gap(cluster, s, &mut r);
    if !r.passed() {
        match crate::evidence::keep(&opts.out_dir.join("evidence").join(s.name)) {
            Ok(dir) => r.notes.push(format!(
                "the event log and every node's log are kept in {}",
                dir.display()
            )),
            Err(e) => r.notes.push(format!("the logs could not be kept: {e}")),
        }
    }
    let file = format!("{}.svg", s.name);
    match chart::svg(&opts.out_dir.join(&file), &r, &tally.acks, &marks.all(), &timeline) {
        Ok(()) => r.chart = Some(file),
        Err(e) => r.notes.push(format!("no chart: {e}")),
    }
    Ok(r)
}

/// The writer through the client endpoint, from the tally and the lost sequence numbers.
fn via_endpoint(tally: &Tally, lost: &[u64], fault_ms: f64, end_ms: f64) -> report::ViaEndpoint {
    let lb = &tally.lb;
    let latencies: Vec<f64> = lb.acks.iter().map(|a| a.end_ms - a.start_ms).collect();
    report::ViaEndpoint {
        writes_attempted: lb.attempts,
        writes_acked: lb.acks.len() as u64,
        writes_failed: lb.failed,
        writes_lost: lb.acks.iter().filter(|a| lost.contains(&a.seq)).count() as u64,
        max_write_gap_ms: longest_gap(&lb.acks, fault_ms, end_ms),
        write_p50_ms: percentile(&latencies, 50.0),
        first_failure: lb.failure_examples.first().cloned(),
    }
}

/// A missed gap target measured in election timeouts: how much of the gap was etcd's election
/// and how much the clients' own timeout.
fn explain_missed_gap(cluster: &Cluster, s: Scenario, r: &mut ScenarioReport) {
    let missed = s
        .targets
        .iter()
        .zip(&r.targets)
        .find(|(spec, t)| matches!(spec.goal, Goal::GapElections(_)) && !t.met);
    let (Some(e), Some((_, t))) = (r.first_election_ms, missed) else {
        return;
    };
    let survivors = cluster.peer_count().saturating_sub(s.replacements(cluster));
    let why = format!(
        "MISSED ({:.0} > {:.0} ms): etcd elected the new leader {e:.0} ms after the fault \
         (each of the {survivors} survivors waits a random 1-2x the election timeout after the last heartbeat, \
         and {} of them must vote); the rest, {:.0} ms, is clients waiting out their {} ms timeout on \
         writes the survivors had forwarded to the dead leader",
        t.value,
        t.limit,
        cluster.quorum(),
        (t.value - e).max(0.0),
        traffic::CLIENT_TIMEOUT.as_millis()
    );
    r.notes.push(why);
}

/// The targets a scenario is judged on, from its spec, in this profile.
fn targets(s: Scenario, r: &ScenarioReport, profile: &Profile) -> Vec<Target> {
    s.targets
        .iter()
        .filter(|t| t.profile.is_none_or(|p| p == profile.name))
        .map(|t| {
            let (what, value, limit) = match t.goal {
                Goal::GapElections(x) => (
                    format!("longest write gap <= {x} x election timeout (ms)"),
                    r.max_write_gap_ms,
                    x * r.election_timeout_ms,
                ),
                Goal::GapUnderMs(ms) => (
                    format!("longest write gap < {ms:.0} ms"),
                    r.max_write_gap_ms,
                    ms - 0.001,
                ),
                Goal::BootstrapShareMs(ms) => (
                    "bootstrap's own share of the replacement (ms)".to_string(),
                    r.replacements
                        .first()
                        .and_then(|p| p.bootstrap_ms)
                        .unwrap_or(f64::INFINITY),
                    ms,
                ),
                Goal::HealthyMs(ms) => (
                    "all nine healthy, same members (ms)".to_string(),
                    r.time_to_healthy_ms.unwrap_or(f64::INFINITY),
                    ms,
                ),
                Goal::EndpointGapWithinMs(ms) => (
                    "client endpoint's gap less the direct writers' (ms)".to_string(),
                    r.client_endpoint
                        .as_ref()
                        .map_or(f64::INFINITY, |c| c.max_write_gap_ms - r.max_write_gap_ms),
                    ms,
                ),
                Goal::HealthyAfterLastStartMs(ms) => (
                    "restored and healthy after the last node started (ms)".to_string(),
                    r.healthy_after_last_start_ms.unwrap_or(f64::INFINITY),
                    ms,
                ),
            };
            Target {
                what,
                limit,
                value,
                met: value <= limit,
            }
        })
        .collect()
}

/// Every replacement the event log shows since byte `from`.
fn replacements(cluster: &Cluster, events: &Path, from: u64) -> Vec<Replacement> {
    let Ok(text) = std::fs::read(events) else { return vec![] };
    let evs = Logged::parse_all(&String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default()));
    plan_replacements(cluster, &evs)
}

/// The replacements in `evs` (the event log, read back), each split into its milestones.
pub fn plan_replacements(cluster: &Cluster, evs: &[Logged]) -> Vec<Replacement> {
    let mut out = Vec::new();
    for launched in evs {
        let Event::InstanceLaunched {
            peer,
            instance_id: id,
            ip,
            ..
        } = &launched.event
        else {
            continue;
        };
        let (t0, peer) = (launched.t_ms, *peer);
        // The first event at or after the launch that `pred` accepts, and when.
        let after =
            |pred: &dyn Fn(&Event) -> bool| -> Option<&Logged> { evs.iter().find(|e| e.t_ms >= t0 && pred(&e.event)) };
        let since = |e: Option<&Logged>| e.map(|e| e.t_ms - t0);
        let name = cluster
            .peer(peer)
            .map(|p| cluster.peer_record_name(p))
            .unwrap_or_default();
        let dns_ms = since(after(
            &|e| matches!(e, Event::RecordChanged { name: n, values, .. } if *n == name && values.iter().any(|v| v == ip)),
        ));
        let launch_ms = evs
            .iter()
            .filter(|e| matches!(&e.event, Event::InstanceTerminated { peer: p, .. } if *p == peer))
            .map(|e| e.t_ms)
            .rfind(|x| *x <= t0)
            .map(|x| t0 - x);
        // The node's log line for step `s` of this instance.
        let step_done = |s: Step| evs.iter().find(|e| e.t_ms >= t0 && e.node_step(s, id).is_some());
        let field = |s: Step, f: &str| {
            step_done(s)
                .and_then(|e| e.node_step(s, id))
                .and_then(|m| m.get(f)?.as_f64())
        };
        let steps = [
            Step::Attach,
            Step::Device,
            Step::Filesystem,
            Step::Mount,
            Step::Dns,
            Step::EnvFile,
            Step::Ready,
        ];
        // The attach step says how much of it was the old instance still holding the volume.
        let holder_ms = step_done(Step::Attach).map(|_| field(Step::Attach, "waited_ms").unwrap_or(0.0));
        let bootstrap_ms = steps
            .iter()
            .map(|s| field(*s, "elapsed_ms"))
            .sum::<Option<f64>>()
            .map(|b| b - holder_ms.unwrap_or(0.0));
        out.push(Replacement {
            peer,
            instance_id: id.clone(),
            launch_ms,
            dns_ms,
            attach_ms: since(after(
                &|e| matches!(e, Event::VolumeAttached { instance_id, .. } if instance_id == id),
            )),
            mount_ms: since(step_done(Step::Mount)),
            dns_wait_ms: since(step_done(Step::Dns)),
            catch_up_ms: since(step_done(Step::Ready)),
            hook_ms: since(step_done(Step::Lifecycle)),
            holder_ms,
            bootstrap_ms,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_replacement_is_split_from_the_event_log() {
        let c = crate::config::cluster().unwrap();
        let name = c.peer_record_name(c.peer(4).unwrap());
        let evs = vec![
            json!({"t_ms": 1000, "kind": "instance_terminated", "peer": 4, "instance_id": "i-old"}),
            json!({"t_ms": 1020, "kind": "instance_launched", "peer": 4, "instance_id": "i-new", "ip": "127.0.2.9", "asg": "local-peer-4"}),
            json!({"t_ms": 1100, "kind": "record_changed", "name": name, "values": ["127.0.2.9"]}),
            json!({"t_ms": 1150, "kind": "volume_attached", "volume_id": "v", "instance_id": "i-new"}),
            json!({"t_ms": 1200, "kind": "node.attach", "instance_id": "i-new", "elapsed_ms": 100, "waited_ms": 60}),
            json!({"t_ms": 1201, "kind": "node.device", "instance_id": "i-new", "elapsed_ms": 1}),
            json!({"t_ms": 1230, "kind": "node.filesystem", "instance_id": "i-new", "elapsed_ms": 29}),
            json!({"t_ms": 1233, "kind": "node.mount", "instance_id": "i-new", "elapsed_ms": 3}),
            json!({"t_ms": 1240, "kind": "node.dns", "instance_id": "i-new", "elapsed_ms": 7}),
            json!({"t_ms": 1241, "kind": "node.env-file", "instance_id": "i-new", "elapsed_ms": 1}),
            json!({"t_ms": 1400, "kind": "node.ready", "instance_id": "i-new", "elapsed_ms": 150}),
            json!({"t_ms": 1420, "kind": "node.lifecycle", "instance_id": "i-new"}),
        ];
        let evs: Vec<Logged> = evs.iter().map(|e| Logged::parse(&e.to_string()).unwrap()).collect();
        let r = plan_replacements(&c, &evs);
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!((r.peer, r.launch_ms, r.dns_ms), (4, Some(20.0), Some(80.0)));
        assert_eq!(
            (r.attach_ms, r.mount_ms, r.dns_wait_ms),
            (Some(130.0), Some(213.0), Some(220.0))
        );
        assert_eq!((r.catch_up_ms, r.hook_ms), (Some(380.0), Some(400.0)));
        // The node's steps add up to 291 ms, 60 of which the old instance held the volume.
        assert_eq!(r.holder_ms, Some(60.0));
        assert_eq!(r.bootstrap_ms, Some(231.0));
    }
}

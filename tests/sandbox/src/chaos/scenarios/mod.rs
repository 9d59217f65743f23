//! The scenarios, as data: one [`Spec`] per scenario in [`ALL`] (its name, what it does to the
//! region, what a healed region looks like after it, whether it is in `make test`'s subset, the
//! environment it needs, and the targets it is judged on), and its `inject` in a family file:
//! - [`kill`]: instances lost one way or another (etcd killed, one node, all, a majority, a
//!   stuck volume, a rolling replacement);
//! - [`zone`]: a zone lost, a zone plus one, a frozen zone, a zone lost while the APIs throttle;
//! - [`wipe`]: volumes lost (one, all, all but one blank while every node is down);
//! - [`restore`]: the operator's restore of a chosen snapshot;
//! - [`tls`]: certificates renewed and the CA rotated under load.
//!
//! The runner ([`super`]) is generic: it reads a spec's flags and the [`Injected`] facts an
//! inject returns, never a scenario's name. `sandbox chaos --help`, the CI subset and the e2e
//! suite's expectations are all read from [`ALL`]. A new scenario is a row here, a function in
//! its family's file, and a row in `docs/chaos.md`.

pub mod kill;
pub mod restore;
pub mod tls;
pub mod wipe;
pub mod zone;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use steadfast_core::poll::{self, Backoff, Poll};
use steadfast_core::{Cluster, PeerIndex};

use super::Marks;
use crate::error::{Result, SandboxError};
use crate::region::health::{health, leader};
use crate::region::verbs;

/// What an inject returns: its damage done (waiting for the recovery is the runner's, except
/// where the scenario is itself a sequence).
pub type Inject<'a> = Pin<Box<dyn Future<Output = Result<Injected>> + Send + 'a>>;

/// How many instances a scenario replaces (the same members come back on new instances).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaces {
    /// None: the instances stay (etcd killed, nodes frozen, certificates renewed).
    Nothing,
    /// This many peers.
    Peers(u32),
    /// Every peer.
    All,
}

/// A target a scenario is judged on; missed targets are printed as MISSED, never failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// The longest write gap is at most this many election timeouts.
    GapElections(f64),
    /// The longest write gap is under this many ms.
    GapUnderMs(f64),
    /// node-bootstrap's own share of the (first) replacement, in ms.
    BootstrapShareMs(f64),
    /// Every peer healthy, the same members, within this many ms of the fault.
    HealthyMs(f64),
    /// Every peer healthy within this many ms of the last replacement's node starting.
    HealthyAfterLastStartMs(f64),
    /// The longest gap of the writer through the client endpoint is at most this many ms longer
    /// than the direct writers'.
    EndpointGapWithinMs(f64),
}

/// A goal, in one profile or in every one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetSpec {
    pub goal: Goal,
    /// `Some("sandbox")`: only in that timing profile (an absolute figure of the stand-ins).
    pub profile: Option<&'static str>,
}

/// One scenario.
#[derive(Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    /// One line for `sandbox chaos --help` and the report.
    pub about: &'static str,
    pub needs_tls: bool,
    pub replaces: Replaces,
    /// Clients lose their quorum on purpose: writes are expected to stop.
    pub loses_quorum: bool,
    /// The cluster's data comes back from a snapshot: writes acknowledged after it are lost by
    /// design, every one before it must be there, and exactly one restore plan is made.
    pub restores: bool,
    /// A restore on purpose: the writes acknowledged after the restored snapshot and before the
    /// operator ran it must be gone (its inject says when that was).
    pub rolls_back: bool,
    /// In `make test`'s bounded subset (the rest run in `make chaos`).
    pub ci: bool,
    /// Environment variables the region needs for it (set for the whole run, unless set).
    pub env: &'static [(&'static str, &'static str)],
    pub targets: &'static [TargetSpec],
    pub inject: for<'a> fn(&'a Ctx<'a>) -> Inject<'a>,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec").field("name", &self.name).finish()
    }
}

impl PartialEq for Spec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// A scenario: one of [`ALL`].
pub type Scenario = &'static Spec;

const fn everywhere(goal: Goal) -> TargetSpec {
    TargetSpec { goal, profile: None }
}

const fn sandbox_only(goal: Goal) -> TargetSpec {
    TargetSpec {
        goal,
        profile: Some("sandbox"),
    }
}

/// Every scenario, in the order `sandbox chaos all` runs them.
pub const ALL: &[Spec] = &[
    Spec {
        name: "kill-leader",
        about: "kill -9 of the leader's etcd (its node restarts it)",
        needs_tls: false,
        replaces: Replaces::Nothing,
        loses_quorum: false,
        restores: false,
        rolls_back: false,
        ci: false,
        env: &[],
        targets: &[],
        inject: kill::leader_etcd,
    },
    Spec {
        name: "kill-one",
        about: "one node loses power and is terminated",
        needs_tls: false,
        replaces: Replaces::Peers(1),
        loses_quorum: false,
        restores: false,
        rolls_back: false,
        ci: false,
        env: &[],
        targets: &[sandbox_only(Goal::BootstrapShareMs(1000.0))],
        inject: kill::one,
    },
    Spec {
        name: "kill-zone",
        about: "a whole zone loses power (the leader's)",
        needs_tls: false,
        replaces: Replaces::Peers(3),
        loses_quorum: false,
        restores: false,
        rolls_back: false,
        ci: false,
        env: &[],
        targets: &[],
        inject: zone::whole,
    },
    Spec {
        name: "kill-zone-plus-one",
        about: "a zone and one more node lose power (4 of 9, the leader among them)",
        needs_tls: false,
        replaces: Replaces::Peers(4),
        loses_quorum: false,
        restores: false,
        rolls_back: false,
        ci: true,
        env: &[],
        targets: &[
            everywhere(Goal::GapElections(1.2)),
            sandbox_only(Goal::EndpointGapWithinMs(2000.0)),
        ],
        inject: zone::plus_one,
    },
    Spec {
        name: "kill-all",
        about: "every node loses power at once",
        needs_tls: false,
        replaces: Replaces::All,
        loses_quorum: true,
        restores: false,
        rolls_back: false,
        ci: true,
        env: &[],
        targets: &[sandbox_only(Goal::HealthyMs(5000.0))],
        inject: kill::all,
    },
    Spec {
        name: "freeze-zone",
        about: "a zone's nodes frozen (SIGSTOP) for 30 s, then thawed",
        needs_tls: false,
        replaces: Replaces::Nothing,
        loses_quorum: false,
        restores: false,
        rolls_back: false,
        ci: false,
        env: &[],
        targets: &[],
        inject: zone::freeze,
    },
    Spec {
        name: "stuck-volume",
        about: "a node dies and its volume stays attached: fenced, then force-detached",
        needs_tls: false,
        replaces: Replaces::Peers(1),
        loses_quorum: false,
        restores: false,
        rolls_back: false,
        ci: false,
        env: &[],
        targets: &[],
        inject: kill::stuck_volume,
    },
    Spec {
        name: "rolling-replace",
        about: "every instance replaced one at a time, the leader last after moving leadership",
        needs_tls: false,
        replaces: Replaces::All,
        loses_quorum: false,
        restores: false,
        rolls_back: false,
        ci: false,
        env: &[],
        targets: &[everywhere(Goal::GapUnderMs(500.0))],
        inject: kill::rolling,
    },
    Spec {
        name: "kill-majority",
        about: "a majority loses power: writes stop (the documented limit), and come back",
        needs_tls: false,
        replaces: Replaces::Peers(5),
        loses_quorum: true,
        restores: false,
        rolls_back: false,
        ci: false,
        env: &[],
        targets: &[],
        inject: kill::majority,
    },
    Spec {
        name: "api-throttle",
        about: "a zone lost while Route 53 and EC2 throttle 80% of calls for 60 s",
        needs_tls: false,
        replaces: Replaces::Peers(3),
        loses_quorum: false,
        restores: false,
        rolls_back: false,
        ci: false,
        env: &[],
        targets: &[],
        inject: zone::throttled,
    },
    Spec {
        name: "wipe-one",
        about: "a follower's volume wiped and its node lost: healed from the quorum as a learner",
        needs_tls: false,
        replaces: Replaces::Peers(1),
        loses_quorum: false,
        restores: false,
        rolls_back: false,
        ci: true,
        env: &[],
        targets: &[],
        inject: wipe::one,
    },
    Spec {
        name: "wipe-all",
        about: "every volume wiped and every node lost: restored from the newest verified snapshot",
        needs_tls: false,
        replaces: Replaces::All,
        loses_quorum: true,
        restores: true,
        rolls_back: false,
        ci: true,
        env: &[],
        targets: &[sandbox_only(Goal::HealthyAfterLastStartMs(60_000.0))],
        inject: wipe::all,
    },
    Spec {
        name: "split-brain",
        about: "every node down and one volume blank: never a restore, never a second cluster",
        needs_tls: false,
        replaces: Replaces::All,
        loses_quorum: true,
        restores: false,
        rolls_back: false,
        ci: true,
        env: &[],
        targets: &[],
        inject: wipe::all_but_one_blank,
    },
    Spec {
        name: "cert-renewal",
        about: "every peer's certificate renewed by its own timer under load (2-minute certificates)",
        needs_tls: true,
        replaces: Replaces::Nothing,
        loses_quorum: false,
        restores: false,
        rolls_back: false,
        ci: true,
        env: &[
            (steadfast_core::vocab::env::TLS_CERT_VALIDITY_SECS, "120"),
            (crate::config::SANDBOX_TLS_SECS, "15"),
        ],
        targets: &[],
        inject: tls::renewal,
    },
    Spec {
        name: "ca-rotation",
        about: "steadfast ca rotate in its three stops, clients taking the new bundle between them",
        needs_tls: true,
        replaces: Replaces::Nothing,
        loses_quorum: false,
        restores: false,
        rolls_back: false,
        ci: true,
        env: &[],
        targets: &[],
        inject: tls::rotation,
    },
    Spec {
        name: "restore-snapshot",
        about: "steadfast restore of a snapshot taken before more writes: those writes rolled back",
        needs_tls: false,
        replaces: Replaces::All,
        loses_quorum: true,
        restores: true,
        rolls_back: true,
        ci: true,
        env: &[],
        targets: &[],
        inject: restore::snapshot,
    },
];

/// The scenario named `s`; the error lists them all.
pub fn parse(s: &str) -> Result<Scenario> {
    ALL.iter().find(|sc| sc.name == s).ok_or_else(|| {
        SandboxError::Setup(format!(
            "unknown scenario {s:?}: use one of {} or all",
            names(ALL.iter()).join(", ")
        ))
    })
}

/// The scenarios of `make test`'s subset, in order.
pub fn ci_subset() -> Vec<Scenario> {
    ALL.iter().filter(|s| s.ci).collect()
}

/// Their names.
pub fn names<'a>(s: impl IntoIterator<Item = &'a Spec>) -> Vec<&'static str> {
    s.into_iter().map(|s| s.name).collect()
}

/// `sandbox chaos --help`'s list: one line per scenario, `[ci]` for the CI subset.
pub fn help() -> String {
    let width = ALL.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut out = String::from("Scenarios (or `all`), run in the order given; [ci]: in make test's subset:\n");
    for s in ALL {
        out.push_str(&format!(
            "  {:<width$}  {}{}\n",
            s.name,
            s.about,
            if s.ci { " [ci]" } else { "" }
        ));
    }
    out
}

impl Spec {
    /// Whether instances are replaced.
    pub fn replaces_instances(&self) -> bool {
        self.replaces != Replaces::Nothing
    }

    /// How many replacements the event log must show at least.
    pub fn replacements(&self, cluster: &Cluster) -> u32 {
        match self.replaces {
            Replaces::Nothing => 0,
            Replaces::Peers(n) => n,
            Replaces::All => cluster.peer_count(),
        }
    }
}

/// What an inject found out while doing its damage, for the runner to judge by.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Injected {
    /// Peers whose members come back as new members (a wiped peer healed from the quorum is
    /// removed and added back: a new member id).
    pub renewed: Vec<PeerIndex>,
    /// A restore on purpose: when (ms on the load's clock) the operator ran it. Every write
    /// acknowledged after the restored snapshot and before then must be gone.
    pub restore_ran_ms: Option<f64>,
}

/// What an inject works with.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub cluster: &'a Cluster,
    pub marks: &'a Marks,
    pub settle: Settle,
}

/// A zone's peers, plus `extra` peers of other zones, the leader among them when it can be.
async fn zone_plus(cluster: &Cluster, zone: u32, extra: usize) -> Vec<PeerIndex> {
    let lead = leader(cluster).await;
    // The zone is the leader's when there is one, so the leader is always among the victims.
    let zone = lead.map(|l| cluster.zone_of(l)).unwrap_or(zone);
    let mut v = cluster.peers_in_zone(zone);
    for p in cluster.peers().filter(|p| cluster.zone_of(*p) != zone).take(extra) {
        v.push(p);
    }
    v
}

/// Terminates every peer of `peers`; the instance ids that were terminated, in order. `hard`:
/// all of them lose power at the same instant first, as a zone does (the mark is that instant),
/// and the cloud learns of it afterwards; otherwise each shuts down cleanly. The terminations go
/// out together, as each group notices its own instance independently.
async fn terminate_all(peers: &[PeerIndex], hard: bool, marks: &Marks) -> Result<Vec<String>> {
    let names: Vec<String> = peers.iter().map(|p| format!("peer-{p}")).collect();
    if hard {
        for p in peers {
            verbs::power_off(*p)?;
        }
        marks.mark(&format!("power off {}", names.join(" ")));
    }
    let ids = futures::future::try_join_all(peers.iter().map(|p| verbs::terminate(*p))).await?;
    if !hard {
        marks.mark(&format!("terminate {}", names.join(" ")));
    }
    Ok(ids)
}

/// The leader, or an error saying there is none.
async fn the_leader(cluster: &Cluster) -> Result<PeerIndex> {
    leader(cluster)
        .await
        .ok_or_else(|| SandboxError::Setup("no leader".into()))
}

/// The peer a wipe scenario takes the data of: a follower, so the heal is not also an election.
async fn a_follower(cluster: &Cluster) -> Result<PeerIndex> {
    let lead = leader(cluster).await;
    cluster
        .peers()
        .filter(|p| Some(*p) != lead)
        .last()
        .ok_or_else(|| SandboxError::Setup("no follower".into()))
}

/// Waits until the region has settled after one step of a multi-step scenario.
#[derive(Debug)]
pub struct Settle {
    pub cluster: Cluster,
    pub members: Vec<Option<u64>>,
    pub timeout: Duration,
}

impl Settle {
    /// Until a node other than instance `old` serves `peer` and every peer is healthy as its
    /// original member. False when the timeout came first.
    pub async fn replaced(&self, peer: PeerIndex, old: &str) -> bool {
        let settled = poll::until(self.timeout, Backoff::every(Duration::from_millis(200)), || async {
            let moved = verbs::node(peer).is_ok_and(|n| n.instance_id != old);
            Ok::<_, std::convert::Infallible>(if !moved {
                Poll::Pending(format!("{old} still serves peer {peer}"))
            } else if self.all_original().await {
                Poll::Ready(())
            } else {
                Poll::Pending("not every peer is healthy as its original member".into())
            })
        })
        .await;
        matches!(settled, Ok(Ok(())))
    }

    async fn all_original(&self) -> bool {
        let h = health(&self.cluster).await;
        h.iter()
            .zip(&self.members)
            .all(|(p, m)| p.healthy() && p.member_id() == *m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_one_parses_back() {
        let mut seen = std::collections::BTreeSet::new();
        for s in ALL {
            assert!(seen.insert(s.name), "{} twice", s.name);
            assert_eq!(parse(s.name).unwrap(), s);
            assert!(help().contains(s.name));
        }
        assert!(parse("kill-everything")
            .unwrap_err()
            .to_string()
            .contains("kill-zone-plus-one"));
    }

    #[test]
    fn flags_agree_with_each_other() {
        let c = crate::config::cluster().unwrap();
        for s in ALL {
            // Only a restore rolls back.
            if s.rolls_back {
                assert!(s.restores, "{}", s.name);
            }
            // A restore replaces every instance and stops writes on the way.
            if s.restores {
                assert!(s.loses_quorum && s.replaces == Replaces::All, "{}", s.name);
            }
            // A scenario that keeps every instance cannot lose a quorum by terminating.
            if s.replaces == Replaces::Nothing {
                assert!(!s.loses_quorum, "{}", s.name);
            }
            assert!(s.replacements(&c) <= c.peer_count(), "{}", s.name);
            for (var, _) in s.env {
                assert!(var.starts_with("STEADFAST_"), "{}: {var}", s.name);
            }
        }
        assert!(ci_subset().iter().any(|s| s.name == "kill-zone-plus-one"));
        assert!(ci_subset().iter().all(|s| s.ci));
    }
}

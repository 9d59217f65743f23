//! The scenarios, by the names the report uses, and what each one does to the region.

use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::json;
use steadfast_core::poll::{self, Backoff, Poll};
use steadfast_core::{Cluster, PeerIndex};

use super::faults::{self, health, leader};
use super::Marks;
use crate::error::{Result, SandboxError};

/// The mark `restore-snapshot` sets as it runs `steadfast restore`: writes acknowledged after
/// the snapshot and before it must be gone.
pub const RESTORE_MARK: &str = "steadfast restore --snapshot";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    KillLeader,
    KillOne,
    KillZone,
    KillZonePlusOne,
    KillAll,
    FreezeZone,
    StuckVolume,
    RollingReplace,
    KillMajority,
    ApiThrottle,
    WipeOne,
    WipeAll,
    SplitBrain,
    CertRenewal,
    CaRotation,
    RestoreSnapshot,
}

impl Scenario {
    pub const ALL: [Scenario; 16] = [
        Scenario::KillLeader,
        Scenario::KillOne,
        Scenario::KillZone,
        Scenario::KillZonePlusOne,
        Scenario::KillAll,
        Scenario::FreezeZone,
        Scenario::StuckVolume,
        Scenario::RollingReplace,
        Scenario::KillMajority,
        Scenario::ApiThrottle,
        Scenario::WipeOne,
        Scenario::WipeAll,
        Scenario::SplitBrain,
        Scenario::CertRenewal,
        Scenario::CaRotation,
        Scenario::RestoreSnapshot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::KillLeader => "kill-leader",
            Scenario::KillOne => "kill-one",
            Scenario::KillZone => "kill-zone",
            Scenario::KillZonePlusOne => "kill-zone-plus-one",
            Scenario::KillAll => "kill-all",
            Scenario::FreezeZone => "freeze-zone",
            Scenario::StuckVolume => "stuck-volume",
            Scenario::RollingReplace => "rolling-replace",
            Scenario::KillMajority => "kill-majority",
            Scenario::ApiThrottle => "api-throttle",
            Scenario::WipeOne => "wipe-one",
            Scenario::WipeAll => "wipe-all",
            Scenario::SplitBrain => "split-brain",
            Scenario::CertRenewal => "cert-renewal",
            Scenario::CaRotation => "ca-rotation",
            Scenario::RestoreSnapshot => "restore-snapshot",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|sc| sc.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
            SandboxError::Setup(format!(
                "unknown scenario {s:?}: use one of {} or all",
                names.join(", ")
            ))
        })
    }

    /// Whether instances are replaced (the same members must come back on new instances).
    pub fn replaces(self) -> bool {
        !matches!(
            self,
            Scenario::KillLeader | Scenario::FreezeZone | Scenario::CertRenewal | Scenario::CaRotation
        )
    }

    /// Whether the scenario needs the region to talk TLS.
    pub fn needs_tls(self) -> bool {
        matches!(self, Scenario::CertRenewal | Scenario::CaRotation)
    }

    /// Whether clients lose their quorum on purpose (writes are expected to stop).
    pub fn loses_quorum(self) -> bool {
        matches!(
            self,
            Scenario::KillAll
                | Scenario::KillMajority
                | Scenario::WipeAll
                | Scenario::SplitBrain
                | Scenario::RestoreSnapshot
        )
    }

    /// Whether the cluster's data comes back from a snapshot (writes acknowledged after it are
    /// lost by design; every one acknowledged before it must be there).
    pub fn restores(self) -> bool {
        matches!(self, Scenario::WipeAll | Scenario::RestoreSnapshot)
    }
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
            faults::power_off(*p)?;
        }
        marks.mark(&format!("power off {}", names.join(" ")));
    }
    let ids = futures::future::try_join_all(peers.iter().map(|p| faults::terminate(*p))).await?;
    if !hard {
        marks.mark(&format!("terminate {}", names.join(" ")));
    }
    Ok(ids)
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

/// Does the scenario's damage. Waiting for the recovery is the caller's, except where the
/// scenario itself is a sequence (freeze then thaw; the rolling replacement). Returns the peers
/// whose members come back as new members (a wiped peer healed from the quorum is removed and
/// added back: a new member id).
pub async fn inject(
    s: Scenario,
    cluster: &Cluster,
    marks: &Marks,
    settle: impl Fn() -> Settle,
) -> Result<Vec<PeerIndex>> {
    match s {
        Scenario::CertRenewal => {
            // Every peer's certificate replaced by its own TLS timer (the region runs with a
            // short validity for this: see `sandbox chaos`), while the load runs.
            let before = serials(cluster)?;
            let renewed = poll::until(settle().timeout, Backoff::every(Duration::from_millis(500)), || async {
                let now = serials(cluster)?;
                let left: Vec<String> = now
                    .iter()
                    .zip(&before)
                    .filter(|(n, b)| n == b)
                    .map(|(n, _)| n.0.to_string())
                    .collect();
                Ok::<_, SandboxError>(if left.is_empty() {
                    Poll::Ready(())
                } else {
                    Poll::Pending(format!("not yet renewed: peer {}", left.join(", ")))
                })
            })
            .await?;
            renewed.map_err(|t| SandboxError::Setup(format!("certificates not renewed in time: {}", t.last)))?;
            marks.mark("every peer's certificate renewed");
        }
        Scenario::CaRotation => {
            // `steadfast ca rotate`, as an operator runs it, in its three stops. Between them
            // the load's clients do what an application's operator must: take the new bundle
            // once both CAs are trusted, and a certificate from the new CA before the old one
            // is dropped.
            let op = crate::operator::current().await?;
            faults::ca_rotate(cluster, "trust-both").await?;
            marks.mark("every peer trusts both CAs");
            op.refresh().await?;
            faults::ca_rotate(cluster, "reissued").await?;
            marks.mark("every certificate is from the new CA");
            op.refresh().await?;
            faults::ca_rotate(cluster, "done").await?;
            marks.mark("the old CA is dropped");
        }
        Scenario::WipeOne => {
            let p = a_follower(cluster).await?;
            let v = faults::wipe(cluster, p).await?;
            terminate_all(&[p], true, marks).await?;
            marks.mark(&format!("peer-{p}'s volume {v} wiped"));
            return Ok(vec![p]);
        }
        Scenario::WipeAll => {
            let lead = leader(cluster)
                .await
                .ok_or_else(|| SandboxError::Setup("no leader".into()))?;
            let taken = taken(faults::backup_now(lead).await?)?;
            marks.mark(&format!("snapshot at revision {}", taken.revision));
            let all: Vec<PeerIndex> = cluster.peers().collect();
            for p in &all {
                faults::wipe(cluster, *p).await?;
            }
            terminate_all(&all, true, marks).await?;
            marks.mark("every volume wiped");
        }
        Scenario::RestoreSnapshot => {
            // A point-in-time restore on purpose, as an operator runs it: a snapshot now, more
            // writes, then `steadfast restore --snapshot <it> --yes`. The writes after the
            // snapshot must be gone, every one before it there.
            let lead = leader(cluster)
                .await
                .ok_or_else(|| SandboxError::Setup("no leader".into()))?;
            let taken = taken(faults::backup_now(lead).await?)?;
            let key = taken.key;
            marks.mark(&format!("snapshot at revision {}", taken.revision));
            tokio::time::sleep(Duration::from_secs(5)).await;
            marks.mark(RESTORE_MARK);
            faults::steadfast(
                cluster,
                &["restore", "--snapshot", &key, "--yes", "--timeout-secs", "600"],
            )
            .await?;
            marks.mark("steadfast restore done");
        }
        Scenario::SplitBrain => {
            // Every node down, one volume blank: the other eight hold the data and must form the
            // cluster; the blank one must wait and join, never restore, never bootstrap.
            let p = a_follower(cluster).await?;
            faults::wipe(cluster, p).await?;
            terminate_all(&cluster.peers().collect::<Vec<_>>(), true, marks).await?;
            marks.mark(&format!("all down, peer-{p}'s volume wiped"));
            return Ok(vec![p]);
        }
        Scenario::KillLeader => {
            let l = leader(cluster)
                .await
                .ok_or_else(|| SandboxError::Setup("no leader".into()))?;
            faults::kill_etcd(l)?;
            marks.mark(&format!("kill -9 etcd of peer-{l} (leader)"));
        }
        Scenario::KillOne => {
            let p = cluster.peer(4)?;
            terminate_all(&[p], true, marks).await?;
        }
        Scenario::KillZone => {
            terminate_all(&zone_plus(cluster, 0, 0).await, true, marks).await?;
        }
        Scenario::KillZonePlusOne => {
            terminate_all(&zone_plus(cluster, 0, 1).await, true, marks).await?;
        }
        Scenario::KillAll => {
            terminate_all(&cluster.peers().collect::<Vec<_>>(), true, marks).await?;
        }
        Scenario::KillMajority => {
            let n = cluster.quorum() as usize;
            let peers = zone_plus(cluster, 0, n.saturating_sub(cluster.peers_in_zone(0).len())).await;
            terminate_all(&peers[..n.min(peers.len())], true, marks).await?;
        }
        Scenario::FreezeZone => {
            let zone = zone_plus(cluster, 1, 0).await;
            for p in &zone {
                faults::signal_node(*p, Signal::SIGSTOP)?;
            }
            marks.mark("SIGSTOP zone");
            tokio::time::sleep(Duration::from_secs(30)).await;
            for p in &zone {
                faults::signal_node(*p, Signal::SIGCONT)?;
            }
            marks.mark("SIGCONT zone");
        }
        Scenario::StuckVolume => {
            // The instance dies and its volume stays attached to it: the fence waits out the
            // grace period, then force-detaches.
            faults::moto_admin("config", &json!({"keep_volumes_on_terminate": true})).await?;
            let p = cluster.peer(2)?;
            let r = terminate_all(&[p], true, marks).await;
            if let Ok(ids) = &r {
                settle().replaced(p, &ids[0]).await;
            }
            faults::moto_admin("config", &json!({"keep_volumes_on_terminate": false})).await?;
            r?;
        }
        Scenario::RollingReplace => {
            // One at a time, as an instance refresh would; the leader last, after moving the
            // leadership away from it. Each replacement must be healthy before the next.
            let lead = leader(cluster)
                .await
                .ok_or_else(|| SandboxError::Setup("no leader".into()))?;
            let mut order: Vec<PeerIndex> = cluster.peers().filter(|p| *p != lead).collect();
            order.push(lead);
            for p in order {
                if leader(cluster).await == Some(p) {
                    let to = cluster.peers().find(|q| *q != p).unwrap_or(p);
                    faults::move_leader(cluster, to).await?;
                    marks.mark(&format!("move leader to peer-{to}"));
                }
                let ids = terminate_all(&[p], false, marks).await?;
                // Settled means replaced: a new instance holds the slot and every peer is its
                // original member again. Waiting only for "all healthy" returns at once, before
                // the group has even noticed, and the next terminate would take two down.
                if !settle().replaced(p, &ids[0]).await {
                    return Err(SandboxError::Setup(format!(
                        "peer-{p} was not replaced and healthy within the settle timeout"
                    )));
                }
                marks.mark(&format!("peer-{p} replaced"));
            }
        }
        Scenario::ApiThrottle => {
            faults::moto_admin(
                "faults",
                &json!({"throttle": {"route53": 0.8, "ec2": 0.8}, "seconds": 60,
                        "exempt_access_keys": [crate::config::SUPERVISOR_KEY]}),
            )
            .await?;
            marks.mark("Route 53 and EC2 throttle 80% of calls for 60 s");
            terminate_all(&zone_plus(cluster, 2, 0).await, true, marks).await?;
        }
    }
    Ok(vec![])
}

/// The snapshot an on-demand backup took (it always takes one, or fails).
fn taken(r: steadfast_core::report::BackupReport) -> Result<steadfast_core::backup::Manifest> {
    r.taken
        .ok_or_else(|| SandboxError::Setup(format!("the on-demand backup took no snapshot: {:?}", r.skipped)))
}

/// Every peer's certificate serial, as its node's TLS directory holds it.
fn serials(cluster: &Cluster) -> Result<Vec<(u32, String)>> {
    cluster
        .peers()
        .map(|p| {
            let n = faults::node(p)?;
            let pem = std::fs::read_to_string(n.root.join("tls/peer.pem"))
                .map_err(SandboxError::io(format!("peer-{p}'s certificate")))?;
            let info = steadfast_core::tls::CertInfo::parse(&pem)
                .map_err(|e| SandboxError::Setup(format!("peer-{p}'s certificate: {e}")))?;
            Ok((p.get(), info.serial))
        })
        .collect()
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
            let moved = faults::node(peer).is_ok_and(|n| n.instance_id != old);
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

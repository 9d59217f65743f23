//! Readiness is real health (DESIGN decision 5): the local member answers, knows a leader,
//! serves a linearizable read, and has applied at least the leader's commit index as it was
//! when we started looking. Cluster alarms (NOSPACE) are logged loudly but do not block it: they
//! are the cluster's, not this member's. Only then is the lifecycle action completed
//! ([`crate::lifecycle`]).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use steadfast_core::etcd::{keys, probe, probe_url, Access, EtcdError};
use steadfast_core::poll::{self, Backoff, Poll};
use steadfast_core::vocab::Step;
use tracing::info;

use crate::error::{BootstrapError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub member_id: u64,
    pub leader: u64,
    pub applied_index: u64,
    pub target_index: u64,
    pub revision: i64,
}

/// One look at the member at `ip`. `target` is the leader index to catch up to, fixed at the
/// first look that saw a leader.
async fn look(
    access: &Access,
    ip: Ipv4Addr,
    target: &mut Option<u64>,
    timeout: Duration,
) -> std::result::Result<Readiness, String> {
    let endpoint = access.local_url(ip);
    let mut local = access
        .connect(std::slice::from_ref(&endpoint), timeout)
        .await
        .map_err(|e| e.to_string())?;
    let st = probe(&mut local, false).await.map_err(|e| e.to_string())?;
    if !st.alarms.is_empty() {
        // A cluster-wide alarm (NOSPACE above all) is the operator's to clear; this member can
        // still be healthy and caught up, and refusing readiness would only churn replacements.
        tracing::warn!(during = %Step::Ready, errors = ?st.alarms,
            "the cluster reports alarms; readiness is this member's own health, so it goes on");
    }
    if st.leader == 0 {
        return Err("member knows no leader".into());
    }
    let member_id = st.id;
    if target.is_none() {
        let idx = if st.leader == member_id {
            st.raft_index
        } else {
            let members = local
                .member_list()
                .await
                .map_err(|e| EtcdError::call("member list")(e).to_string())?;
            let leader = members
                .members()
                .iter()
                .find(|m| m.id() == st.leader)
                .ok_or_else(|| format!("leader {:x} is not in the member list", st.leader))?;
            let url = leader
                .client_urls()
                .first()
                .ok_or_else(|| format!("leader {} publishes no client URL", leader.name()))?;
            probe_url(access, url, timeout, false)
                .await
                .map_err(|e| format!("leader: {e}"))?
                .raft_index
        };
        *target = Some(idx);
    }
    let target_index = target.unwrap_or_default();
    note_applied(st.raft_applied_index);
    // A linearizable read goes through the leader: it proves the member serves.
    let read = local
        .get(keys::READY_PROBE, None)
        .await
        .map_err(|e| EtcdError::call("linearizable read")(e).to_string())?;
    let revision = read.header().map(|h| h.revision()).unwrap_or_default();
    let st = probe(&mut local, false).await.map_err(|e| e.to_string())?;
    if st.raft_applied_index < target_index {
        return Err(format!(
            "applied index {} is behind the leader's {target_index}",
            st.raft_applied_index
        ));
    }
    Ok(Readiness {
        member_id,
        leader: st.leader,
        applied_index: st.raft_applied_index,
        target_index,
        revision,
    })
}

/// A member that applies more of the log is getting somewhere (a long catch-up is progress).
fn note_applied(index: u64) {
    static BEST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if BEST.fetch_max(index, std::sync::atomic::Ordering::Relaxed) < index {
        crate::progress::moved("etcd applied more of the log");
    }
}

/// Waits until the local member is healthy and caught up, up to `deadline`.
pub async fn wait_ready(access: &Access, ip: Ipv4Addr, deadline: Duration) -> Result<Readiness> {
    let start = Instant::now();
    let target = std::sync::Mutex::new(None);
    let outcome = poll::until(
        deadline,
        // Looks at the local member cost a few local calls; 100 ms apart at most, so a member that
        // caught up is seen within that (a 500 ms cap cost up to 400 ms of every replacement).
        Backoff::new(Duration::from_millis(50), Duration::from_millis(100)),
        || async {
            let remaining = deadline.saturating_sub(start.elapsed());
            let per_call = remaining.clamp(Duration::from_millis(100), Duration::from_secs(2));
            let mut t = target.lock().map(|g| *g).unwrap_or_default();
            let r = look(access, ip, &mut t, per_call).await;
            if let Ok(mut g) = target.lock() {
                *g = t;
            }
            Ok::<_, BootstrapError>(match r {
                Ok(r) => Poll::Ready(r),
                Err(e) => {
                    tracing::debug!(during = %Step::Ready, reason = %e, "not ready yet");
                    crate::progress::waiting(&format!("etcd becoming healthy and caught up: {e}"));
                    Poll::Pending(e)
                }
            })
        },
    )
    .await?;
    let r = outcome.map_err(|t| BootstrapError::Timeout {
        what: "etcd becoming healthy and caught up",
        secs: deadline.as_secs(),
        detail: t.last,
    })?;
    info!(
        step = %Step::Ready,
        member_id = format!("{:x}", r.member_id),
        leader = format!("{:x}", r.leader),
        applied_index = r.applied_index,
        target_index = r.target_index,
        revision = r.revision,
        elapsed_ms = start.elapsed().as_millis() as u64,
        "etcd member healthy and caught up"
    );
    Ok(r)
}

/// The local member is a learner (it joined with a fresh data dir): wait until it has applied
/// what the leader had committed when we first looked, then promote it through the voting
/// members at `endpoints` (etcd refuses to promote a learner that is not in sync; that is
/// looked at again). Returns the member id, or `None` when the member is no learner.
pub async fn promote_if_learner(
    access: &Access,
    ip: Ipv4Addr,
    endpoints: &[String],
    deadline: Duration,
) -> Result<Option<u64>> {
    let start = Instant::now();
    let target = std::sync::Mutex::new(None::<u64>);
    let outcome = poll::until(
        deadline,
        Backoff::new(Duration::from_millis(50), Duration::from_millis(200)),
        || async {
            let per_call = Duration::from_secs(2);
            let look = async {
                let e = |e: EtcdError| e.to_string();
                let mut local = access.connect(&[access.local_url(ip)], per_call).await.map_err(e)?;
                let st = probe(&mut local, false).await.map_err(e)?;
                let id = st.id;
                if !st.learner {
                    return Ok(Some(Poll::Ready(None)));
                }
                let mut voters = access.connect(endpoints, per_call).await.map_err(e)?;
                let known = target.lock().map(|g| *g).unwrap_or_default();
                let want = match known {
                    Some(t) => t,
                    None => {
                        let t = probe(&mut voters, false).await.map_err(e)?.raft_index;
                        if let Ok(mut g) = target.lock() {
                            *g = Some(t);
                        }
                        t
                    }
                };
                note_applied(st.raft_applied_index);
                if st.raft_applied_index < want {
                    return Err(format!(
                        "learner applied {} of the leader's {want}",
                        st.raft_applied_index
                    ));
                }
                voters
                    .member_promote(id)
                    .await
                    .map_err(|err| e(EtcdError::call(format!("promote {id:x}"))(err)))?;
                info!(step = %Step::Promote, member = format!("{id:x}"), applied_index = st.raft_applied_index,
                target_index = want, elapsed_ms = start.elapsed().as_millis() as u64, "learner caught up and promoted");
                Ok::<_, String>(Some(Poll::Ready(Some(id))))
            };
            Ok::<_, BootstrapError>(match look.await {
                Ok(Some(p)) => p,
                Ok(None) => Poll::Pending("no answer".into()),
                Err(e) => {
                    tracing::debug!(during = %Step::Promote, reason = %e, "not promoted yet");
                    crate::progress::waiting(&format!("the learner catching up: {e}"));
                    Poll::Pending(e)
                }
            })
        },
    )
    .await?;
    outcome.map_err(|t| BootstrapError::Timeout {
        what: "the learner catching up and being promoted",
        secs: deadline.as_secs(),
        detail: t.last,
    })
}

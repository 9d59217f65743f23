//! The node's side of the launch lifecycle action, and how it meets failure (DESIGN decision
//! 9): transient trouble is retried on the node while a heartbeat keeps the action alive;
//! ABANDON only when another instance could help; a refusal that a new instance would only
//! repeat keeps this instance, raises the `BootstrapRefused` metric and leaves the hook to time
//! out once. An instance already in service (a reboot) has no action to complete.

use std::future::Future;
use std::time::{Duration, Instant};

use steadfast_core::aws::{Groups, Instances, LifecycleResult, Metric, Metrics, Objects, Secrets, Volumes};
use steadfast_core::poll::{self, Backoff, Poll};
use steadfast_core::vocab::{metrics, Step, TAG_ASG_NAME, TAG_BLANK, TAG_JOINED};
use tracing::{error, info, warn};

use crate::config::NodeConfig;
use crate::error::{BootstrapError, Disposition, Result};
use crate::identity::{self, Identity};
use crate::prepare::{self, PrepareReport};
use crate::progress::{self, plan_wait, Phase, Wait};
use crate::ready::{self, Readiness};
use crate::recovery::{Handoff, Recovered};
use crate::tls;
use steadfast_core::etcd::Access;

/// This instance's launch action, while it waits on it.
#[derive(Debug, Clone)]
pub struct Hook {
    pub name: String,
    pub group: String,
    pub instance_id: String,
}

impl Hook {
    /// The action to keep alive and complete: `None` without a configured hook, or when the
    /// instance is not waiting on it (already in service: a reboot).
    pub async fn pending<G: Groups, I: Instances>(
        groups: &G,
        instances: &I,
        cfg: &NodeConfig,
        id: &Identity,
    ) -> Result<Option<Hook>> {
        let Some(name) = cfg.lifecycle_hook.clone() else {
            return Ok(None);
        };
        let found = instances
            .describe_instances(std::slice::from_ref(&id.instance_id))
            .await?;
        let group = found
            .iter()
            .find(|i| i.instance_id == id.instance_id)
            .and_then(|i| i.tags.get(TAG_ASG_NAME).map(str::to_string))
            .ok_or_else(|| BootstrapError::MissingTag {
                instance: id.instance_id.clone(),
                tag: TAG_ASG_NAME,
            })?;
        let state = groups
            .describe_groups(std::slice::from_ref(&group))
            .await?
            .iter()
            .flat_map(|g| g.instances.iter())
            .find(|i| i.instance_id == id.instance_id)
            .map(|i| i.lifecycle_state.clone());
        match state {
            Some(s) if s.is_waiting_for_launch_hook() => Ok(Some(Hook {
                name,
                group,
                instance_id: id.instance_id.clone(),
            })),
            other => {
                let state = other
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "not in its group".into());
                info!(during = %Step::Lifecycle, group = %group, hook = %name, state = %state,
                    "the instance is not waiting on its launch action (a reboot?): nothing to heartbeat or complete");
                Ok(None)
            }
        }
    }

    pub async fn heartbeat<G: Groups>(&self, groups: &G) -> Result<()> {
        groups
            .record_lifecycle_heartbeat(&self.group, &self.name, &self.instance_id)
            .await?;
        info!(step = %Step::Heartbeat, group = %self.group, hook = %self.name, "lifecycle action kept alive");
        Ok(())
    }

    /// Completes the action. An action that is gone meanwhile (it timed out) is logged, not an
    /// error: there is nothing left to complete.
    pub async fn complete<G: Groups>(&self, groups: &G, result: LifecycleResult) -> Result<()> {
        match groups
            .complete_lifecycle_action(&self.group, &self.name, &self.instance_id, result)
            .await
        {
            Ok(()) => {
                info!(step = %Step::Lifecycle, group = %self.group, hook = %self.name, instance = %self.instance_id,
                    result = result.as_str(), "lifecycle action completed");
                Ok(())
            }
            Err(e) if e.aws_code() == Some("ValidationError") => {
                warn!(during = %Step::Lifecycle, group = %self.group, hook = %self.name, error = %e,
                    "no lifecycle action left to complete");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Runs `work`, and every third of `hook_timeout` asks [`plan_wait`] (with `stall_after`, the
/// stall bound) what to do with the action:
/// a heartbeat while the node moves on (a failed heartbeat is logged: the next one may pass);
/// without progress, in `prepare`, `work` is dropped and `Err(why)` says what it waited on (the
/// caller abandons); in `ready`, the heartbeats stop, said once, and `work` goes on.
pub async fn heartbeating<G: Groups, T>(
    groups: &G,
    hook: Option<&Hook>,
    phase: Phase,
    hook_timeout: Duration,
    stall_after: Duration,
    work: impl Future<Output = T>,
) -> std::result::Result<T, String> {
    let Some(hook) = hook else { return Ok(work.await) };
    let every = hook_timeout / 3;
    let mut work = std::pin::pin!(work);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut beating = true;
    loop {
        tokio::select! {
            done = &mut work => return Ok(done),
            _ = tick.tick(), if beating => {
                let (stalled, waiting_on) = progress::stalled();
                match plan_wait(phase, stalled, stall_after, &waiting_on) {
                    Wait::KeepAlive => {
                        if let Err(e) = hook.heartbeat(groups).await {
                            warn!(during = %Step::Heartbeat, error = %e, "heartbeat failed");
                        }
                    }
                    Wait::Abandon { why } => return Err(why),
                    Wait::LetRunOut { why } => {
                        warn!(during = %Step::Heartbeat, reason = %why,
                            "no more heartbeats: the lifecycle hook's default result applies at its timeout; etcd goes on and joins when it can");
                        beating = false;
                    }
                }
            }
        }
    }
}

/// `prepare`, retried while its failures are transient and its deadline allows, with the
/// action heartbeated meanwhile. On a refusal: the metric, a clear error, and the instance is
/// kept. When only another instance could help, or the transient trouble outlasts the
/// deadline: ABANDON.
#[allow(clippy::too_many_arguments)]
pub async fn prepare<E, G, M, O, S>(
    ec2: &E,
    groups: &G,
    metrics: &M,
    objects: Option<&O>,
    secrets: &S,
    id: &Identity,
    cfg: &NodeConfig,
) -> Result<PrepareReport>
where
    E: Instances + Volumes,
    G: Groups,
    M: Metrics,
    O: Objects,
    S: Secrets,
{
    let hook = Hook::pending(groups, ec2, cfg, id).await?;
    let started = Instant::now();
    progress::moved("launch");
    // The last transient failure, for when the deadline runs out.
    let last: std::sync::Mutex<Option<BootstrapError>> = std::sync::Mutex::new(None);
    let attempt = std::sync::atomic::AtomicU32::new(0);
    let attempts = async {
        let outcome = poll::until(
            cfg.prepare_deadline,
            Backoff::new(Duration::from_secs(1), Duration::from_secs(30)),
            || async {
                let n = attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                let err = match prepare::run(ec2, objects, secrets, id, cfg).await {
                    Ok(report) => return Ok(Poll::Ready(report)),
                    Err(e) => e,
                };
                let disposition = err.disposition();
                if disposition != Disposition::Retry {
                    return Err((err, disposition));
                }
                warn!(during = %Step::Prepared, attempt = n, error = %err,
                    left_s = cfg.prepare_deadline.saturating_sub(started.elapsed()).as_secs(),
                    "transient failure; trying again on this node");
                let why = err.to_string();
                crate::progress::waiting(&format!("prepare, attempt {n} failed: {why}"));
                if let Ok(mut l) = last.lock() {
                    *l = Some(err);
                }
                Ok(Poll::Pending(why))
            },
        )
        .await?;
        outcome.map_err(|timed_out| {
            let err = last
                .lock()
                .ok()
                .and_then(|mut l| l.take())
                .unwrap_or(BootstrapError::Timeout {
                    what: "prepare",
                    secs: cfg.prepare_deadline.as_secs(),
                    detail: timed_out.last,
                });
            (err, Disposition::Retry)
        })
    };
    let (err, disposition) = match heartbeating(
        groups,
        hook.as_ref(),
        Phase::Prepare,
        cfg.hook_timeout,
        cfg.stall_after,
        attempts,
    )
    .await
    {
        Ok(Ok(report)) => return Ok(report),
        Ok(Err(failed)) => failed,
        Err(why) => (BootstrapError::Stalled { why }, Disposition::Abandon),
    };
    match disposition {
        Disposition::Refuse => {
            error!(step = %Step::Failed, refused = true, error = %err,
                "refusing: a new instance would only repeat this; keeping the instance, no lifecycle action is completed");
            refused_metric(ec2, metrics, id).await;
        }
        Disposition::Retry | Disposition::Abandon => {
            error!(step = %Step::Failed, refused = false, error = %err, "giving up on this instance: abandoning its launch");
            if let Some(h) = &hook {
                h.complete(groups, LifecycleResult::Abandon).await?;
            }
        }
    }
    Err(err)
}

/// `BootstrapRefused` = 1 for this cluster (best effort: the refusal itself is the error).
async fn refused_metric<I: Instances, M: Metrics>(ec2: &I, metrics: &M, id: &Identity) {
    let cluster = match ec2.describe_instances(std::slice::from_ref(&id.instance_id)).await {
        Ok(found) => found.into_iter().find_map(|i| i.tags.cluster().map(str::to_string)),
        Err(_) => None,
    };
    let cluster = cluster.unwrap_or_else(|| "unknown".into());
    let metric = Metric {
        namespace: steadfast_core::vocab::metric_namespace(&cluster),
        name: metrics::BOOTSTRAP_REFUSED.into(),
        dimensions: vec![(metrics::DIMENSION_CLUSTER.into(), cluster)],
        value: 1.0,
        unit: "Count",
    };
    if let Err(e) = metrics.put_metric(&metric).await {
        warn!(error = %e, metric = metrics::BOOTSTRAP_REFUSED, "could not publish the refusal metric");
    }
}

/// `ready`: a learner (it joined with a fresh data dir) is promoted once it caught up; then
/// waits for the member's own health with the action heartbeated (waiting on a quorum is
/// progress), then completes it with CONTINUE. Past the ready deadline it fails without
/// abandoning: the hook's default result applies once, and the alarms say why. Once healthy,
/// the volume is marked as holding member data.
pub async fn ready<E, G, M>(ec2: &E, groups: &G, metrics: &M, id: &Identity, cfg: &NodeConfig) -> Result<Readiness>
where
    E: Instances + Volumes,
    G: Groups,
    M: Metrics,
{
    let hook = Hook::pending(groups, ec2, cfg, id).await?;
    let handoff = Handoff::read(&cfg.env_file);
    let voters: Vec<String> = match handoff.as_ref().map(|h| &h.recovered) {
        Some(Recovered::Joined { endpoints, .. }) => endpoints.clone(),
        _ => vec![],
    };
    let access = tls::access(cfg)?;
    progress::moved("etcd started");
    let r = heartbeating(
        groups,
        hook.as_ref(),
        Phase::Ready,
        cfg.hook_timeout,
        cfg.stall_after,
        async {
            let promoted = if voters.is_empty() {
                None
            } else {
                ready::promote_if_learner(&access, id.private_ip, &voters, cfg.ready_timeout).await?
            };
            let r = ready::wait_ready(&access, id.private_ip, cfg.ready_timeout).await?;
            Ok::<_, BootstrapError>((r, promoted))
        },
    )
    .await
    .map_err(|why| BootstrapError::Stalled { why })?;
    let (r, promoted) = r?;
    if let Some(h) = &handoff {
        settle(ec2, metrics, &access, id, h, promoted.is_some()).await;
    }
    if let Some(h) = &hook {
        h.complete(groups, LifecycleResult::Continue).await?;
    }
    if let Some(t) = &cfg.tls {
        // What this member runs with, for a CA rotation to see (the TLS timer reports it
        // again on every run).
        match identity::cluster_and_peer(ec2, id, cfg).await {
            Ok((cluster, peer)) => tls::publish_status(&access, &cluster, peer, id.private_ip, t).await,
            Err(e) => warn!(error = %e, "could not tell the cluster and peer to report TLS status"),
        }
    }
    Ok(r)
}

/// After a healthy member: its volume holds member data (`joined`, no `blank`); a join's
/// record is deleted; a heal or a restore is counted. Best effort: readiness is the member's
/// health, and each of these is retried by the next boot or the next backup.
async fn settle<E: Volumes + Instances, M: Metrics>(
    ec2: &E,
    metrics: &M,
    access: &Access,
    id: &Identity,
    h: &Handoff,
    promoted: bool,
) {
    let vol = match ec2.describe_volume(&h.volume_id).await {
        Ok(v) => v,
        Err(e) => {
            warn!(during = %Step::Ready, volume = %h.volume_id, error = %e, "could not read the volume's tags");
            return;
        }
    };
    // A restored or healed member marks its volume joined anew (its data is from now): the
    // restore's plan is keyed by the newest join, so the cluster it formed plans its next loss
    // under a new key, and an operator's restore request sees the volume has followed it.
    let anew = matches!(h.recovered, Recovered::Restored { .. } | Recovered::Joined { .. });
    if !vol.tags.joined() || anew {
        if let Err(e) = ec2
            .tag_volume(
                &vol.volume_id,
                TAG_JOINED,
                &steadfast_core::clock::now_secs().to_string(),
            )
            .await
        {
            warn!(during = %Step::Ready, volume = %vol.volume_id, error = %e, "could not tag the volume joined");
        }
    }
    if vol.tags.blank() {
        if let Err(e) = ec2.untag_volume(&vol.volume_id, TAG_BLANK).await {
            warn!(during = %Step::Ready, volume = %vol.volume_id, error = %e, "could not remove the blank mark");
        }
    }
    let counted = match &h.recovered {
        Recovered::Joined { .. } => {
            if promoted {
                crate::recovery::join::forget(access, id.private_ip, h).await;
            }
            Some(metrics::PEER_HEALED)
        }
        Recovered::Restored { .. } => Some(metrics::CLUSTER_RESTORED),
        _ => None,
    };
    if let Some(name) = counted {
        let cluster = vol.tags.cluster().unwrap_or("unknown").to_string();
        let m = Metric {
            namespace: steadfast_core::vocab::metric_namespace(&cluster),
            name: name.into(),
            dimensions: vec![
                (metrics::DIMENSION_CLUSTER.into(), cluster),
                (metrics::DIMENSION_PEER.into(), h.peer.to_string()),
            ],
            value: 1.0,
            unit: "Count",
        };
        if let Err(e) = metrics.put_metric(&m).await {
            warn!(error = %e, metric = name, "could not publish the recovery metric");
        }
    }
}

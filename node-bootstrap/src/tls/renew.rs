//! The TLS timer's run (`node-bootstrap tls`), every few minutes on every node:
//! 1. read the CA secret and what is on disk, and plan (`plan_renewal`);
//! 2. a certificate due (a third of its life left, a new signing CA, new names) is issued and
//!    replaced on disk: etcd 3.5 reads its certificate again at every new handshake, so no
//!    restart;
//! 3. a changed set of trusted CAs (a CA rotation) needs a restart, since etcd reads its CA
//!    file only when it starts: under the restart lock (one peer at a time), only while every
//!    member is healthy, leadership moved away first, then the bundle written, etcd restarted,
//!    and the lock held until the member is healthy and caught up again;
//! 4. report what this peer runs with (etcd key, for `steadfast ca rotate`) and the days left
//!    (CloudWatch, for the alarms).

use std::net::Ipv4Addr;
use std::time::Duration;

use steadfast_core::aws::{Instances, Metric, Metrics, Secrets};
use steadfast_core::etcd::{self, keys, Access, EtcdError, MemberStatus};
use steadfast_core::tls::{self as core_tls, CaState, Why, DAY_SECS};
use steadfast_core::vocab::{metrics, Step};
use steadfast_core::{Cluster, PeerIndex};
use tracing::{info, warn};

use super::{access, apply, now, plan, publish_status, Files};
use crate::config::{NodeConfig, TlsSettings};
use crate::error::{BootstrapError, Result};
use crate::identity::{self, Identity};
use crate::volume::tools;

/// How long the restart lock outlives a holder that stopped keeping it alive.
const LOCK_TTL: Duration = Duration::from_secs(30);
/// How long a run waits for another peer's restart; then it leaves it to the next run.
const LOCK_WAIT: Duration = Duration::from_secs(60);
/// How long the restart command may take.
const RESTART_TIMEOUT: Duration = Duration::from_secs(120);

pub use steadfast_core::report::TlsReport;

/// One run of the timer.
pub async fn run<I, S, M>(ec2: &I, secrets: &S, cw: &M, id: &Identity, cfg: &NodeConfig) -> Result<TlsReport>
where
    I: Instances,
    S: Secrets,
    M: Metrics,
{
    let Some(tls) = &cfg.tls else {
        info!(during = %Step::Renew, "TLS is off on this node: nothing to renew");
        return Ok(TlsReport::default());
    };
    let (cluster, peer) = identity::cluster_and_peer(ec2, id, cfg).await?;
    let done = renew(secrets, &cluster, peer, id.private_ip, tls, cfg).await;
    match &done {
        Ok(r) => {
            put(cw, &cluster, metrics::TLS_CERT_DAYS_LEFT, r.certificate_days_left).await;
            put(cw, &cluster, metrics::TLS_CA_DAYS_LEFT, r.ca_days_left).await;
            if r.renewed.is_some() {
                put(cw, &cluster, metrics::TLS_RENEWED, 1.0).await;
            }
        }
        Err(e) => {
            warn!(step = %Step::Failed, during = %Step::Renew, error = %e, "TLS renewal failed");
            put(cw, &cluster, metrics::TLS_FAILED, 1.0).await;
        }
    }
    done
}

async fn put<M: Metrics>(cw: &M, cluster: &Cluster, name: &'static str, value: f64) {
    let m = Metric {
        namespace: cluster.metric_namespace(),
        name: name.into(),
        // One series per cluster: the alarms take the minimum over every peer's reports.
        dimensions: vec![(metrics::DIMENSION_CLUSTER.into(), cluster.name().to_string())],
        value,
        unit: if name == metrics::TLS_RENEWED || name == metrics::TLS_FAILED {
            "Count"
        } else {
            "None"
        },
    };
    if let Err(e) = cw.put_metric(&m).await {
        warn!(error = %e, metric = name, "could not publish a TLS metric");
    }
}

async fn renew<S: Secrets>(
    secrets: &S,
    cluster: &Cluster,
    peer: PeerIndex,
    ip: Ipv4Addr,
    tls: &TlsSettings,
    cfg: &NodeConfig,
) -> Result<TlsReport> {
    let secret = core_tls::CaSecret::from_setting(cluster, tls.ca_secret.as_deref())?;
    let state = core_tls::ca::read(secrets, &secret).await?;
    let planned = plan(&state, cluster, peer, ip, tls)?;
    let mut report = TlsReport::default();
    if let Some(why) = &planned.issue {
        let issue_only = core_tls::Renewal {
            issue: planned.issue.clone(),
            retrust: false,
        };
        apply(&issue_only, &state, cluster, peer, ip, tls, cfg.etcd_user.as_deref())?;
        let leaf = Files::new(&tls.dir).leaf()?;
        let why = describe(why);
        info!(step = %Step::Renew, reason = %why, serial = %leaf.serial, not_after = leaf.not_after,
            issuer = %leaf.issuer, "certificate issued again; etcd serves it from its next handshake");
        report.renewed = Some(why);
    }
    // Calls to etcd go with what is on disk now (a new certificate, the old bundle).
    let local = access(cfg)?;
    if planned.retrust {
        match roll(&local, ip, tls, cfg, &state).await? {
            Rolled::Restarted => report.restarted = true,
            Rolled::Waiting(why) => {
                info!(during = %Step::Restart, reason = %why, "a restart for the new CAs is due; not now");
                report.waiting = Some(why);
            }
        }
    }
    let local = access(cfg)?;
    publish_status(&local, cluster, peer, ip, tls).await;
    let leaf = Files::new(&tls.dir).leaf()?;
    let ca = state.signing_info()?;
    let t = now();
    report.certificate_days_left = leaf.seconds_left(t) as f64 / DAY_SECS as f64;
    report.ca_days_left = ca.seconds_left(t) as f64 / DAY_SECS as f64;
    Ok(report)
}

fn describe(why: &Why) -> String {
    match why {
        Why::Missing => "no certificate".into(),
        Why::Expiring {
            left_secs,
            lifetime_secs,
        } => format!("{left_secs} s of {lifetime_secs} s left (under a third)"),
        Why::NewSigningCa { issuer } => format!("issued by {issuer}, which no longer signs"),
        Why::NamesChanged => "its names are not this peer's any more".into(),
    }
}

enum Rolled {
    Restarted,
    Waiting(String),
}

/// The restart for a new set of trusted CAs, one peer at a time and only while every member is
/// healthy; this member leads no more when it goes down.
async fn roll(access: &Access, ip: Ipv4Addr, tls: &TlsSettings, cfg: &NodeConfig, state: &CaState) -> Result<Rolled> {
    let t = Duration::from_secs(5);
    let mut local = access.connect(&[access.local_url(ip)], t).await?;
    let members = local.member_list().await.map_err(EtcdError::call("member list"))?;
    let voters: Vec<etcd_client::Member> = members.members().iter().filter(|m| !m.is_learner()).cloned().collect();
    let endpoints: Vec<String> = voters.iter().flat_map(|m| m.client_urls().to_vec()).collect();
    // The lock lives in the cluster, not in this member: a client of every voter keeps it while
    // this member restarts.
    let lock_client = access.connect(&endpoints, t).await?;
    let held = match etcd::lock(&lock_client, keys::RESTART_LOCK, LOCK_TTL, LOCK_WAIT).await {
        Ok(h) => h,
        Err(e) => return Ok(Rolled::Waiting(e.to_string())),
    };
    let done = async {
        // Health gate: every voting member answers and agrees on one leader.
        let mut leaders = Vec::new();
        let mut best: Option<(u64, u64)> = None; // (raft index, member id) of the fittest follower
        let my_id = etcd::probe(&mut local, false).await?.id;
        for m in &voters {
            let Some(url) = m.client_urls().first() else {
                return Ok(Rolled::Waiting(format!("member {} publishes no client URL", m.name())));
            };
            match etcd::probe_url(access, url, t, false).await {
                Ok(MemberStatus { leader, raft_index, .. }) if leader != 0 => {
                    leaders.push(leader);
                    if m.id() != my_id && best.is_none_or(|(idx, _)| raft_index > idx) {
                        best = Some((raft_index, m.id()));
                    }
                }
                Ok(_) => return Ok(Rolled::Waiting(format!("member {} knows no leader", m.name()))),
                Err(e) => return Ok(Rolled::Waiting(format!("member {} is not healthy: {e}", m.name()))),
            }
        }
        leaders.sort_unstable();
        leaders.dedup();
        if leaders.len() != 1 {
            return Ok(Rolled::Waiting(format!("the members disagree on the leader: {leaders:x?}")));
        }
        if leaders[0] == my_id {
            let Some((_, to)) = best else {
                return Ok(Rolled::Waiting("no follower to hand leadership to".into()));
            };
            local
                .move_leader(to)
                .await
                .map_err(EtcdError::call(format!("move leader to {to:x}")))?;
            info!(during = %Step::Restart, from = format!("{my_id:x}"), to = format!("{to:x}"),
                "leadership moved off this member before its restart");
        }
        let before = etcd::process_start_time(ip).await;
        Files::new(&tls.dir).write_trust(&state.trust_bundle(), cfg.etcd_user.as_deref())?;
        let t0 = std::time::Instant::now();
        let out = tools::run("sh", &["-c", &tls.restart_cmd], RESTART_TIMEOUT).await?;
        if out.status != 0 {
            return Err(BootstrapError::Command {
                command: tls.restart_cmd.clone(),
                status: out.status.to_string(),
                stderr: out.stderr,
            });
        }
        // The restart command may return before etcd went down (a signal): wait until another
        // process serves, then until it is healthy and caught up.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let now = etcd::process_start_time(ip).await;
            if now.is_some() && now != before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The bundle on disk changed: read it again.
        let fresh = super::access(cfg)?;
        let r = crate::ready::wait_ready(&fresh, ip, cfg.ready_timeout).await?;
        info!(step = %Step::Restart, elapsed_ms = t0.elapsed().as_millis() as u64, member = format!("{:x}", r.member_id),
            trusted = state.trust.len(), "etcd restarted with the new CA bundle; healthy and caught up");
        Ok(Rolled::Restarted)
    }
    .await;
    held.release().await;
    done
}

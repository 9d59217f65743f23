//! `steadfast ca rotate`: a CA rotation without downtime.
//!
//! The command only moves the CA secret from phase to phase; the peers do the rolling. Each
//! peer's TLS timer (`node-bootstrap tls`) sees the new phase, re-issues its certificate or
//! restarts its etcd for the new trust bundle (one peer at a time under an etcd lock, after a
//! health check and a leadership transfer), and reports what it runs with under
//! `steadfast/tls/peer-N`. From those reports core's pure `plan_rotation` says what is next:
//! 1. trust both CAs (the new one joins the bundle; every peer restarts to trust it);
//! 2. the new CA signs (every peer re-issues its certificate; no restart: etcd reads its
//!    certificate at every handshake);
//! 3. the old CA is dropped (every peer restarts to trust only the new one).
//!
//! Each phase is written only once every peer has caught up with the one before and every
//! member answers with a leader. Run again, the command resumes where the secret says.

use std::time::{Duration, Instant};

use etcd_client::Client;
use steadfast_core::clock::now;
use steadfast_core::etcd::{self, bounded, Access, EtcdError};
use steadfast_core::tls::{
    ca, cert::new_ca, client_credentials, plan_rotation, status_key, CaState, PeerTls, Phase, RotationStep, DAY_SECS,
};
use steadfast_core::vocab::{defaults, Transport};
use steadfast_core::{Cluster, PeerIndex};

use crate::error::{CliError, Result};
use crate::{say, Target};

/// The client name the command talks to etcd as.
pub const OPERATOR_NAME: &str = "steadfast-operator";

/// How far to take the rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Until {
    /// Stop once every peer trusts both CAs.
    TrustBoth,
    /// Stop once every certificate is from the new CA (the old one still trusted).
    Reissued,
    /// All the way: only the new CA is trusted.
    Done,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Client URLs of the members (default: every peer's stable name).
    pub endpoints: Vec<String>,
    pub until: Until,
    pub timeout: Duration,
    pub poll: Duration,
    /// The new CA's validity (days).
    pub ca_days: i64,
}

impl Options {
    pub fn defaults(cluster: &Cluster) -> Self {
        Self {
            endpoints: default_endpoints(cluster),
            until: Until::Done,
            timeout: Duration::from_secs(3600),
            poll: Duration::from_secs(5),
            ca_days: i64::from(defaults::TLS_CA_VALIDITY_DAYS),
        }
    }
}

/// `https://peer-N.C.D:2379` for every peer.
pub fn default_endpoints(cluster: &Cluster) -> Vec<String> {
    cluster
        .peers()
        .map(|p| etcd::client_url(Transport::Tls, cluster, p))
        .collect()
}

/// The operator's access: a certificate from the CA that signs now, trusting every CA trusted
/// now (issued again for every connection: a rotation changes both under the command).
async fn access(target: &Target) -> Result<Access> {
    let c = client_credentials(&target.cloud.secrets, &target.ca_secret, OPERATOR_NAME, now(), DAY_SECS).await?;
    Ok(Access::tls(
        c.trust_bundle.as_bytes(),
        c.cert.cert_pem.as_bytes(),
        c.cert.key_pem.as_bytes(),
    ))
}

/// A client of `endpoint` as the operator that has answered once (bounded: a TLS handshake with
/// a member that does not serve never ends by itself).
async fn connect(target: &Target, endpoint: &str) -> Result<Client> {
    Ok(access(target)
        .await?
        .connect(&[endpoint.to_string()], Duration::from_secs(3))
        .await?)
}

/// Every endpoint answers with a leader and no alarm: the gate before each phase.
async fn healthy(target: &Target, endpoints: &[String]) -> std::result::Result<(), String> {
    let mut leaders = std::collections::BTreeSet::new();
    for e in endpoints {
        let mut c = connect(target, e).await.map_err(|e| e.to_string())?;
        let st = etcd::probe(&mut c, false).await.map_err(|err| format!("{e}: {err}"))?;
        if st.leader == 0 {
            return Err(format!("{e}: no leader"));
        }
        if !st.alarms.is_empty() {
            return Err(format!("{e}: {}", st.alarms.join("; ")));
        }
        leaders.insert(st.leader);
    }
    if leaders.len() > 1 {
        return Err(format!("members disagree on the leader: {leaders:?}"));
    }
    Ok(())
}

/// Every peer's report (`None`: none, or unreadable), read through the first endpoint that
/// answers.
async fn reports(target: &Target, endpoints: &[String]) -> Result<Vec<(PeerIndex, Option<PeerTls>)>> {
    let mut last = String::from("no endpoints");
    for e in endpoints {
        let mut c = match connect(target, e).await {
            Ok(c) => c,
            Err(err) => {
                last = err.to_string();
                continue;
            }
        };
        let mut out = Vec::new();
        for p in target.cluster.peers() {
            let key = status_key(&target.cluster, p);
            let op = format!("{e}: get {key}");
            let got = bounded(&op, Duration::from_secs(3), async {
                c.get(key.as_str(), None).await.map_err(EtcdError::call(op.clone()))
            })
            .await?;
            let report = got
                .kvs()
                .first()
                .and_then(|kv| serde_json::from_slice::<PeerTls>(kv.value()).ok());
            out.push((p, report));
        }
        return Ok(out);
    }
    Err(CliError::NoMember(last))
}

/// Writes the next phase of the secret.
async fn write(target: &Target, next: &CaState, what: &str) -> Result<()> {
    use steadfast_core::aws::Secrets;
    target
        .cloud
        .secrets
        .put_secret(target.ca_secret.as_str(), &next.to_json())
        .await?;
    say(what);
    Ok(())
}

fn reached(until: Until, phase: Phase, step: &RotationStep) -> bool {
    match until {
        Until::TrustBoth => phase == Phase::TrustBoth && *step == RotationStep::SwitchSigning,
        Until::Reissued => phase == Phase::Reissue && *step == RotationStep::DropOld,
        Until::Done => false,
    }
}

/// Runs (or resumes) a rotation; returns the CA that signs at the end.
pub async fn rotate(target: &Target, opts: &Options) -> Result<CaState> {
    let t0 = Instant::now();
    let start = ca::read(&target.cloud.secrets, &target.ca_secret).await?;
    // A rotation under way (the secret is past Stable) is resumed; from Stable, one begins once
    // every peer runs with the current CA.
    let mut begun = start.phase() != Phase::Stable;
    if begun {
        say(&format!("resuming the rotation under way (phase {:?})", start.phase()));
    }
    let mut last_wait = String::new();
    loop {
        let state = ca::read(&target.cloud.secrets, &target.ca_secret).await?;
        let phase = state.phase();
        let step = match reports(target, &opts.endpoints).await {
            Ok(r) => plan_rotation(&state, &r)?,
            Err(e) => RotationStep::Wait {
                phase,
                behind: vec![(0, e.to_string())],
            },
        };
        if reached(opts.until, phase, &step) {
            say(&format!(
                "every peer has caught up with phase {phase:?}; stopping as asked"
            ));
            return Ok(state);
        }
        let gate = || async {
            healthy(target, &opts.endpoints)
                .await
                .map_err(|why| RotationStep::Wait {
                    phase,
                    behind: vec![(0, format!("health gate: {why}"))],
                })
        };
        let waiting = match step {
            RotationStep::Converged if begun => {
                say(&format!(
                    "done: every peer trusts only {} and its certificate is from it ({:.0} s)",
                    state.signing_info()?.subject,
                    t0.elapsed().as_secs_f64()
                ));
                return Ok(state);
            }
            RotationStep::Converged => match gate().await {
                Ok(()) => {
                    let n = now();
                    let next = new_ca(&ca::ca_common_name(&target.cluster, n), n, opts.ca_days * DAY_SECS)?;
                    let next = state.begin_rotation(next)?;
                    write(
                        target,
                        &next,
                        "phase 1: the new CA is trusted beside the old; peers restart to trust both",
                    )
                    .await?;
                    begun = true;
                    None
                }
                Err(w) => Some(w),
            },
            RotationStep::SwitchSigning => match gate().await {
                Ok(()) => {
                    write(
                        target,
                        &state.switch_signing()?,
                        "phase 2: the new CA signs; peers re-issue their certificates",
                    )
                    .await?;
                    None
                }
                Err(w) => Some(w),
            },
            RotationStep::DropOld => match gate().await {
                Ok(()) => {
                    write(
                        target,
                        &state.drop_old()?,
                        "phase 3: the old CA is dropped; peers restart to trust only the new",
                    )
                    .await?;
                    None
                }
                Err(w) => Some(w),
            },
            w @ RotationStep::Wait { .. } => Some(w),
        };
        if let Some(RotationStep::Wait { phase, behind }) = waiting {
            let line = format!(
                "phase {phase:?}: waiting for {}",
                behind
                    .iter()
                    .map(
                        |(p, why)| if why.starts_with("health gate") || *p == 0 && why.contains("answer") {
                            why.clone()
                        } else {
                            format!("peer-{p} ({why})")
                        }
                    )
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if line != last_wait {
                say(&line);
                last_wait = line;
            }
            if t0.elapsed() > opts.timeout {
                return Err(CliError::Timeout {
                    secs: opts.timeout.as_secs(),
                    detail: last_wait,
                });
            }
            tokio::time::sleep(opts.poll).await;
        }
    }
}

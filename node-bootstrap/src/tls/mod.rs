//! TLS on the node. The cluster's CA lives in Secrets Manager (core's `tls::ca`); the node
//! issues its own certificate from it and keeps it current:
//! - [`files`]: the CA bundle, the certificate and the key on disk;
//! - [`ensure`]: `prepare`'s TLS step (the CA read or created, the certificate issued, the
//!   bundle written; etcd is not running yet, so nothing restarts);
//! - [`renew`]: the TLS timer's run (`node-bootstrap tls`): re-issue when `plan_renewal` says
//!   so, restart etcd one peer at a time when the trusted CAs changed, report.

pub mod files;
pub mod renew;

use std::net::Ipv4Addr;

use steadfast_core::aws::{PutOutcome, Secrets};
use steadfast_core::clock::now;
use steadfast_core::etcd::Access;
use steadfast_core::tls::{
    self as core_tls, cert, plan_renewal, CaSecret, CaState, CertInfo, PeerTls, Renewal, Usage, Wanted,
};
use steadfast_core::{Cluster, PeerIndex};
use tracing::{info, warn};

pub use files::Files;

use crate::config::{NodeConfig, TlsSettings};
use crate::error::{BootstrapError, Result};

/// What the TLS step found and did.
#[derive(Debug, Clone)]
pub struct Ensured {
    /// This node created the cluster's CA (it won the race).
    pub created_ca: bool,
    pub plan: Renewal,
    pub leaf: CertInfo,
}

/// How this node reaches etcd: plain http, or TLS with the files the TLS step wrote (the error
/// names a file that could not be read).
pub fn access(cfg: &NodeConfig) -> Result<Access> {
    match &cfg.tls {
        None => Ok(Access::plain()),
        Some(t) => {
            let p = t.paths();
            Access::tls_files(&p.ca, &p.cert, &p.key).map_err(|(path, source)| BootstrapError::Io { path, source })
        }
    }
}

/// Issues a certificate and writes it when `plan` says so, and the bundle when it differs.
fn apply(
    plan: &Renewal,
    state: &CaState,
    cluster: &Cluster,
    peer: PeerIndex,
    ip: Ipv4Addr,
    tls: &TlsSettings,
    owner: Option<&str>,
) -> Result<()> {
    let files = Files::new(&tls.dir);
    if plan.issue.is_some() {
        let leaf = cert::issue(
            &state.signing,
            &cluster.member_name(peer),
            &cluster.peer_sans(peer, ip),
            Usage::Peer,
            now(),
            tls.cert_validity_secs,
        )?;
        files.write_leaf(&leaf, owner)?;
    }
    if plan.retrust {
        files.write_trust(&state.trust_bundle(), owner)?;
    }
    Ok(())
}

/// The plan for this node against `state`.
fn plan(state: &CaState, cluster: &Cluster, peer: PeerIndex, ip: Ipv4Addr, tls: &TlsSettings) -> Result<Renewal> {
    let signing = state.signing_info()?;
    let trust = state.trust_fingerprints()?;
    let sans = cluster.peer_sans(peer, ip);
    Ok(plan_renewal(
        &Files::new(&tls.dir).on_disk(),
        Wanted {
            signing: &signing,
            trust: &trust,
            sans: &sans,
        },
        now(),
    ))
}

/// `prepare`'s TLS step: the cluster's CA (created if this is the first node to need it), this
/// peer's certificate and the CA bundle, on disk before etcd starts.
pub async fn ensure<S: Secrets>(
    secrets: &S,
    cluster: &Cluster,
    peer: PeerIndex,
    ip: Ipv4Addr,
    tls: &TlsSettings,
    owner: Option<&str>,
) -> Result<Ensured> {
    let secret = CaSecret::from_setting(cluster, tls.ca_secret.as_deref())?;
    let (state, outcome) = core_tls::ca::get_or_create(
        secrets,
        cluster,
        &secret,
        tls.kms_key.as_deref(),
        now(),
        tls.ca_validity_secs,
    )
    .await?;
    if outcome == PutOutcome::Created {
        info!(during = %steadfast_core::vocab::Step::Tls, secret = %secret,
            ca = %state.signing_info()?.subject, "created the cluster's CA (first node to need it)");
    }
    let plan = plan(&state, cluster, peer, ip, tls)?;
    apply(&plan, &state, cluster, peer, ip, tls, owner)?;
    Ok(Ensured {
        created_ca: outcome == PutOutcome::Created,
        plan,
        leaf: Files::new(&tls.dir).leaf()?,
    })
}

/// What this peer runs with, as the files say.
pub fn report(files: &Files, peer: PeerIndex) -> Result<PeerTls> {
    let leaf = files.leaf()?;
    Ok(PeerTls {
        peer: peer.get(),
        trust: files.trust()?,
        leaf_issuer: leaf.issuer,
        leaf_serial: leaf.serial,
        leaf_not_after: leaf.not_after,
        at: now(),
    })
}

/// Reports what this peer runs with under its status key (what `steadfast ca rotate` waits on).
/// Best effort: the next timer run reports again.
pub async fn publish_status(access: &Access, cluster: &Cluster, peer: PeerIndex, ip: Ipv4Addr, tls: &TlsSettings) {
    let status = match report(&Files::new(&tls.dir), peer) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "could not read this peer's TLS files to report them");
            return;
        }
    };
    let key = core_tls::status_key(cluster, peer);
    let body = serde_json::to_string(&status).unwrap_or_default();
    let put = async {
        let mut c = access
            .connect(&[access.local_url(ip)], std::time::Duration::from_secs(5))
            .await?;
        c.put(key.as_str(), body, None)
            .await
            .map_err(steadfast_core::etcd::EtcdError::call(format!("put {key}")))
    };
    if let Err(e) = put.await {
        warn!(error = %e, key = %key, "could not report this peer's TLS status");
    }
}

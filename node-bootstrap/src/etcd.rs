//! What node-bootstrap asks of etcd itself, in one place: connecting with deadlines, the
//! member's client URL, the keys steadfast keeps in the cluster, and a lease-held lock (one
//! backup at a time, one join at a time).

use std::net::Ipv4Addr;
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, LockOptions};
use steadfast_core::vocab::{CLIENT_PORT, PEER_PORT};
use steadfast_core::{Cluster, PeerIndex};
use tracing::warn;

use crate::error::{BootstrapError, Result};

/// The lock the scheduled and on-demand backups take.
pub const BACKUP_LOCK: &str = "steadfast/locks/backup";
/// The lock a peer takes to change membership while it joins (one peer at a time).
pub const JOIN_LOCK: &str = "steadfast/locks/join";
/// Prefix of the join records: `steadfast/join/peer-N` while peer N is being removed and added
/// back as a learner, until it is promoted.
pub const JOIN_PREFIX: &str = "steadfast/join/";

/// The join record of `peer`.
pub fn join_key(cluster: &Cluster, peer: PeerIndex) -> String {
    format!("{JOIN_PREFIX}{}", cluster.member_name(peer))
}

/// The local member's client URL.
pub fn local_url(ip: Ipv4Addr) -> String {
    format!("http://{ip}:{CLIENT_PORT}")
}

/// A peer's client URL through its stable name.
pub fn client_url(cluster: &Cluster, peer: PeerIndex) -> String {
    format!("http://{}:{CLIENT_PORT}", cluster.peer_host(peer))
}

/// A peer's advertised peer URL (what the member list holds for it).
pub fn peer_url(cluster: &Cluster, peer: PeerIndex) -> String {
    format!("http://{}:{PEER_PORT}", cluster.peer_host(peer))
}

/// The peer a peer URL of the member list belongs to.
pub fn peer_of_url(cluster: &Cluster, url: &str) -> Option<PeerIndex> {
    let host = url.split("://").nth(1)?.split(':').next()?;
    cluster.peer_of_record(host)
}

/// A client for `endpoints`, every call bounded by `timeout`; the error says which endpoint.
pub async fn connect(endpoints: &[String], timeout: Duration) -> std::result::Result<Client, String> {
    let opts = ConnectOptions::new()
        .with_timeout(timeout)
        .with_connect_timeout(timeout);
    tokio::time::timeout(timeout * 2, Client::connect(endpoints, Some(opts)))
        .await
        .map_err(|_| format!("{}: no connection within {:?}", endpoints.join(","), timeout * 2))?
        .map_err(|e| format!("{}: {e}", endpoints.join(",")))
}

fn etcd(what: &str) -> impl Fn(etcd_client::Error) -> BootstrapError + '_ {
    move |e| BootstrapError::Etcd(format!("{what}: {e}"))
}

/// A lock held through a lease: released by [`Held::release`], or by the lease running out
/// `ttl` after its holder stopped keeping it alive (a crashed holder never blocks for long).
pub struct Held {
    client: Client,
    key: Vec<u8>,
    lease: i64,
    keeper: tokio::task::JoinHandle<()>,
}

/// Takes the lock `name`, waiting at most `wait` for it.
pub async fn lock(client: &Client, name: &str, ttl: Duration, wait: Duration) -> Result<Held> {
    let mut c = client.clone();
    let lease = c
        .lease_grant(ttl.as_secs().max(5) as i64, None)
        .await
        .map_err(etcd("lease grant"))?
        .id();
    let (mut keeper, mut answers) = c.lease_keep_alive(lease).await.map_err(etcd("lease keep-alive"))?;
    let every = ttl / 3;
    let keep = tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if keeper.keep_alive().await.is_err() || answers.message().await.is_err() {
                warn!(lease = format!("{lease:x}"), "could not keep the lock's lease alive");
                return;
            }
        }
    });
    let got = tokio::time::timeout(wait, c.lock(name, Some(LockOptions::new().with_lease(lease)))).await;
    match got {
        Ok(Ok(r)) => Ok(Held {
            client: c,
            key: r.key().to_vec(),
            lease,
            keeper: keep,
        }),
        Ok(Err(e)) => {
            keep.abort();
            let _ = c.lease_revoke(lease).await;
            Err(BootstrapError::Etcd(format!("lock {name}: {e}")))
        }
        Err(_) => {
            keep.abort();
            let _ = c.lease_revoke(lease).await;
            Err(BootstrapError::Etcd(format!(
                "lock {name}: still held by another after {wait:?}"
            )))
        }
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("lease", &format_args!("{:x}", self.lease))
            .finish()
    }
}

impl Held {
    /// Releases the lock and its lease (best effort: the lease's expiry releases it anyway).
    pub async fn release(mut self) {
        self.keeper.abort();
        if let Err(e) = self.client.unlock(self.key.clone()).await {
            warn!(error = %e, "could not unlock; the lease's expiry releases it");
        }
        let _ = self.client.lease_revoke(self.lease).await;
    }
}

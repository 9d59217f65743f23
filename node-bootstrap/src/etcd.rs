//! What node-bootstrap asks of etcd itself, in one place: connecting with deadlines (and TLS),
//! the members' URLs, the keys steadfast keeps in the cluster, and a lease-held lock (one
//! backup at a time, one join at a time).

use std::net::Ipv4Addr;
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, LockOptions, TlsOptions};
use steadfast_core::vocab::{Transport, CLIENT_PORT, METRICS_PORT, PEER_PORT};
use steadfast_core::{Cluster, PeerIndex};
use tracing::warn;

use crate::config::NodeConfig;
use crate::error::{BootstrapError, Result};

/// The lock the scheduled and on-demand backups take.
pub const BACKUP_LOCK: &str = "steadfast/locks/backup";
/// The lock a peer takes to restart its etcd for a new trust bundle (one peer at a time).
pub const RESTART_LOCK: &str = "steadfast/locks/restart";
/// The lock a peer takes to change membership while it joins (one peer at a time).
pub const JOIN_LOCK: &str = "steadfast/locks/join";
/// Prefix of the join records: `steadfast/join/peer-N` while peer N is being removed and added
/// back as a learner, until it is promoted.
pub const JOIN_PREFIX: &str = "steadfast/join/";

/// The join record of `peer`.
pub fn join_key(cluster: &Cluster, peer: PeerIndex) -> String {
    format!("{JOIN_PREFIX}{}", cluster.member_name(peer))
}

/// The peer a peer URL of the member list belongs to.
pub fn peer_of_url(cluster: &Cluster, url: &str) -> Option<PeerIndex> {
    let host = url.split("://").nth(1)?.split(':').next()?;
    cluster.peer_of_record(host)
}

/// How node-bootstrap reaches etcd: the scheme of every URL it makes, and with TLS the CA
/// bundle it trusts and the peer certificate it presents (etcd runs with client certificate
/// authentication, so every call needs one). Built once the TLS step has written the files.
#[derive(Clone)]
pub struct Access {
    transport: Transport,
    tls: Option<TlsOptions>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("transport", &self.transport)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Access {
    /// Plain http (a cluster without TLS).
    pub fn plain() -> Self {
        Self {
            transport: Transport::Plain,
            tls: None,
        }
    }

    /// https, trusting the CAs of `ca_pem` and presenting `cert_pem`/`key_pem`.
    pub fn tls(ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> Self {
        Self {
            transport: Transport::Tls,
            tls: Some(
                TlsOptions::new()
                    .ca_certificate(Certificate::from_pem(ca_pem))
                    .identity(Identity::from_pem(cert_pem, key_pem)),
            ),
        }
    }

    /// The node's access as configured: with TLS, from the files the TLS step wrote.
    pub fn load(cfg: &NodeConfig) -> Result<Self> {
        match cfg.transport {
            Transport::Plain => Ok(Self::plain()),
            Transport::Tls => {
                let files = crate::tls::Files::new(&cfg.tls.dir);
                let read = |p: std::path::PathBuf| std::fs::read(&p).map_err(BootstrapError::io(p));
                Ok(Self::tls(&read(files.ca())?, &read(files.cert())?, &read(files.key())?))
            }
        }
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The local member's client URL.
    pub fn local_url(&self, ip: Ipv4Addr) -> String {
        format!("{}://{ip}:{CLIENT_PORT}", self.transport.scheme())
    }

    /// A peer's client URL through its stable name.
    pub fn client_url(&self, cluster: &Cluster, peer: PeerIndex) -> String {
        format!(
            "{}://{}:{CLIENT_PORT}",
            self.transport.scheme(),
            cluster.peer_host(peer)
        )
    }

    /// A peer's advertised peer URL (what the member list holds for it).
    pub fn peer_url(&self, cluster: &Cluster, peer: PeerIndex) -> String {
        peer_url(self.transport, cluster, peer)
    }

    /// A client for `endpoints` that has answered once, every call bounded by `timeout`; the
    /// error says which endpoint.
    ///
    /// etcd accepts TCP on its client port before it serves (until its member has joined the
    /// cluster), and a TLS handshake there never completes. The connect timeout covers only
    /// TCP, and a call waits for a handshaken connection outside the call timeout, so without
    /// the first answer here a call to a member that is not serving yet would wait forever.
    pub async fn connect(&self, endpoints: &[String], timeout: Duration) -> std::result::Result<Client, String> {
        let mut opts = ConnectOptions::new()
            .with_timeout(timeout)
            .with_connect_timeout(timeout);
        if let Some(tls) = &self.tls {
            opts = opts.with_tls(tls.clone());
        }
        let who = endpoints.join(",");
        let connect = async {
            let mut c = Client::connect(endpoints, Some(opts))
                .await
                .map_err(|e| format!("{who}: {e}"))?;
            c.status().await.map_err(|e| format!("{who}: status: {e}"))?;
            Ok::<_, String>(c)
        };
        tokio::time::timeout(timeout * 2, connect)
            .await
            .map_err(|_| format!("{who}: not serving within {:?}", timeout * 2))?
    }
}

/// A peer's advertised peer URL under `transport`.
pub fn peer_url(transport: Transport, cluster: &Cluster, peer: PeerIndex) -> String {
    format!("{}://{}:{PEER_PORT}", transport.scheme(), cluster.peer_host(peer))
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
    // The client's own request timeout may end a wait before `wait` does: ask again. A lock is
    // one key per lease (`name/<lease>`), so asking again is the same request.
    let deadline = tokio::time::Instant::now() + wait;
    let got = loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, c.lock(name, Some(LockOptions::new().with_lease(lease)))).await {
            Ok(Err(etcd_client::Error::GRpcStatus(s)))
                if s.message() == "Timeout expired" && tokio::time::Instant::now() < deadline =>
            {
                continue
            }
            other => break other,
        }
    };
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

/// When the etcd process serving on `ip` started (its `process_start_time_seconds`, read from
/// the plain-http metrics listener); `None` when it does not answer. A restart changes it.
pub async fn process_start_time(ip: Ipv4Addr) -> Option<f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let get = async {
        let mut s = tokio::net::TcpStream::connect((ip, METRICS_PORT)).await.ok()?;
        s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {ip}\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut body = Vec::new();
        s.read_to_end(&mut body).await.ok()?;
        let text = String::from_utf8_lossy(&body);
        text.lines()
            .find_map(|l| l.strip_prefix("process_start_time_seconds "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    tokio::time::timeout(Duration::from_secs(2), get).await.ok().flatten()
}

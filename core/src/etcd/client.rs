//! [`Access`]: how a caller reaches etcd, and its connect.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use super::{peer_url, EtcdError};
use crate::vocab::{Cluster, PeerIndex, Transport, CLIENT_PORT};

/// Result of a call to etcd.
pub type Result<T, E = EtcdError> = std::result::Result<T, E>;

/// How a caller reaches etcd: the scheme of every URL it makes, and with TLS the CA bundle it
/// trusts and the certificate it presents (etcd runs with client certificate authentication,
/// so every call needs one).
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

    /// https, with the bundle, certificate and key read from these files (the error names the
    /// file that could not be read).
    pub fn tls_files(
        ca: &Path,
        cert: &Path,
        key: &Path,
    ) -> std::result::Result<Self, (std::path::PathBuf, std::io::Error)> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| (p.to_path_buf(), e));
        Ok(Self::tls(&read(ca)?, &read(cert)?, &read(key)?))
    }

    /// The same access, verifying the members' certificates for `name` whatever address is
    /// dialled: a client of the load balancer (`etcd.C.D`, which passes TLS through to a member)
    /// dials the balancer's address and checks the name it was given.
    pub fn with_server_name(mut self, name: &str) -> Self {
        self.tls = self.tls.map(|t| t.domain_name(name));
        self
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// `scheme://host:port`.
    pub fn url(&self, host: impl std::fmt::Display, port: u16) -> String {
        format!("{}://{host}:{port}", self.transport.scheme())
    }

    /// The client URL of the member serving on `ip`.
    pub fn local_url(&self, ip: Ipv4Addr) -> String {
        self.url(ip, CLIENT_PORT)
    }

    /// A peer's client URL through its stable name.
    pub fn client_url(&self, cluster: &Cluster, peer: PeerIndex) -> String {
        super::client_url(self.transport, cluster, peer)
    }

    /// A peer's advertised peer URL (what the member list holds for it).
    pub fn peer_url(&self, cluster: &Cluster, peer: PeerIndex) -> String {
        peer_url(self.transport, cluster, peer)
    }

    /// `opts` with this access's TLS (unchanged in plain http): for a caller that tunes its own
    /// timeouts and connects with [`Access::client`].
    pub fn options(&self, opts: ConnectOptions) -> ConnectOptions {
        match &self.tls {
            Some(t) => opts.with_tls(t.clone()),
            None => opts,
        }
    }

    /// A client of `endpoints` with `opts` (and this access's TLS), without waiting for an
    /// answer: the first call may then wait for a handshake beyond its own timeout, so bound it
    /// as a whole.
    pub async fn client(&self, endpoints: &[String], opts: ConnectOptions) -> Result<Client> {
        Client::connect(endpoints, Some(self.options(opts)))
            .await
            .map_err(|e| EtcdError::Unreachable {
                endpoints: endpoints.join(","),
                detail: e.to_string(),
            })
    }

    /// A client for `endpoints` that has answered once, every call bounded by `timeout`.
    ///
    /// etcd accepts TCP on its client port before it serves (until its member has joined the
    /// cluster), and a TLS handshake there never completes. The connect timeout covers only
    /// TCP, and a call waits for a handshaken connection outside the call timeout, so without
    /// the first answer here a call to a member that is not serving yet would wait forever.
    pub async fn connect(&self, endpoints: &[String], timeout: Duration) -> Result<Client> {
        let who = endpoints.join(",");
        let opts = ConnectOptions::new()
            .with_timeout(timeout)
            .with_connect_timeout(timeout);
        let connect = async {
            let mut c = self.client(endpoints, opts).await?;
            c.status().await.map_err(|e| EtcdError::Unreachable {
                endpoints: who.clone(),
                detail: format!("status: {e}"),
            })?;
            Ok::<_, EtcdError>(c)
        };
        tokio::time::timeout(timeout * 2, connect)
            .await
            .map_err(|_| EtcdError::NotServing {
                endpoints: who.clone(),
                waited: timeout * 2,
            })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{ClusterName, Domain};

    #[test]
    fn urls_follow_the_transport() {
        let c = Cluster::new(
            ClusterName::new("main").unwrap(),
            Domain::new("etcd.internal").unwrap(),
            9,
            3,
        )
        .unwrap();
        let p = c.peer(4).unwrap();
        let plain = Access::plain();
        assert_eq!(plain.client_url(&c, p), "http://peer-4.main.etcd.internal:2379");
        assert_eq!(plain.local_url("127.0.1.4".parse().unwrap()), "http://127.0.1.4:2379");
        assert_eq!(plain.peer_url(&c, p), "http://peer-4.main.etcd.internal:2380");
    }

    #[tokio::test]
    async fn a_silent_endpoint_is_named_within_the_bound() {
        // A listener that accepts and never answers: a member that has not joined yet.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        let url = format!("http://{addr}");
        let t0 = std::time::Instant::now();
        let Err(e) = Access::plain()
            .connect(std::slice::from_ref(&url), Duration::from_millis(200))
            .await
        else {
            panic!("a member that never answers was taken for one that serves");
        };
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        assert!(e.to_string().contains(&url), "{e}");
        hold.abort();
    }
}

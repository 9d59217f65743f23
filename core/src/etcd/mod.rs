//! The etcd port: how every part of steadfast reaches etcd, in one place (node-bootstrap, the
//! operator's CLI and the sandbox all call it).
//! - [`Access`]: plain http, or mutual TLS with a CA bundle, a certificate and its key; the
//!   URLs it makes; [`Access::connect`], which waits for etcd's first answer.
//! - [`keys`]: every key steadfast keeps in etcd.
//! - [`probe`]: one member's status ([`MemberStatus`]), and when its process started.
//! - [`lock`]: the lease-held lock (one backup, one join, one restart at a time).
//! - [`error`]: [`EtcdError`], typed by gRPC status code.
//!
//! Contracts, as for the AWS ports: every call here is bounded (a connect by its timeout and
//! the first answer by twice that; a lock by its wait), and an error names the endpoint or the
//! operation.
//!
//! Only [`keys`] is built without the crate's `etcd` feature (the Lambda never talks to etcd).

pub mod keys;

#[cfg(feature = "etcd")]
mod client;
#[cfg(feature = "etcd")]
pub mod error;
#[cfg(feature = "etcd")]
pub mod lock;
#[cfg(feature = "etcd")]
pub mod probe;

#[cfg(feature = "etcd")]
pub use client::*;
#[cfg(feature = "etcd")]
pub use error::{bounded, Code, EtcdError};
#[cfg(feature = "etcd")]
pub use lock::{lock, Held};
#[cfg(feature = "etcd")]
pub use probe::{probe, probe_url, process_start_time, MemberStatus};

use crate::vocab::{Cluster, PeerIndex, Transport, CLIENT_PORT, PEER_PORT};

/// A peer's client URL through its stable name under `transport`.
pub fn client_url(transport: Transport, cluster: &Cluster, peer: PeerIndex) -> String {
    format!("{}://{}:{CLIENT_PORT}", transport.scheme(), cluster.peer_host(peer))
}

/// A peer's advertised peer URL under `transport`.
pub fn peer_url(transport: Transport, cluster: &Cluster, peer: PeerIndex) -> String {
    format!("{}://{}:{PEER_PORT}", transport.scheme(), cluster.peer_host(peer))
}

/// The peer a peer URL of the member list belongs to.
pub fn peer_of_url(cluster: &Cluster, url: &str) -> Option<PeerIndex> {
    let host = url.split("://").nth(1)?.split(':').next()?;
    cluster.peer_of_record(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{ClusterName, Domain};

    #[test]
    fn peer_urls_read_back_to_their_peer() {
        let c = Cluster::new(
            ClusterName::new("main").unwrap(),
            Domain::new("etcd.internal").unwrap(),
            9,
            3,
        )
        .unwrap();
        let p = c.peer(4).unwrap();
        let url = peer_url(Transport::Tls, &c, p);
        assert_eq!(url, "https://peer-4.main.etcd.internal:2380");
        assert_eq!(peer_of_url(&c, &url), Some(p));
        assert_eq!(peer_of_url(&c, "https://peer-4.other.etcd.internal:2380"), None);
        assert_eq!(peer_of_url(&c, "no url"), None);
    }
}

//! The one look at the running cluster that the CLI and the chaos suite need: every peer's
//! health through its stable name (core's probe, as the region's operator), who leads, and the
//! cluster's id.

use std::net::Ipv4Addr;
use std::time::Duration;

use steadfast_core::etcd::{probe_url, MemberStatus};
use steadfast_core::status::Resolve;
use steadfast_core::vocab::CLIENT_PORT;
use steadfast_core::{Cluster, PeerIndex};

/// One peer as the cluster sees it right now: the address its name resolves to, and what its
/// member says (core's probe; `None`: no answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerHealth {
    pub ip: Option<Ipv4Addr>,
    pub member: Option<MemberStatus>,
}

impl PeerHealth {
    /// Answers, knows a leader, and votes (a learner is not a healthy voting member).
    pub fn healthy(&self) -> bool {
        self.member.as_ref().is_some_and(MemberStatus::healthy)
    }

    pub fn is_leader(&self) -> bool {
        self.member.as_ref().is_some_and(MemberStatus::is_leader)
    }

    pub fn member_id(&self) -> Option<u64> {
        self.member.as_ref().map(|m| m.id)
    }
}

/// Every peer's health, looked at concurrently through its stable name (at most ~0.8 s).
pub async fn health(cluster: &Cluster) -> Vec<PeerHealth> {
    let access = match crate::operator::current().await {
        Ok(op) => op.access().await.ok(),
        Err(_) => None,
    };
    let resolver = crate::status::Dnsmasq {
        timeout: Duration::from_millis(200),
    };
    let access = &access;
    let looks = cluster.peers().map(|p| async move {
        let ip = resolver
            .resolve_a(&cluster.peer_host(p))
            .await
            .ok()
            .and_then(|v| v.first().copied());
        let member = match (ip, access) {
            (Some(ip), Some(a)) => probe_url(a, &a.url(ip, CLIENT_PORT), Duration::from_millis(300), false)
                .await
                .ok(),
            _ => None,
        };
        PeerHealth { ip, member }
    });
    futures::future::join_all(looks).await
}

/// The peer that leads, if any answers.
pub async fn leader(cluster: &Cluster) -> Option<PeerIndex> {
    let h = health(cluster).await;
    h.iter()
        .position(PeerHealth::is_leader)
        .and_then(|i| cluster.peer(i as u32).ok())
}

/// The cluster id, as the first healthy member says.
pub async fn cluster_id(cluster: &Cluster) -> Option<u64> {
    health(cluster)
        .await
        .into_iter()
        .find(PeerHealth::healthy)
        .and_then(|p| p.member)
        .map(|m| m.cluster_id)
}

//! The peers' live status, gathered from moto (groups, instances, volumes), dnsmasq (the DNS
//! answer) and each etcd member (status over its client URL). Runs inside the region's network
//! namespace.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Serialize;
use steadfast_core::aws::AttachmentState;
use steadfast_core::Cluster;

use crate::config::{DNS_ADDR, MOTO_PORT, SUPERVISOR_KEY};
use crate::dnsq::query_a;
use crate::region::{zone_name, Cloud};
use crate::standins::moto::sdk_config_as;
use crate::supervisor::observe::observe;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PeerStatus {
    pub peer: u32,
    pub zone: String,
    pub asg: String,
    pub instance_id: Option<String>,
    /// The instance's state in its group (`Pending:Wait` until its node completes the hook).
    pub lifecycle: Option<String>,
    /// Whether that state is InService (its node completed the lifecycle action).
    pub in_service: bool,
    pub ip: Option<String>,
    pub dns: Option<String>,
    pub volume_id: Option<String>,
    pub attached_to: Option<String>,
    pub member_id: Option<String>,
    pub leader: bool,
    pub healthy: bool,
    pub revision: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub healthy: bool,
    pub peers: Vec<PeerStatus>,
}

async fn etcd_status(ip: &str) -> Option<(u64, u64, i64)> {
    let opts = etcd_client::ConnectOptions::new()
        .with_timeout(Duration::from_millis(800))
        .with_connect_timeout(Duration::from_millis(500));
    let fut = async {
        let mut c = crate::operator::connect_ip(ip, opts).await.ok()?;
        let st = c.status().await.ok()?;
        if !st.errors().is_empty() {
            return None;
        }
        let h = st.header()?;
        Some((h.member_id(), st.leader(), h.revision()))
    };
    tokio::time::timeout(Duration::from_millis(1500), fut)
        .await
        .ok()
        .flatten()
}

/// Gathers every peer's status. When moto cannot be read the cloud's fields stay empty rather
/// than fail (the etcd and DNS columns still show).
pub async fn gather(cluster: &Cluster) -> Status {
    let conf = sdk_config_as(&format!("http://127.0.0.1:{MOTO_PORT}"), SUPERVISOR_KEY).await;
    let cloud = Cloud::new(&conf);
    let zone_id = crate::state::read_state().map(|s| s.zone_id).unwrap_or_default();
    let obs = observe(&cloud, cluster, &zone_id).await.unwrap_or_default();
    let dns: SocketAddr = (DNS_ADDR.parse::<Ipv4Addr>().unwrap_or(Ipv4Addr::LOCALHOST), 53).into();
    let mut peers = Vec::new();
    for p in cluster.peers() {
        let live = obs.live.iter().find(|(_, l)| l.peer == p);
        let instance_id = live.map(|(id, _)| id.clone());
        let ip = live.and_then(|(_, l)| l.ip).map(|ip| ip.to_string());
        let vol = obs
            .volumes
            .iter()
            .find(|v| v.tags.peer() == Some(p.get().to_string().as_str()));
        let attached_to = vol.and_then(|v| {
            v.attachments
                .iter()
                .find(|a| a.state == AttachmentState::Attached)
                .map(|a| a.instance_id.clone())
        });
        let dns_answer = match query_a(dns, &cluster.peer_host(p), Duration::from_millis(500)).await {
            Ok(ips) => Some(ips.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")),
            Err(e) => Some(format!("({e})")),
        };
        let etcd = match &ip {
            Some(ip) => etcd_status(ip).await,
            None => None,
        };
        peers.push(PeerStatus {
            peer: p.get(),
            zone: zone_name(cluster.zone_of(p)),
            asg: cluster.group_name(p),
            instance_id,
            lifecycle: live.map(|(_, l)| l.lifecycle_state.to_string()),
            in_service: live.is_some_and(|(_, l)| l.lifecycle_state.is_in_service()),
            ip,
            dns: dns_answer,
            volume_id: vol.map(|v| v.volume_id.clone()),
            attached_to,
            member_id: etcd.map(|(m, _, _)| format!("{m:x}")),
            leader: etcd.is_some_and(|(m, l, _)| m == l && l != 0),
            healthy: etcd.is_some_and(|(_, l, _)| l != 0),
            revision: etcd.map(|(_, _, r)| r),
        });
    }
    // Healthy: every member answers with a leader, there is one leader, and every instance is in
    // service (its node completed the lifecycle action).
    let healthy = peers.iter().all(|p| p.healthy && p.in_service) && peers.iter().filter(|p| p.leader).count() == 1;
    Status { healthy, peers }
}

fn cell(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

/// The live view's table.
pub fn table(s: &Status) -> String {
    let mut out = format!(
        "{:<7} {:<11} {:<14} {:<21} {:<13} {:<12} {:<12} {:<22} {:<21} {:<17} {:<6} {:<7} {}\n",
        "peer",
        "zone",
        "asg",
        "instance",
        "lifecycle",
        "ip",
        "dns",
        "volume",
        "attached-to",
        "member",
        "leader",
        "health",
        "rev"
    );
    for p in &s.peers {
        out.push_str(&format!(
            "{:<7} {:<11} {:<14} {:<21} {:<13} {:<12} {:<12} {:<22} {:<21} {:<17} {:<6} {:<7} {}\n",
            format!("peer-{}", p.peer),
            p.zone,
            p.asg,
            cell(&p.instance_id),
            cell(&p.lifecycle),
            cell(&p.ip),
            cell(&p.dns),
            cell(&p.volume_id),
            cell(&p.attached_to),
            cell(&p.member_id),
            if p.leader { "*" } else { "" },
            if p.healthy { "ok" } else { "DOWN" },
            p.revision.map(|r| r.to_string()).unwrap_or_else(|| "-".into())
        ));
    }
    let up = s.peers.iter().filter(|p| p.healthy).count();
    out.push_str(&format!(
        "{up}/{} members healthy; cluster {}\n",
        s.peers.len(),
        if s.healthy { "HEALTHY" } else { "not healthy" }
    ));
    out
}

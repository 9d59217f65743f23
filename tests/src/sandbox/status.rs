//! The peers' live status, gathered from moto (groups, instances, volumes), dnsmasq (the DNS
//! answer) and each etcd member (status over its client URL). Runs inside the region's network
//! namespace.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Serialize;
use steadfast_core::aws::is_live_state;
use steadfast_core::vocab::{CLIENT_PORT, TAG_CLUSTER, TAG_PEER};
use steadfast_core::Cluster;

use super::{DNS_ADDR, MOTO_PORT};
use crate::dnsq::query_a;
use crate::moto::sdk_config_for;
use crate::region::{zone_name, Clients};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PeerStatus {
    pub peer: u32,
    pub zone: String,
    pub asg: String,
    pub instance_id: Option<String>,
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
        let mut c = etcd_client::Client::connect([format!("http://{ip}:{CLIENT_PORT}")], Some(opts))
            .await
            .ok()?;
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

/// Gathers every peer's status. Errors talking to moto leave the fields empty rather than fail.
pub async fn gather(cluster: &Cluster) -> Status {
    let conf = sdk_config_for(&format!("http://127.0.0.1:{MOTO_PORT}")).await;
    let clients = Clients::new(&conf);
    let groups = clients.autoscaling.describe_auto_scaling_groups().send().await.ok();
    let instances = clients.ec2.describe_instances().send().await.ok();
    let volumes = clients
        .ec2
        .describe_volumes()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name(format!("tag:{TAG_CLUSTER}"))
                .values(cluster.name().as_str())
                .build(),
        )
        .send()
        .await
        .ok();
    let dns: SocketAddr = (DNS_ADDR.parse::<Ipv4Addr>().unwrap_or(Ipv4Addr::LOCALHOST), 53).into();
    let mut peers = Vec::new();
    for p in cluster.peers() {
        let asg = cluster.group_name(p);
        let instance_id = groups.as_ref().and_then(|g| {
            g.auto_scaling_groups()
                .iter()
                .find(|g| g.auto_scaling_group_name() == Some(asg.as_str()))
                .and_then(|g| {
                    g.instances()
                        .iter()
                        .find(|i| i.lifecycle_state().map(|s| s.as_str()).is_some_and(is_live_state))
                        .and_then(|i| i.instance_id().map(str::to_string))
                })
        });
        let ip = instance_id.as_ref().and_then(|id| {
            instances.as_ref().and_then(|r| {
                r.reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .find(|i| i.instance_id() == Some(id.as_str()))
                    .and_then(|i| i.private_ip_address().map(str::to_string))
            })
        });
        let vol = volumes.as_ref().and_then(|v| {
            v.volumes().iter().find(|v| {
                v.tags()
                    .iter()
                    .any(|t| t.key() == Some(TAG_PEER) && t.value() == Some(p.get().to_string().as_str()))
            })
        });
        let volume_id = vol.and_then(|v| v.volume_id().map(str::to_string));
        let attached_to = vol.and_then(|v| {
            v.attachments()
                .iter()
                .find(|a| a.state().map(|s| s.as_str()) == Some("attached"))
                .and_then(|a| a.instance_id().map(str::to_string))
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
            asg,
            instance_id,
            ip,
            dns: dns_answer,
            volume_id,
            attached_to,
            member_id: etcd.map(|(m, _, _)| format!("{m:x}")),
            leader: etcd.is_some_and(|(m, l, _)| m == l && l != 0),
            healthy: etcd.is_some_and(|(_, l, _)| l != 0),
            revision: etcd.map(|(_, _, r)| r),
        });
    }
    let healthy = peers.iter().all(|p| p.healthy) && peers.iter().filter(|p| p.leader).count() == 1;
    Status { healthy, peers }
}

fn cell(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

/// The live view's table.
pub fn table(s: &Status) -> String {
    let mut out = format!(
        "{:<7} {:<11} {:<14} {:<21} {:<12} {:<12} {:<22} {:<21} {:<17} {:<6} {:<7} {}\n",
        "peer", "zone", "asg", "instance", "ip", "dns", "volume", "attached-to", "member", "leader", "health", "rev"
    );
    for p in &s.peers {
        out.push_str(&format!(
            "{:<7} {:<11} {:<14} {:<21} {:<12} {:<12} {:<22} {:<21} {:<17} {:<6} {:<7} {}\n",
            format!("peer-{}", p.peer),
            p.zone,
            p.asg,
            cell(&p.instance_id),
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

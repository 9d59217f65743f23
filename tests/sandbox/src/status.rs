//! `sandbox status`: core's cluster view ([`steadfast_core::status`]) pointed at the region:
//! moto read as the supervisor (groups, instances, volumes, records), the region's dnsmasq for
//! the names, and each member asked as the region's operator. Runs inside the region's network
//! namespace.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use steadfast_core::aws::sdk::Cloud;
use steadfast_core::etcd::Access;
use steadfast_core::retry::Retry;
use steadfast_core::status::{self, ClusterStatus, Resolve, Sources};
use steadfast_core::Cluster;

use crate::config::DNS_ADDR;
use crate::dnsq::query_a;

/// The region's resolver (dnsmasq, fed from Route 53).
#[derive(Debug, Clone, Copy)]
pub struct Dnsmasq {
    pub timeout: Duration,
}

impl Resolve for Dnsmasq {
    async fn resolve_a(&self, host: &str) -> Result<Vec<Ipv4Addr>, String> {
        let dns: SocketAddr = (DNS_ADDR.parse::<Ipv4Addr>().unwrap_or(Ipv4Addr::LOCALHOST), 53).into();
        query_a(dns, host, self.timeout).await
    }
}

/// The region's cloud, read as the supervisor (never fault-injected).
pub async fn supervisor_cloud() -> Cloud {
    let conf = crate::standins::moto::supervisor_sdk_config().await;
    Cloud::from_conf(&conf, Retry::with_deadline(Duration::from_secs(10)))
}

/// The view of the running region. A part that cannot be read leaves its cells empty and says
/// why in the notes; it never fails the view.
pub async fn gather(cluster: &Cluster) -> ClusterStatus {
    let cloud = supervisor_cloud().await;
    let zone_id = crate::state::read_state().map(|s| s.zone_id).unwrap_or_default();
    let mut notes = Vec::new();
    let access = match crate::operator::current().await {
        Ok(op) => op.access().await,
        Err(e) => Err(e),
    }
    .unwrap_or_else(|e| {
        notes.push(format!("etcd asked in plain http: the operator's access failed: {e}"));
        Access::plain()
    });
    let sources = Sources {
        groups: &cloud.groups,
        instances: &cloud.ec2,
        volumes: &cloud.ec2,
        records: (!zone_id.is_empty()).then_some((&cloud.records, zone_id.as_str())),
        resolver: &Dnsmasq {
            timeout: Duration::from_millis(500),
        },
        access: &access,
        etcd_timeout: Duration::from_millis(700),
    };
    let mut facts = status::gather(cluster, &sources).await;
    facts.notes.extend(notes);
    ClusterStatus::view(cluster, &facts)
}

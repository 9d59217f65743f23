//! The local region's fixed shape: its cluster, the addresses its stand-ins listen on inside the
//! region's network namespace, and where the nodes' names resolve.

use steadfast_core::vocab::PlaceholderNetwork;
use steadfast_core::{Cluster, ClusterName, Domain, PeerIndex};

use crate::error::{Result, SandboxError};

/// The sandbox's cluster: `local`, in zone `steadfast.internal`, 9 peers over 3 zones.
pub const CLUSTER: &str = "local";
pub const DOMAIN: &str = "steadfast.internal";
/// moto's port inside the region's own network namespace.
pub const MOTO_PORT: u16 = 5000;
/// dnsmasq's address inside the namespace (nodes' resolv.conf points here).
pub const DNS_ADDR: &str = "127.0.53.1";
/// cargo lambda watch's port inside the namespace.
pub const LAMBDA_PORT: u16 = 9000;
/// The placeholder network of the sandbox's seeded A records: loopback, so nothing the region
/// does can ever send a packet off this machine (Terraform's default is TEST-NET-1).
pub const PLACEHOLDER_NETWORK: &str = "127.0.255.0/24";

pub fn cluster() -> Result<Cluster> {
    Ok(Cluster::new(ClusterName::new(CLUSTER)?, Domain::new(DOMAIN)?, 9, 3)?)
}

pub fn placeholders() -> Result<PlaceholderNetwork> {
    Ok(PLACEHOLDER_NETWORK.parse()?)
}

/// Writes a resolv.conf that sends every query to the region's dnsmasq; nodes and `sandbox exec`
/// bind-mount it over /etc/resolv.conf in their own mount namespace.
pub fn write_resolv_conf(path: &std::path::Path) -> Result<()> {
    std::fs::write(path, format!("nameserver {DNS_ADDR}\noptions timeout:1 attempts:3\n"))
        .map_err(crate::error::SandboxError::io(format!("write {}", path.display())))
}

/// The peers a `sandbox kill` target names: `peer-N`, or `zone-a|b|c` (`zone-0|1|2`).
pub fn parse_target(cluster: &Cluster, target: &str) -> Result<Vec<PeerIndex>> {
    if let Some(n) = target.strip_prefix("peer-") {
        return Ok(vec![cluster.parse_peer_tag(n)?]);
    }
    let Some(z) = target.strip_prefix("zone-") else {
        return Err(SandboxError::Setup(format!(
            "unknown target {target:?}: use peer-N or zone-a|b|c"
        )));
    };
    let zi = match z.as_bytes() {
        [c @ b'a'..=b'z'] => u32::from(c - b'a'),
        _ => z
            .parse::<u32>()
            .map_err(|_| SandboxError::Setup(format!("unknown zone {z:?}: use zone-a, zone-b or zone-c")))?,
    };
    if zi >= cluster.zone_count() {
        return Err(SandboxError::Setup(format!(
            "unknown zone {z:?}: the cluster has {} zones",
            cluster.zone_count()
        )));
    }
    Ok(cluster.peers_in_zone(zi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_targets() {
        let c = cluster().unwrap();
        let ids = |t: &str| parse_target(&c, t).map(|v| v.iter().map(|p| p.get()).collect::<Vec<_>>());
        assert_eq!(ids("peer-4").unwrap(), vec![4]);
        assert_eq!(ids("zone-b").unwrap(), vec![1, 4, 7]);
        assert_eq!(ids("zone-0").unwrap(), vec![0, 3, 6]);
        for bad in ["peer-9", "peer-x", "zone-d", "zone-3", "zone-", "node-1"] {
            assert!(ids(bad).is_err(), "{bad}");
        }
    }
}

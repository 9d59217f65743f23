//! The local region's fixed shape: its cluster, the addresses its stand-ins listen on inside the
//! region's network namespace, and where the nodes' names resolve.

use steadfast_core::vocab::{defaults, env, EtcdTiming, PlaceholderNetwork};
use steadfast_core::{Cluster, ClusterName, Domain, PeerIndex};

use crate::error::{Result, SandboxError};

/// The sandbox's cluster: `local`, in zone `steadfast.internal`, 9 peers over 3 zones.
pub const CLUSTER: &str = "local";
pub const DOMAIN: &str = "steadfast.internal";
/// moto's port inside the region's own network namespace.
pub const MOTO_PORT: u16 = 5000;
/// Its https port (`--terraform`: the module's buckets refuse plain http, so nodes use it).
pub const MOTO_SSL_PORT: u16 = 5443;
/// dnsmasq's address inside the namespace (nodes' resolv.conf points here).
pub const DNS_ADDR: &str = "127.0.53.1";
/// The client load balancer's address inside the namespace (HAProxy standing in for the
/// module's internal NLB): the client endpoint `etcd.local.steadfast.internal` resolves here.
pub const CLIENT_LB_ADDR: &str = "127.0.60.1";
/// cargo lambda watch's port inside the namespace.
pub const LAMBDA_PORT: u16 = 9000;
/// peer-dns's concurrent execution environments (processes polling the runtime API): one per
/// peer. Losing a zone, or every node, delivers a launch event per peer at once, and Lambda
/// (unreserved concurrency, the module's default) runs them side by side, not one by one.
pub const LAMBDA_INSTANCES: usize = 9;
/// The access key the supervisor and the CLI sign their own calls with: they play the cloud,
/// so the moto launcher's fault injection exempts it (`exempt_access_keys`).
pub const SUPERVISOR_KEY: &str = "sandbox-supervisor";
/// The access key the region's nodes sign with: the moto launcher lets it reach only the
/// services the module's `required_vpc_endpoints` names (`vocab::node_services`), as a node in a
/// subnet without a route out reaches only its VPC's endpoints.
pub const NODE_KEY: &str = "sandbox-node";
/// The placeholder network of the sandbox's seeded A records: loopback, so nothing the region
/// does can ever send a packet off this machine (Terraform's default is TEST-NET-1).
pub const PLACEHOLDER_NETWORK: &str = "127.0.255.0/24";

/// The sandbox's own environment variables (its flags' `env`; node-bootstrap's are in core's
/// vocabulary).
pub mod env_vars {
    /// Names the network namespace and the state directory `/run/steadfast/<name>`.
    pub const NAME: &str = "STEADFAST_SANDBOX_NAME";
    /// Timing profile: `sandbox` or `aws`.
    pub const PROFILE: &str = "STEADFAST_SANDBOX_PROFILE";
    /// Mutual TLS on etcd's ports (`true`, the default, or `false`).
    pub const TLS: &str = "STEADFAST_SANDBOX_TLS";
    /// The nodes' TLS timer (s).
    pub const TLS_SECS: &str = "STEADFAST_SANDBOX_TLS_SECS";
    /// The nodes' backup timer (s; 0: off).
    pub const BACKUP_SECS: &str = "STEADFAST_SANDBOX_BACKUP_SECS";
    /// The EventBridge sweep's schedule (s).
    pub const SWEEP_SECS: &str = "STEADFAST_SANDBOX_SWEEP_SECS";
    /// How long `up` waits for a healthy region (s).
    pub const UP_TIMEOUT_SECS: &str = "STEADFAST_SANDBOX_UP_TIMEOUT_SECS";
    /// How long `up` waits without any progress before it says who waits on what and fails (s).
    pub const STALL_SECS: &str = "STEADFAST_SANDBOX_STALL_SECS";
    /// Where a failed or interrupted bring-up's evidence goes.
    pub const EVIDENCE: &str = "STEADFAST_SANDBOX_EVIDENCE";
    /// The LAUNCHING hook's heartbeat timeout (s), in the region and on every node.
    pub const HOOK_TIMEOUT_SECS: &str = "STEADFAST_SANDBOX_HOOK_TIMEOUT_SECS";
    /// `peer-N`: the resolver never learns that peer's name's new address.
    pub const HOLD_DNS: &str = "STEADFAST_SANDBOX_HOLD_DNS";
    /// The region as Terraform makes it (`true`), or as the sandbox does.
    pub const TERRAFORM: &str = "STEADFAST_SANDBOX_TERRAFORM";
    /// Where `sandbox soak` writes its report.
    pub const SOAK_OUT: &str = "STEADFAST_SOAK_OUT";
    /// Where `sandbox chaos` writes its report.
    pub const CHAOS_OUT: &str = "STEADFAST_CHAOS_OUT";
}

/// `STEADFAST_SANDBOX_TLS_SECS` (a scenario's environment names it).
pub const SANDBOX_TLS_SECS: &str = env_vars::TLS_SECS;

pub fn cluster() -> Result<Cluster> {
    Ok(Cluster::new(ClusterName::new(CLUSTER)?, Domain::new(DOMAIN)?, 9, 3)?)
}

/// etcd's heartbeat interval and election timeout for the region's nodes: the module's defaults,
/// or `STEADFAST_ETCD_HEARTBEAT_MS` / `STEADFAST_ETCD_ELECTION_MS` from the sandbox's own
/// environment (the same variables node-bootstrap reads), passed on to every node.
pub fn etcd_timing() -> Result<EtcdTiming> {
    etcd_timing_from(|k| std::env::var(k).ok())
}

fn etcd_timing_from(var: impl Fn(&str) -> Option<String>) -> Result<EtcdTiming> {
    let ms = |name: &str, default: u32| -> Result<u32> {
        match var(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|e| SandboxError::Setup(format!("{name}={v:?}: not a number of milliseconds: {e}"))),
        }
    };
    let hb = ms(env::ETCD_HEARTBEAT_MS, defaults::ETCD_HEARTBEAT_MS)?;
    let el = ms(env::ETCD_ELECTION_MS, defaults::ETCD_ELECTION_MS)?;
    EtcdTiming::new(hb, el)
        .map_err(|e| SandboxError::Setup(format!("{} / {}: {e}", env::ETCD_HEARTBEAT_MS, env::ETCD_ELECTION_MS)))
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

    #[test]
    fn etcd_timing_from_the_environment() {
        assert_eq!(etcd_timing_from(|_| None).unwrap(), EtcdTiming::default());
        let set = |hb: &'static str, el: &'static str| {
            move |k: &str| match k {
                env::ETCD_HEARTBEAT_MS => Some(hb.to_string()),
                env::ETCD_ELECTION_MS => Some(el.to_string()),
                _ => None,
            }
        };
        assert_eq!(
            etcd_timing_from(set("200", "1000")).unwrap(),
            EtcdTiming::new(200, 1000).unwrap()
        );
        let bad = etcd_timing_from(set("300", "1000")).unwrap_err().to_string();
        assert!(bad.contains(env::ETCD_ELECTION_MS), "{bad}");
        let nan = etcd_timing_from(set("fast", "1000")).unwrap_err().to_string();
        assert!(nan.contains(env::ETCD_HEARTBEAT_MS), "{nan}");
    }
}

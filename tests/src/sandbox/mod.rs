//! The local region (`sandbox`): the whole system on one machine.
//!
//! - [`state`]: the sandbox's name, its network namespace, state directory and the files the
//!   supervisor shares with the CLI (`state.json`, `nodes.json`, `events.jsonl`).
//! - [`events`]: the machine-readable event log (JSON lines with timestamps).
//! - [`supervisor`]: runs inside the region's network namespace: moto, dnsmasq + the Route 53
//!   syncer, peer-dns under `cargo lambda watch`, the EventBridge stand-in, the hypervisor,
//!   IMDSv2 stand-ins and one node (`node-bootstrap run` + etcd) per instance.
//! - [`status`]: the peers' live status (moto, DNS, etcd), as a table or JSON.
//! - [`teardown`]: `down`, which also works after a crash.

pub mod events;
pub mod state;
pub mod status;
pub mod supervisor;
pub mod teardown;

use steadfast_core::{Cluster, ClusterName, Domain};

use crate::error::Result;

/// The sandbox's cluster: `local`, in zone `steadfast.internal`, 9 peers over 3 zones.
pub const CLUSTER: &str = "local";
pub const DOMAIN: &str = "steadfast.internal";
/// moto's port inside the region's own network namespace.
pub const MOTO_PORT: u16 = 5000;
/// dnsmasq's address inside the namespace (nodes' resolv.conf points here).
pub const DNS_ADDR: &str = "127.0.53.1";
/// cargo lambda watch's port inside the namespace.
pub const LAMBDA_PORT: u16 = 9000;

/// Writes a resolv.conf that sends every query to the region's dnsmasq; nodes and `sandbox exec`
/// bind-mount it over /etc/resolv.conf in their own mount namespace.
pub fn write_resolv_conf(path: &std::path::Path) -> Result<()> {
    std::fs::write(path, format!("nameserver {DNS_ADDR}\noptions timeout:1 attempts:3\n"))
        .map_err(crate::error::SandboxError::io(format!("write {}", path.display())))
}

pub fn cluster() -> Result<Cluster> {
    Ok(Cluster::new(ClusterName::new(CLUSTER)?, Domain::new(DOMAIN)?, 9, 3)?)
}

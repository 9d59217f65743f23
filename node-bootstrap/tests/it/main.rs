//! node-bootstrap's integration tests:
//! - [`emulator`]: `prepare` against moto, IMDSv2 stand-ins and real loop devices (root only);
//! - [`hardening`]: the failure review's fixes under the lifecycle-hook stand-in (retries and
//!   heartbeats, no churn on refusals, ownership, growth) (root only);
//! - [`ready`]: readiness against a real etcd (a NOSPACE alarm included), the lifecycle action
//!   through SDK mocks and the in-memory cloud (reboots).
//! - [`backup`]: `node-bootstrap backup` against a real etcd under write load and moto's S3 and
//!   KMS: verified, restorable with every acknowledged key, memory flat as the database grows.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on what they did not expect

mod backup;
mod emulator;
mod hardening;
mod ready;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use steadfast_core::{Cluster, ClusterName, Domain};
use steadfast_sandbox::paths;

/// The node-bootstrap binary cargo built for these tests.
const NB: &str = env!("CARGO_BIN_EXE_node-bootstrap");

/// The 3-peer, 3-zone cluster the stage tests run.
fn cluster() -> Cluster {
    Cluster::new(
        ClusterName::new("main").unwrap(),
        Domain::new("etcd.internal").unwrap(),
        3,
        3,
    )
    .unwrap()
}

/// An etcd process and its data dir (removed when the test ends).
#[derive(Debug)]
pub struct Etcd(pub Child, #[allow(dead_code)] Option<tempfile::TempDir>);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A one-member etcd on `ip` in a fresh data dir.
pub fn start_etcd(ip: Ipv4Addr) -> Etcd {
    start_etcd_with(ip, &[])
}

/// The same, with more flags.
pub fn start_etcd_with(ip: Ipv4Addr, extra: &[&str]) -> Etcd {
    let dir = tempfile::tempdir().unwrap();
    let mut e = start_etcd_on(ip, "solo", &dir.path().join("data"), extra);
    e.1 = Some(dir);
    e
}

/// A one-member etcd named `name` on `ip` over `data_dir` (fresh, or restored).
pub fn start_etcd_on(ip: Ipv4Addr, name: &str, data_dir: &Path, extra: &[&str]) -> Etcd {
    start_member(ip, name, data_dir, &format!("{name}=http://{ip}:2380"), extra)
}

/// A member named `name` on `ip` over `data_dir`, of the initial cluster `initial`.
pub fn start_member(ip: Ipv4Addr, name: &str, data_dir: &Path, initial: &str, extra: &[&str]) -> Etcd {
    let bin = paths::etcd_bin_dir().expect("etcd (make deps)").join("etcd");
    let child = Command::new(bin)
        .env("ETCD_NAME", name)
        .env("ETCD_DATA_DIR", data_dir)
        .env("ETCD_LISTEN_CLIENT_URLS", format!("http://{ip}:2379"))
        .env("ETCD_ADVERTISE_CLIENT_URLS", format!("http://{ip}:2379"))
        .env("ETCD_LISTEN_PEER_URLS", format!("http://{ip}:2380"))
        .env("ETCD_INITIAL_ADVERTISE_PEER_URLS", format!("http://{ip}:2380"))
        .env("ETCD_INITIAL_CLUSTER", initial)
        .env("ETCD_INITIAL_CLUSTER_TOKEN", "test")
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Etcd(child, None)
}

//! node-bootstrap's integration tests:
//! - [`emulator`]: `prepare` against moto, IMDSv2 stand-ins and real loop devices (root only);
//! - [`hardening`]: the failure review's fixes under the lifecycle-hook stand-in (retries and
//!   heartbeats, no churn on refusals, ownership, growth) (root only);
//! - [`ready`]: readiness against a real etcd (a NOSPACE alarm included), the lifecycle action
//!   through SDK mocks and the in-memory cloud (reboots).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on what they did not expect

mod emulator;
mod hardening;
mod ready;

use steadfast_core::{Cluster, ClusterName, Domain};

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

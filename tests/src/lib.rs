//! The local region: real third-party parts standing in for AWS on one machine.
//!
//! # Layout
//! - [`paths`]: where the project's venv, etcd binaries and workspace live.
//! - [`moto`]: a moto server on a free loopback port, stopped on drop.
//! - [`region`]: stands the region up in moto the way Terraform does, from `steadfast_core`'s
//!   vocabulary: VPC `127.0.0.0/16`, one subnet per zone, private zone with SRV and seeded A
//!   records, tagged volumes, one single-instance ASG per peer.
//! - [`imds`]: an IMDSv2 stand-in per instance (token flow enforced).
//! - [`hypervisor`]: presents attached volumes as loop devices under a node's sysfs/dev root.
//! - [`lambda`]: peer-dns under `cargo lambda watch` (runtime + invoke APIs on loopback).
//! - [`privileges`]: checks for root, loop devices and tools; loud skips.
//! - [`stage`]: moto + hypervisor + nodes booted with `node-bootstrap prepare` in their own
//!   mount namespace (node-bootstrap's emulator tests and `bench`).
//! - [`dnsq`]: a minimal DNS A query (the sandbox's "visible in DNS" checks).
//! - [`sandbox`]: the local region: supervisor, status, event log, teardown (binary `sandbox`).
//! - [`error`]: the crate's error enum.

pub mod dnsq;
pub mod error;
pub mod hypervisor;
pub mod imds;
pub mod lambda;
pub mod moto;
pub mod paths;
pub mod privileges;
pub mod region;
pub mod sandbox;
pub mod stage;

pub use error::{Result, SandboxError};

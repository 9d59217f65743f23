//! The local region: real third-party parts standing in for AWS on one machine, the supervisor
//! that plays the cloud around them, and the harness other crates' tests use.
//!
//! # Layout
//! - [`standins`]: one module per AWS stand-in: [`standins::moto`] (EC2, Auto Scaling, Route 53),
//!   [`standins::imds`] (IMDSv2 per instance), [`standins::hypervisor`] (loop devices presented
//!   by EBS serial), [`standins::lambda`] (peer-dns under `cargo lambda watch`),
//!   [`standins::dnsmasq`] (the resolver, fed from Route 53), and [`standins::http`] (the small
//!   HTTP/1.1 client the stand-ins are driven with).
//! - [`region`]: stands the region up in moto the way Terraform does, from `steadfast_core`'s
//!   vocabulary.
//! - [`node`]: the one node launcher: node-bootstrap in a mount namespace of its own, with its
//!   identity, devices and name resolution.
//! - [`harness`]: a stage for tests and the bench: moto + region + hypervisor + nodes.
//! - [`operator`]: how the sandbox reaches etcd, as an operator would: with TLS, a client
//!   certificate issued from the cluster's CA in the region's Secrets Manager.
//! - [`supervisor`]: the running region (`sandbox up`), as small reconcilers over one typed
//!   observation: fleet, EventBridge, DNS mirror, hypervisor; and the typed event log.
//! - [`state`], [`status`], [`teardown`]: what the CLI shares with the supervisor, the live
//!   status, and `down`.
//! - [`chaos`]: `sandbox chaos`: scenarios under client load, the recovery report and charts.
//! - [`profile`]: timing profiles: `sandbox` (as fast as the stand-ins are) and `aws` (the
//!   delays a real region adds, each a knob with its source).
//! - [`config`]: the sandbox's cluster and fixed addresses.
//! - [`paths`], [`privileges`], [`dnsq`], [`error`]: where things live, what root-only tests
//!   check first, a minimal DNS client, the crate's error enum.

#![recursion_limit = "256"]

pub mod chaos;
pub mod cli;
pub mod config;
pub mod dnsq;
pub mod error;
pub mod evidence;
pub mod harness;
pub mod node;
pub mod operator;
pub mod paths;
pub mod privileges;
pub mod profile;
pub mod region;
pub mod standins;
pub mod state;
pub mod status;
pub mod supervisor;
pub mod teardown;

pub use error::{Result, SandboxError};

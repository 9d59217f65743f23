//! steadfast's core: the cluster's vocabulary, the pure planners, and narrow ports over AWS.
//!
//! # Layout
//! - [`vocab`]: cluster, peer, zone, record, tag, hook, env-variable, event and step names; the
//!   placeholder scheme; validation of every input. The names Terraform shares come from
//!   `terraform/modules/etcd-cluster/vocab.json` (the build script generates them).
//! - [`records`]: `plan_peer_records`, the one planner of the `peer-N` A records (which live
//!   instance holds each slot, and the record changes that needs; pure).
//! - [`aws`]: the typed cloud ([`aws::model`]: lifecycle, instance, attachment and volume
//!   states, groups, instances, volumes), the ports handlers depend on (`Records`, `Groups`,
//!   `Instances`, `Volumes`, `Metrics`, `Objects`, `Secrets`), their AWS SDK adapters in [`aws::sdk`], and (feature `fake`) one
//!   stateful in-memory cloud for tests, [`aws::fake`].
//! - [`backup`]: the backup planners (`plan_retention`; pure).
//! - [`tls`]: the cluster's CA in Secrets Manager (created once, create-if-absent), the
//!   certificates issued from it, `plan_renewal` and `plan_rotation` (pure).
//! - [`etcd`]: the etcd port (its keys always; the client side with feature `etcd`): [`etcd::Access`] (plain or mutual TLS) and its
//!   connect, every key steadfast keeps in etcd, the member probe, the lease-held lock, and
//!   typed etcd errors.
//! - [`status`] (feature `etcd`): the cluster view, one row per peer from the cloud, the
//!   resolver and etcd; a table or JSON.
//! - [`report`]: the messages steadfast's processes pass each other (prepare, backup and TLS
//!   reports), each one struct that writes and reads it.
//! - [`clock`]: the one clock (seconds since the epoch).
//! - [`retry`]: deadline-bounded retries with backoff and jitter for AWS calls.
//! - [`poll`]: waiting for a condition with backoff and a deadline.
//! - [`error`]: the crate's error enum; keeps AWS error codes.

pub mod aws;
pub mod backup;
pub mod clock;
pub mod error;
pub mod etcd;
pub mod poll;
pub mod records;
pub mod report;
pub mod retry;
#[cfg(feature = "etcd")]
pub mod status;
pub mod tls;
pub mod vocab;

pub use error::{Error, Result};
pub use vocab::{Cluster, ClusterName, Domain, PeerIndex, Transport};

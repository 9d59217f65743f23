//! steadfast's core: the cluster's vocabulary, the pure planners, and narrow traits over AWS.
//!
//! # Layout
//! - [`vocab`]: cluster, peer, zone, record and tag names; validation of every input. The only
//!   place that formats a name or a tag.
//! - [`records`]: `plan_records`, desired `peer-N` addresses vs. Route 53 -> UPSERTs (pure).
//! - [`slots`]: `plan_slots`, which live instance holds each peer's slot (pure).
//! - [`aws`]: the traits handlers depend on (`Dns`, `Groups`, `Compute`) and, in [`aws::sdk`],
//!   their adapters over the AWS SDK.
//! - [`retry`]: deadline-bounded retries with backoff and jitter.
//! - [`error`]: the crate's error enum; keeps AWS error codes.

pub mod aws;
pub mod error;
pub mod records;
pub mod retry;
pub mod slots;
pub mod vocab;

pub use error::{Error, Result};
pub use vocab::{Cluster, ClusterName, Domain, PeerIndex, Transport};

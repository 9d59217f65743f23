//! node-bootstrap: runs on every node before etcd. It claims exactly this peer's EBS volume,
//! never formats a volume that ever held data, never lets etcd start on an unmounted data dir,
//! and reports ready only when the member is healthy and caught up.
//!
//! # Layout
//! - [`config`]: flags and `STEADFAST_*` environment variables (clap), validated into a
//!   `NodeConfig`.
//! - [`identity`]: IMDSv2 identity; cluster and peer from the instance's tags.
//! - [`volume`]: the peer's volume: find it, fence and attach it (`plan_attach`), its device by
//!   EBS serial, its filesystem (`plan_filesystem`: format / check / grow / refuse), the disk
//!   tools.
//! - [`datadir`]: mount at the data dir (`plan_mount`), ownership, freshness.
//! - [`dns`]: the DNS self-check (and all names on a fresh data dir).
//! - [`recovery`]: a fresh data dir gets its data (`plan_restore`): join the quorum as a
//!   learner, restore the cluster's snapshot, bootstrap a new cluster, wait or refuse.
//! - [`tls`]: the cluster's CA (read, or created by the first node), this peer's certificate
//!   and the CA bundle (`prepare`'s TLS step), how the node reaches etcd (`tls::access`: plain,
//!   or TLS with those files; the etcd port itself is core's `etcd`), and the TLS timer's run:
//!   renewal, a restart one peer at a time when the trusted CAs change, reports and metrics.
//! - [`envfile`]: etcd's environment file.
//! - [`fsx`]: files written atomically (with their mode and owner set before any contents).
//! - [`prepare`]: the steps above in order, each a named `Step`, timed and logged once.
//! - [`ready`]: real health + catch-up via `etcd-client`; a learner promoted once caught up.
//! - [`lifecycle`]: the launch action: heartbeats while there is progress, retries of transient
//!   failures, ABANDON when another instance could help, the refusal metric, CONTINUE when
//!   ready, nothing on a reboot.
//! - [`progress`]: when the node last moved on and what it waits on; `plan_wait`, the pure rule
//!   that keeps the launch action alive, abandons it, or lets it run out.
//! - [`run`]: start etcd, supervise it, forward signals.
//! - [`backup`]: the backup timer's run: the leader streams a snapshot to S3, reads it back,
//!   verifies it, applies retention; every member publishes the newest verified one's age.
//! - [`error`]: the crate's error enum.

pub mod backup;
pub mod config;
pub mod datadir;
pub mod dns;
pub mod envfile;
pub mod error;
pub mod fsx;
pub mod identity;
pub mod lifecycle;
pub mod prepare;
pub mod progress;
pub mod ready;
pub mod recovery;
pub mod run;
pub mod tls;
pub mod volume;

pub use error::{BootstrapError, Result};

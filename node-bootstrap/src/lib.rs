//! node-bootstrap: runs on every node before etcd. It claims exactly this peer's EBS volume,
//! never formats a volume that ever held data, never lets etcd start on an unmounted data dir,
//! and reports ready only when the member is healthy and caught up.
//!
//! # Layout
//! - [`config`]: flags and `STEADFAST_*` environment variables (clap).
//! - [`identity`]: IMDSv2 identity; cluster and peer from the instance's tags.
//! - [`attach`]: `plan_attach` (pure) and the fence-then-attach loop.
//! - [`device`]: the block device by EBS serial under a configurable sysfs/dev root.
//! - [`format`]: `plan_format` (pure) over a `blkid -p` probe.
//! - [`disk`]: blkid, mkfs.ext4, e2fsck, resize2fs, mount; mountinfo.
//! - [`dns`]: the DNS self-check (and all names on a fresh data dir).
//! - [`envfile`]: etcd's environment file, written atomically.
//! - [`prepare`]: the steps above in order, each logged with its duration.
//! - [`ready`]: real health + catch-up via `etcd-client`; CompleteLifecycleAction.
//! - [`run`]: start etcd, supervise it, forward signals.
//! - [`error`]: the crate's error enum.

pub mod attach;
pub mod config;
pub mod device;
pub mod disk;
pub mod dns;
pub mod envfile;
pub mod error;
pub mod format;
pub mod identity;
pub mod prepare;
pub mod ready;
pub mod run;

pub use error::{BootstrapError, Result};

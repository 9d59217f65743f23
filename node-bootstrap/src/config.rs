//! Flags and environment variables (every flag has an `env`). Names never start with `ETCD_`:
//! etcd reads those itself.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "node-bootstrap",
    version,
    about = "Claims this peer's EBS volume, mounts it safely and hands off to etcd"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Before etcd: identity, volume (fence + attach), device, safe format, mount, DNS, env file.
    Prepare(Opts),
    /// After etcd starts: wait for real health, then complete the lifecycle action.
    Ready(Opts),
    /// prepare, start etcd with that environment, ready, then wait on etcd and forward signals.
    Run(RunOpts),
}

#[derive(Debug, Clone, Args)]
pub struct Opts {
    /// The private hosted zone's domain D (peers are peer-N.<cluster>.D).
    #[arg(long, env = "STEADFAST_DOMAIN")]
    pub domain: String,
    /// Number of peers (odd, >= 3).
    #[arg(long, env = "STEADFAST_PEER_COUNT", default_value_t = 9)]
    pub peer_count: u32,
    /// Number of availability zones the peers are spread over.
    #[arg(long, env = "STEADFAST_ZONE_COUNT", default_value_t = 3)]
    pub zone_count: u32,
    /// Where the volume is mounted; etcd's data dir.
    #[arg(long, env = "STEADFAST_DATA_DIR", default_value = "/var/lib/etcd")]
    pub data_dir: PathBuf,
    /// etcd's environment file, written atomically by prepare.
    #[arg(long, env = "STEADFAST_ETCD_ENV_FILE", default_value = "/run/steadfast/etcd.env")]
    pub env_file: PathBuf,
    /// User that owns the data dir (etcd's user); unset: leave ownership alone.
    #[arg(long, env = "STEADFAST_ETCD_USER")]
    pub etcd_user: Option<String>,
    /// Lifecycle hook to complete (CONTINUE) once etcd is ready; unset: complete nothing.
    #[arg(long, env = "STEADFAST_LIFECYCLE_HOOK")]
    pub lifecycle_hook: Option<String>,
    /// How long a volume may stay attached to a dead instance before it is force-detached.
    #[arg(long, env = "STEADFAST_DETACH_GRACE_SECS", default_value_t = 60)]
    pub detach_grace_secs: u64,
    /// Deadline for the volume to be attached here (fencing included).
    #[arg(long, env = "STEADFAST_ATTACH_TIMEOUT_SECS", default_value_t = 300)]
    pub attach_timeout_secs: u64,
    /// Deadline for the block device to appear after the attach.
    #[arg(long, env = "STEADFAST_DEVICE_TIMEOUT_SECS", default_value_t = 120)]
    pub device_timeout_secs: u64,
    /// Deadline for this peer's name to resolve to this instance (all names on a fresh volume).
    #[arg(long, env = "STEADFAST_DNS_TIMEOUT_SECS", default_value_t = 300)]
    pub dns_timeout_secs: u64,
    /// Deadline for etcd to become healthy and caught up (ready).
    #[arg(long, env = "STEADFAST_READY_TIMEOUT_SECS", default_value_t = 600)]
    pub ready_timeout_secs: u64,
    /// Deadline of each AWS operation, retries included.
    #[arg(long, env = "STEADFAST_AWS_DEADLINE_SECS", default_value_t = 30)]
    pub aws_deadline_secs: u64,
    /// Root under which sys/block and dev are read (the sandbox presents its own devices).
    #[arg(long, env = "STEADFAST_DEV_ROOT", default_value = "/")]
    pub dev_root: PathBuf,
    /// Device name given to AttachVolume (on Nitro the device is found by serial anyway).
    #[arg(long, env = "STEADFAST_DEVICE_NAME", default_value = "/dev/sdf")]
    pub device_name: String,
    /// Peer and client TLS. Not implemented yet: `true` is refused rather than silently ignored.
    #[arg(long, env = "STEADFAST_TLS", default_value_t = false, action = clap::ArgAction::Set)]
    pub tls: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RunOpts {
    #[command(flatten)]
    pub opts: Opts,
    /// The etcd binary `run` starts.
    #[arg(long, env = "STEADFAST_ETCD_BIN", default_value = "etcd")]
    pub etcd_bin: PathBuf,
}

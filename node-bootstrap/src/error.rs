//! node-bootstrap's one error type. Every refusal names the thing it refused and why; AWS errors
//! keep their codes (through `steadfast_core::Error`).

use std::path::PathBuf;

pub type Result<T, E = BootstrapError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Aws(#[from] steadfast_core::Error),

    #[error("instance metadata (IMDSv2): {0}")]
    Imds(String),

    #[error("instance {instance} has no {tag} tag; node-bootstrap only runs on steadfast peer instances")]
    MissingTag { instance: String, tag: &'static str },

    #[error("no volume tagged {cluster_tag}={cluster} {peer_tag}={peer}")]
    NoVolume {
        cluster: String,
        peer: u32,
        cluster_tag: &'static str,
        peer_tag: &'static str,
    },

    #[error("{count} volumes are tagged for cluster {cluster} peer {peer} ({ids}); refusing to guess which one holds its data")]
    SeveralVolumes {
        cluster: String,
        peer: u32,
        count: usize,
        ids: String,
    },

    #[error("volume {volume} is in {volume_az} but this instance is in {instance_az}; an EBS volume can only attach in its own zone")]
    WrongZone {
        volume: String,
        volume_az: String,
        instance_az: String,
    },

    #[error("volume {volume} is attached to {holder}, which is {state}: refusing to attach it here (two instances must never serve one peer)")]
    HeldByLiveInstance {
        volume: String,
        holder: String,
        state: String,
    },

    #[error("{what} did not happen within {secs} s: {detail}")]
    Timeout {
        what: &'static str,
        secs: u64,
        detail: String,
    },

    #[error("no block device for volume {volume} under {root}: {detail}")]
    NoDevice {
        volume: String,
        root: PathBuf,
        detail: String,
    },

    #[error("DATA LOSS DETECTED: the data on volume {volume} is gone and cannot be brought back by itself: {why}. etcd is not started and the volume is left as it is")]
    DataLoss { volume: String, why: String },

    #[error("snapshot {key}: {why}")]
    Snapshot { key: String, why: String },

    #[error("volume {volume} ({device}) holds {found}, not this peer's ext4 filesystem labelled {expected}; refusing to touch it")]
    ForeignFilesystem {
        volume: String,
        device: String,
        found: String,
        expected: String,
    },

    #[error("{command} failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} is already a mount point of {device}, not of {expected}; refusing to mount over it")]
    MountedElsewhere {
        path: PathBuf,
        device: String,
        expected: String,
    },

    #[error("{name} resolves to {found}, not to this instance's address {expected} (waited {secs} s)")]
    DnsMismatch {
        name: String,
        found: String,
        expected: String,
        secs: u64,
    },

    /// A call to etcd failed (typed by its gRPC status code).
    #[error("etcd: {0}")]
    Etcd(#[from] steadfast_core::etcd::EtcdError),

    /// The cluster is not ready for this step yet (another peer joins, no quorum answers, a
    /// plan says wait): the reason. Looked at again.
    #[error("not yet: {0}")]
    NotYet(String),

    /// The node waited on the same thing, getting nowhere, for two thirds of the lifecycle
    /// hook's timeout (`progress::plan_wait`): what it waited on.
    #[error("{why}")]
    Stalled { why: String },

    /// etcd's process ended before it was ready.
    #[error("etcd exited with {status} {after_ms} ms after start, before it was ready")]
    EtcdExited { status: String, after_ms: u64 },

    #[error("{0}")]
    Config(String),
}

/// What a failure calls for (DESIGN decision 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// It may pass on its own (a dead holder that has not let go yet, DNS not converged, an AWS
    /// blip, a quorum not there yet): try again on this node, heartbeating the hook.
    Retry,
    /// Only another instance can help (this host's devices or metadata misbehave): abandon the
    /// launch at once so the group replaces it.
    Abandon,
    /// A new instance would only repeat it (data loss detected, a foreign filesystem, the wrong
    /// zone, missing tags, bad configuration, no permission): keep this instance, say why,
    /// raise the metric, and let the hook time out once. No churn.
    Refuse,
}

impl BootstrapError {
    /// Which of the three this failure is.
    pub fn disposition(&self) -> Disposition {
        use BootstrapError as E;
        match self {
            E::Aws(e) if e.is_retryable() => Disposition::Retry,
            E::Aws(_) => Disposition::Refuse,
            E::Timeout { .. } | E::DnsMismatch { .. } | E::Etcd(_) | E::NotYet(_) | E::EtcdExited { .. } => {
                Disposition::Retry
            }
            // A running instance serving this peer: two must never (DESIGN decision 3), and a
            // new instance would meet the same holder.
            E::HeldByLiveInstance { .. }
            | E::DataLoss { .. }
            | E::Snapshot { .. }
            | E::ForeignFilesystem { .. }
            | E::WrongZone { .. }
            | E::NoVolume { .. }
            | E::SeveralVolumes { .. }
            | E::MissingTag { .. }
            | E::MountedElsewhere { .. }
            | E::Config(_) => Disposition::Refuse,
            E::Command { command, .. } if command.starts_with("e2fsck") => Disposition::Refuse,
            // Another instance may help: a new address, a new launch event, another host.
            E::Stalled { .. } => Disposition::Abandon,
            E::Imds(_) | E::NoDevice { .. } | E::Command { .. } | E::Io { .. } => Disposition::Abandon,
        }
    }

    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| BootstrapError::Io { path, source }
    }
}

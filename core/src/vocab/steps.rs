//! The named steps of a node's bootstrap. node-bootstrap times and logs each step under its
//! name (the `step` field of its JSON log lines); the sandbox's event log (`node.<step>`), the
//! bench and the chaos report read the same enum, never a string of their own.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// IMDSv2: instance id, zone, region, address.
    Identity,
    /// Cluster and peer from the instance's tags.
    Tags,
    /// The peer's one volume, in this zone.
    FindVolume,
    /// Fence, then attach (waits on a dead holder; force-detaches after the grace period).
    Attach,
    /// The block device, by EBS serial.
    Device,
    /// Format a provably blank volume, or check (and grow) ours; refuse anything else.
    Filesystem,
    /// Mount at the data dir; ownership and mode.
    Mount,
    /// The DNS self-check.
    Dns,
    /// etcd's environment file.
    EnvFile,
    /// All of prepare (its report).
    Prepared,
    /// etcd started (`run`).
    EtcdStarted,
    /// The member is healthy and caught up.
    Ready,
    /// The lifecycle action completed (or abandoned).
    Lifecycle,
    /// A heartbeat kept the lifecycle action alive.
    Heartbeat,
    /// etcd exited (`run`).
    EtcdExited,
    /// node-bootstrap failed; the error says why.
    Failed,
}

impl Step {
    pub const ALL: [Step; 16] = [
        Step::Identity,
        Step::Tags,
        Step::FindVolume,
        Step::Attach,
        Step::Device,
        Step::Filesystem,
        Step::Mount,
        Step::Dns,
        Step::EnvFile,
        Step::Prepared,
        Step::EtcdStarted,
        Step::Ready,
        Step::Lifecycle,
        Step::Heartbeat,
        Step::EtcdExited,
        Step::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Identity => "identity",
            Step::Tags => "tags",
            Step::FindVolume => "find-volume",
            Step::Attach => "attach",
            Step::Device => "device",
            Step::Filesystem => "filesystem",
            Step::Mount => "mount",
            Step::Dns => "dns",
            Step::EnvFile => "env-file",
            Step::Prepared => "prepared",
            Step::EtcdStarted => "etcd-started",
            Step::Ready => "ready",
            Step::Lifecycle => "lifecycle",
            Step::Heartbeat => "heartbeat",
            Step::EtcdExited => "etcd-exited",
            Step::Failed => "failed",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Step {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Step::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown step {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for st in Step::ALL {
            assert_eq!(st.as_str().parse::<Step>().unwrap(), st);
            assert_eq!(serde_json::to_value(st).unwrap(), st.as_str());
        }
        assert!("attached".parse::<Step>().is_err());
    }
}

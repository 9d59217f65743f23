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
    /// TLS: the cluster's CA (created by the first node to need it), this peer's certificate
    /// and the CA bundle on disk.
    Tls,
    /// A fresh data dir: what the cluster, the other volumes and the backups say decides how
    /// this member gets its data (`plan_restore`: join, restore, new cluster, wait, refuse).
    Recovery,
    /// Added back to the cluster as a learner (the old member removed), one peer at a time.
    Heal,
    /// The data dir restored from a verified snapshot (the same one for every peer).
    Restore,
    /// etcd's environment file.
    EnvFile,
    /// All of prepare (its report).
    Prepared,
    /// etcd started (`run`).
    EtcdStarted,
    /// A learner that caught up was promoted to a voting member.
    Promote,
    /// The member is healthy and caught up.
    Ready,
    /// The lifecycle action completed (or abandoned).
    Lifecycle,
    /// A heartbeat kept the lifecycle action alive.
    Heartbeat,
    /// etcd exited (`run`).
    EtcdExited,
    /// `backup`: a snapshot streamed to S3, read back and verified (or why none was taken).
    Backup,
    /// `backup`: old snapshots deleted by the retention plan.
    Retention,
    /// `tls`: this peer's certificate issued again (renewal, a new signing CA).
    Renew,
    /// `tls`: etcd restarted to trust a new set of CAs (one peer at a time).
    Restart,
    /// node-bootstrap failed; the error says why.
    Failed,
}

impl Step {
    pub const ALL: [Step; 25] = [
        Step::Identity,
        Step::Tags,
        Step::FindVolume,
        Step::Attach,
        Step::Device,
        Step::Filesystem,
        Step::Mount,
        Step::Dns,
        Step::Tls,
        Step::Recovery,
        Step::Heal,
        Step::Restore,
        Step::EnvFile,
        Step::Prepared,
        Step::EtcdStarted,
        Step::Promote,
        Step::Ready,
        Step::Lifecycle,
        Step::Heartbeat,
        Step::EtcdExited,
        Step::Backup,
        Step::Retention,
        Step::Renew,
        Step::Restart,
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
            Step::Tls => "tls",
            Step::Recovery => "recovery",
            Step::Heal => "heal",
            Step::Restore => "restore",
            Step::EnvFile => "env-file",
            Step::Prepared => "prepared",
            Step::EtcdStarted => "etcd-started",
            Step::Promote => "promote",
            Step::Ready => "ready",
            Step::Lifecycle => "lifecycle",
            Step::Heartbeat => "heartbeat",
            Step::EtcdExited => "etcd-exited",
            Step::Backup => "backup",
            Step::Retention => "retention",
            Step::Renew => "renew",
            Step::Restart => "restart",
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

//! The messages steadfast's own processes pass to each other, each one struct that both writes
//! and reads it (never untyped JSON):
//! - [`PrepareReport`]: what `node-bootstrap prepare` found and did, step by step (written to
//!   `prepare.json` beside etcd's environment file, and logged);
//! - [`Recovered`]: how a member got its data (in the prepare report and the handoff to
//!   `ready`);
//! - [`BackupReport`]: what one backup run did (one JSON line on stdout);
//! - [`TlsReport`]: what one run of the TLS timer did (one JSON line on stdout).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backup::Manifest;
use crate::vocab::Step;

/// How this member got its data, for the env file and for `ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "how")]
pub enum Recovered {
    /// The data was there.
    Existing,
    /// A new cluster (or a late member of one) through SRV discovery.
    NewCluster,
    /// Added back as a learner; `initial_cluster` is etcd's `name=url,...` of the membership it
    /// joins, `endpoints` the client URLs of the voting members (a learner serves almost
    /// nothing, so `ready` promotes it through them).
    Joined {
        initial_cluster: String,
        endpoints: Vec<String>,
        /// The join record in the cluster, deleted once the learner is promoted.
        record: String,
    },
    /// Restored from `snapshot`.
    Restored { snapshot: String, revision: i64 },
}

/// What prepare found and did, with the time each step took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrepareReport {
    pub instance_id: String,
    pub cluster: String,
    pub peer: u32,
    pub ip: Ipv4Addr,
    pub volume_id: String,
    pub device: PathBuf,
    pub formatted: bool,
    /// etcd starts on a data dir without its data of before (a new cluster, a join, a restore).
    pub fresh: bool,
    pub recovered: Recovered,
    /// (step, milliseconds), in order.
    pub steps: Vec<(Step, f64)>,
    pub total_ms: f64,
}

impl PrepareReport {
    /// Where `prepare` writes it: `prepare.json` beside etcd's environment file.
    pub fn path(env_file: &Path) -> PathBuf {
        env_file.with_file_name("prepare.json")
    }
}

/// What one run did: printed as one JSON line on stdout (what `sandbox backup` and the chaos
/// suite read back into this struct).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupReport {
    /// The verified snapshot this run took.
    pub taken: Option<Manifest>,
    /// Why none was taken.
    pub skipped: Option<String>,
    /// Snapshots retention deleted.
    pub deleted: Vec<String>,
    /// Seconds since the newest verified snapshot was taken (after this run).
    pub newest_verified_age: Option<u64>,
}

/// What one run of the TLS timer (`node-bootstrap tls`) did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsReport {
    /// Why the certificate was issued again (none: it was current).
    pub renewed: Option<String>,
    /// etcd was restarted to trust the new set of CAs.
    pub restarted: bool,
    /// Why a restart that is due did not happen in this run (the next run tries again).
    pub waiting: Option<String>,
    pub certificate_days_left: f64,
    pub ca_days_left: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_back_into_their_own_struct() {
        let p = PrepareReport {
            instance_id: "i-1".into(),
            cluster: "main".into(),
            peer: 4,
            ip: Ipv4Addr::new(127, 0, 2, 7),
            volume_id: "vol-1".into(),
            device: "/dev/nvme1n1".into(),
            formatted: false,
            fresh: true,
            recovered: Recovered::Joined {
                initial_cluster: "peer-0=https://peer-0.main.etcd.internal:2380".into(),
                endpoints: vec!["https://peer-0.main.etcd.internal:2379".into()],
                record: "steadfast/join/peer-4".into(),
            },
            steps: vec![(Step::Attach, 12.5), (Step::Mount, 3.0)],
            total_ms: 15.5,
        };
        let back: PrepareReport = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        assert_eq!(
            PrepareReport::path(Path::new("/run/steadfast/etcd.env")),
            Path::new("/run/steadfast/prepare.json")
        );
        let b = BackupReport {
            taken: None,
            skipped: Some("not the leader".into()),
            deleted: vec![],
            newest_verified_age: Some(30),
        };
        let back: BackupReport = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(back, b);
    }
}

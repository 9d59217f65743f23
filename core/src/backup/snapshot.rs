//! Where a cluster's snapshots live in the bucket, and what each one records.
//!
//! Layout under the bucket's prefix, one folder per cluster:
//! - `<prefix><cluster>/snapshots/<taken_at>-r<revision>.db`: the snapshot as etcd streamed it
//!   (`taken_at` in seconds since the epoch, 10 digits; the revision 16 hex digits), so keys
//!   sort by time;
//! - the same key with `.json`: its [`Manifest`], written only after the object was read back
//!   with the sha256 recorded while it was uploaded. A snapshot is *verified* exactly when its
//!   manifest exists;
//! - `<prefix><cluster>/restore/plan-<epoch>.json`: the restore of one loss (which snapshot
//!   every peer restores), written create-if-absent. `epoch` is the newest time any of the
//!   cluster's volumes was marked joined: every peer of one loss computes the same key, and the
//!   restored cluster's first healthy member marks its volume joined again, so the next loss
//!   plans under a new key. Old plans move to `restore/done/`.

use serde::{Deserialize, Serialize};

use super::retention::SnapshotEntry;
use crate::error::{Error, Result};
use crate::vocab::ClusterName;

const SNAPSHOT_EXT: &str = ".db";
const MANIFEST_EXT: &str = ".json";

/// The manifest format this code writes and reads.
pub const MANIFEST_FORMAT: u32 = 1;

/// The keys of one cluster's snapshots in the backup bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotKeys {
    /// `<prefix><cluster>/`.
    cluster_dir: String,
    /// `<prefix><cluster>/snapshots/`.
    dir: String,
}

/// What a key in the snapshot folder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Snapshot,
    Manifest,
}

/// A key of the snapshot folder, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotKey {
    /// The snapshot object's key (for a manifest: the snapshot it describes).
    pub snapshot: String,
    pub taken_at: u64,
    pub revision: i64,
    pub kind: KeyKind,
}

impl SnapshotKeys {
    /// `prefix` is the bucket's folder for steadfast (empty, or ending in `/`; a missing `/` is
    /// added).
    pub fn new(prefix: &str, cluster: &ClusterName) -> Result<Self> {
        if prefix.starts_with('/') || prefix.contains("//") {
            return Err(Error::Invalid {
                what: "backup prefix",
                value: prefix.into(),
                reason: "an S3 key prefix must not start with '/' or contain '//'".into(),
            });
        }
        let prefix = match prefix {
            "" => String::new(),
            p if p.ends_with('/') => p.to_string(),
            p => format!("{p}/"),
        };
        Ok(Self {
            cluster_dir: format!("{prefix}{cluster}/"),
            dir: format!("{prefix}{cluster}/snapshots/"),
        })
    }

    /// The folder every snapshot of the cluster is under (the listing prefix).
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// The restore plans' folder.
    pub fn restore_dir(&self) -> String {
        format!("{}restore/", self.cluster_dir)
    }

    /// The key of the restore plan of the loss whose newest join was at `epoch`.
    pub fn restore_plan(&self, epoch: u64) -> String {
        format!("{}restore/plan-{epoch:010}.json", self.cluster_dir)
    }

    /// The operator's request to restore a chosen snapshot (`steadfast restore`): one object,
    /// outside `restore/` (which holds only plans).
    pub fn restore_request(&self) -> String {
        format!("{}restore-request.json", self.cluster_dir)
    }

    /// Whether `key` is a live (not retired) restore plan.
    pub fn is_restore_plan(&self, key: &str) -> bool {
        key.strip_prefix(&self.restore_dir())
            .is_some_and(|n| n.starts_with("plan-") && n.ends_with(".json") && !n.contains('/'))
    }

    /// Where plan `key` is kept once retired at `at` (seconds since the epoch).
    pub fn retired_plan(&self, key: &str, at: u64) -> String {
        let name = key.rsplit('/').next().unwrap_or(key);
        format!("{}restore/done/{at:010}-{name}", self.cluster_dir)
    }

    /// The key of a snapshot taken at `taken_at` (seconds since the epoch) at `revision`.
    pub fn snapshot(&self, taken_at: u64, revision: i64) -> String {
        format!("{}{taken_at:010}-r{revision:016x}{SNAPSHOT_EXT}", self.dir)
    }

    /// The manifest key of the snapshot `snapshot_key`.
    pub fn manifest(snapshot_key: &str) -> String {
        let stem = snapshot_key.strip_suffix(SNAPSHOT_EXT).unwrap_or(snapshot_key);
        format!("{stem}{MANIFEST_EXT}")
    }

    /// Understands `key`; `None` for anything that is not a snapshot or manifest of this
    /// cluster (other files in the folder are left alone).
    pub fn parse(&self, key: &str) -> Option<SnapshotKey> {
        let name = key.strip_prefix(&self.dir)?;
        let (stem, kind) = if let Some(s) = name.strip_suffix(SNAPSHOT_EXT) {
            (s, KeyKind::Snapshot)
        } else {
            (name.strip_suffix(MANIFEST_EXT)?, KeyKind::Manifest)
        };
        let (t, r) = stem.split_once("-r")?;
        if t.len() != 10 || r.len() != 16 {
            return None;
        }
        let taken_at = t.parse().ok()?;
        let revision = i64::from_str_radix(r, 16).ok()?;
        Some(SnapshotKey {
            snapshot: format!("{}{stem}{SNAPSHOT_EXT}", self.dir),
            taken_at,
            revision,
            kind,
        })
    }

    /// The snapshots among `keys` (a listing of [`Self::dir`]), each verified when its manifest
    /// is there too. A manifest without its snapshot is not a snapshot.
    pub fn entries<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Vec<SnapshotEntry> {
        let parsed: Vec<SnapshotKey> = keys.into_iter().filter_map(|k| self.parse(k)).collect();
        let has_manifest = |snap: &str| parsed.iter().any(|p| p.kind == KeyKind::Manifest && p.snapshot == snap);
        let mut out: Vec<SnapshotEntry> = parsed
            .iter()
            .filter(|p| p.kind == KeyKind::Snapshot)
            .map(|p| SnapshotEntry {
                key: p.snapshot.clone(),
                taken_at: p.taken_at,
                verified: has_manifest(&p.snapshot),
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

/// What `etcdutl snapshot status -w json` says of a snapshot file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotStatus {
    pub hash: u64,
    pub revision: i64,
    #[serde(rename = "totalKey")]
    pub total_key: u64,
    #[serde(rename = "totalSize")]
    pub total_size: u64,
    #[serde(default)]
    pub version: String,
}

/// What a verified snapshot records, next to it in the bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The snapshot object's key.
    pub key: String,
    pub cluster: String,
    /// etcd's cluster id, in hex as etcdctl prints it.
    pub cluster_id: String,
    /// The member that streamed it (its name, `peer-N`) and its id in hex.
    pub member: String,
    pub member_id: String,
    pub etcd_version: String,
    /// The store revision the snapshot was taken at.
    pub revision: i64,
    pub size: u64,
    /// sha256 of the object, recorded while it was uploaded and matched when read back.
    pub sha256: String,
    pub taken_at: u64,
    /// From the first byte read from etcd to the completed upload.
    pub upload_ms: u64,
    /// The read-back and the status check.
    pub verify_ms: u64,
    pub verified_at: u64,
    /// The snapshot's own integrity check, run on the object read back.
    pub status: SnapshotStatus,
}

impl super::record::Record for Manifest {
    const WHAT: &'static str = "snapshot manifest";
    const FORMAT: u32 = MANIFEST_FORMAT;
    fn format(&self) -> u32 {
        self.format
    }
}

impl Manifest {
    pub fn to_json(&self) -> Vec<u8> {
        super::record::to_json(self)
    }

    /// Reads one (`key` names it in the error); another format is refused.
    pub fn from_json(key: &str, body: &[u8]) -> Result<Self> {
        super::record::from_json(key, body)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn keys() -> SnapshotKeys {
        SnapshotKeys::new("backups", &ClusterName::new("main").unwrap()).unwrap()
    }

    #[test]
    fn keys_round_trip_and_sort_by_time() {
        let k = keys();
        assert_eq!(k.dir(), "backups/main/snapshots/");
        let a = k.snapshot(1_800_000_000, 0x2a);
        assert_eq!(a, "backups/main/snapshots/1800000000-r000000000000002a.db");
        let m = SnapshotKeys::manifest(&a);
        assert_eq!(m, "backups/main/snapshots/1800000000-r000000000000002a.json");
        let p = k.parse(&m).unwrap();
        assert_eq!(
            (p.snapshot.as_str(), p.taken_at, p.revision, p.kind),
            (a.as_str(), 1_800_000_000, 42, KeyKind::Manifest)
        );
        assert!(
            k.snapshot(999_999_999, 1) < k.snapshot(1_000_000_000, 0),
            "keys sort by time"
        );
        let plan = k.restore_plan(1_799_999_000);
        assert_eq!(plan, "backups/main/restore/plan-1799999000.json");
        assert!(k.is_restore_plan(&plan));
        let done = k.retired_plan(&plan, 1_800_000_000);
        assert_eq!(done, "backups/main/restore/done/1800000000-plan-1799999000.json");
        assert!(!k.is_restore_plan(&done), "a retired plan is no plan");
        assert!(k.parse(&plan).is_none(), "a plan is no snapshot");
        let req = k.restore_request();
        assert_eq!(req, "backups/main/restore-request.json");
        assert!(!req.starts_with(&k.restore_dir()), "the request is not among the plans");
        assert!(k.parse(&req).is_none(), "a request is no snapshot");
    }

    #[test]
    fn prefixes_are_normalized_or_refused() {
        let c = ClusterName::new("main").unwrap();
        assert_eq!(SnapshotKeys::new("", &c).unwrap().dir(), "main/snapshots/");
        assert_eq!(SnapshotKeys::new("a/b/", &c).unwrap().dir(), "a/b/main/snapshots/");
        for bad in ["/abs", "a//b"] {
            let e = SnapshotKeys::new(bad, &c).unwrap_err().to_string();
            assert!(e.contains("backup prefix") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn only_snapshots_with_a_manifest_are_verified_and_strangers_are_ignored() {
        let k = keys();
        let a = k.snapshot(1_800_000_000, 1);
        let b = k.snapshot(1_800_000_300, 2);
        let orphan_manifest = SnapshotKeys::manifest(&k.snapshot(1_800_000_600, 3));
        let listing = [
            a.clone(),
            SnapshotKeys::manifest(&a),
            b.clone(),
            orphan_manifest,
            "backups/main/snapshots/notes.txt".into(),
            "backups/main/snapshots/1800000000-rzz.db".into(),
            "backups/other/snapshots/1800000000-r0000000000000001.db".into(),
        ];
        let e = k.entries(listing.iter().map(String::as_str));
        let got: Vec<(&str, u64, bool)> = e.iter().map(|s| (s.key.as_str(), s.taken_at, s.verified)).collect();
        assert_eq!(
            got,
            vec![(a.as_str(), 1_800_000_000, true), (b.as_str(), 1_800_000_300, false)]
        );
    }

    #[test]
    fn manifests_round_trip_and_a_bad_one_is_named() {
        let m = Manifest {
            format: MANIFEST_FORMAT,
            key: "k.db".into(),
            cluster: "main".into(),
            cluster_id: "cdf818194e3a8c32".into(),
            member: "peer-0".into(),
            member_id: "8e9e05c52164694d".into(),
            etcd_version: "3.5.16".into(),
            revision: 7,
            size: 20480,
            sha256: "ab".repeat(32),
            taken_at: 1_800_000_000,
            upload_ms: 12,
            verify_ms: 30,
            verified_at: 1_800_000_001,
            status: SnapshotStatus {
                hash: 1,
                revision: 7,
                total_key: 10,
                total_size: 20480,
                version: "3.5.0".into(),
            },
        };
        assert_eq!(Manifest::from_json("k.json", &m.to_json()).unwrap(), m);
        let e = Manifest::from_json("k.json", b"{}").unwrap_err().to_string();
        assert!(e.contains("snapshot manifest") && e.contains("k.json"), "{e}");
        let mut newer = m;
        newer.format = 9;
        let e = Manifest::from_json("k.json", &newer.to_json()).unwrap_err().to_string();
        assert!(e.contains("format 9"), "{e}");
        // etcdutl's own output parses.
        let s: SnapshotStatus = serde_json::from_str(
            r#"{"hash":3761617430,"revision":12,"totalKey":17,"totalSize":20480,"version":"3.5.0"}"#,
        )
        .unwrap();
        assert_eq!((s.total_key, s.total_size), (17, 20480));
    }
}

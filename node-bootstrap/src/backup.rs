//! `backup` (the node's backup timer, and the on-demand `backup --now`): gather (this member's
//! status, the bucket's snapshots) -> plan (`plan_backup`: the member etcd names leader takes
//! it, not twice in half an interval) -> apply, under an etcd lock held through a lease:
//! 1. stream etcd's snapshot into a multipart upload (one part in memory at a time), checking
//!    etcd's own trailing sha256 and hashing the whole object;
//! 2. read the object back to a scratch file, hashing it: it must match; `etcdutl snapshot
//!    status` must read it;
//! 3. write its manifest next to it: from then on it is *verified*;
//! 4. apply retention (`plan_retention`), and retire old restore plans.
//!
//! Every member publishes the newest verified snapshot's age on every run, so the alarm sees
//! backups stop whoever leads; a failure is logged with its cause and counted (`BackupFailed`).

use std::path::Path;
use std::time::{Duration, Instant};

use etcd_client::{Client, GetOptions};
use steadfast_core::aws::{Instances, Metric, Metrics, Objects};
use steadfast_core::backup::{
    newest_verified_age, plan_backup, plan_retention, BackupPlan, Hashing, Manifest, MemberRole, RestoreOrder,
    SnapshotEntry, SnapshotKeys, SnapshotStatus, Upload, MANIFEST_FORMAT,
};
use steadfast_core::etcd::{self, keys, EtcdError, MemberStatus};
use steadfast_core::vocab::{metrics, Step};
use steadfast_core::{Cluster, PeerIndex};
use tokio::io::AsyncWriteExt;
use tracing::{error, info, warn};

use crate::config::NodeConfig;
use crate::error::{BootstrapError, Result};
use crate::identity::{self, Identity};
use crate::volume::tools;
use steadfast_core::clock::now_secs;

const LOCK_TTL: Duration = Duration::from_secs(60);
const LOCK_WAIT: Duration = Duration::from_secs(10);

pub use steadfast_core::report::BackupReport;

/// One run of the backup; a failure is logged with its cause and counted before it returns.
pub async fn run<I, O, M>(
    ec2: &I,
    objects: &O,
    metrics: &M,
    id: &Identity,
    cfg: &NodeConfig,
    on_demand: bool,
) -> Result<BackupReport>
where
    I: Instances,
    O: Objects,
    M: Metrics,
{
    let (cluster, peer) = identity::cluster_and_peer(ec2, id, cfg).await?;
    let b = Backup {
        objects,
        metrics,
        cluster: &cluster,
        peer,
        id,
        cfg,
    };
    let out = b.run(on_demand).await;
    if let Err(e) = &out {
        error!(step = %Step::Failed, during = %Step::Backup, bucket = objects.bucket(), error = %e, "backup failed");
        b.publish(metrics::BACKUP_FAILED, 1.0, "Count").await;
    }
    out
}

struct Backup<'a, O, M> {
    objects: &'a O,
    metrics: &'a M,
    cluster: &'a Cluster,
    peer: PeerIndex,
    id: &'a Identity,
    cfg: &'a NodeConfig,
}

impl<O: Objects, M: Metrics> Backup<'_, O, M> {
    fn keys(&self) -> Result<SnapshotKeys> {
        Ok(SnapshotKeys::new(&self.cfg.backup.prefix, self.cluster.name())?)
    }

    async fn snapshots(&self, keys: &SnapshotKeys) -> Result<Vec<SnapshotEntry>> {
        let listing = self.objects.list(keys.dir()).await?;
        Ok(keys.entries(listing.iter().map(|o| o.key.as_str())))
    }

    async fn publish(&self, name: &str, value: f64, unit: &'static str) {
        let m = Metric {
            namespace: self.cluster.metric_namespace(),
            name: name.into(),
            dimensions: vec![(metrics::DIMENSION_CLUSTER.into(), self.cluster.name().to_string())],
            value,
            unit,
        };
        if let Err(e) = self.metrics.put_metric(&m).await {
            warn!(during = %Step::Backup, metric = name, error = %e, "could not publish a backup metric");
        }
    }

    async fn run(&self, on_demand: bool) -> Result<BackupReport> {
        let keys = self.keys()?;
        let access = crate::tls::access(self.cfg)?;
        let mut local = access
            .connect(&[access.local_url(self.id.private_ip)], Duration::from_secs(5))
            .await?;
        let st = etcd::probe(&mut local, false).await?;
        let role = MemberRole {
            member_id: st.id,
            leader: st.leader,
        };
        let interval = self.cfg.backup.interval.as_secs();
        let snaps = self.snapshots(&keys).await?;
        let mut report = BackupReport {
            taken: None,
            skipped: None,
            deleted: vec![],
            newest_verified_age: newest_verified_age(&snaps, now_secs()),
        };
        if let BackupPlan::Skip(why) = plan_backup(role, &snaps, now_secs(), interval, on_demand) {
            return Ok(self
                .skipped(
                    report,
                    why.to_string(),
                    role.leader == role.member_id,
                    &mut local,
                    &keys,
                )
                .await);
        }
        // On demand, wait out even a lock whose holder died mid-backup (its lease ends within
        // LOCK_TTL); on schedule, the next run comes soon enough.
        let wait = if on_demand { LOCK_TTL + LOCK_WAIT } else { LOCK_WAIT };
        let held = etcd::lock(&local, keys::BACKUP_LOCK, LOCK_TTL, wait).await?;
        // Under the lock, look again: another member may have just taken one.
        let taken = async {
            let snaps = self.snapshots(&keys).await?;
            if let BackupPlan::Skip(why) = plan_backup(role, &snaps, now_secs(), interval, on_demand) {
                return Ok(Err(why.to_string()));
            }
            self.take(&mut local, &keys, &st).await.map(Ok)
        }
        .await;
        held.release().await;
        match taken? {
            Err(why) => return Ok(self.skipped(report, why, true, &mut local, &keys).await),
            Ok(m) => {
                self.publish(metrics::BACKUP_SIZE, m.size as f64, "Bytes").await;
                self.publish(
                    metrics::BACKUP_DURATION,
                    (m.upload_ms + m.verify_ms) as f64 / 1000.0,
                    "Seconds",
                )
                .await;
                report.taken = Some(m);
            }
        }
        report.deleted = self.retention(&keys).await?;
        let snaps = self.snapshots(&keys).await?;
        report.newest_verified_age = newest_verified_age(&snaps, now_secs());
        self.publish_age(report.newest_verified_age).await;
        self.retire_restore_plans(&mut local, &keys).await;
        Ok(report)
    }

    async fn publish_age(&self, age: Option<u64>) {
        match age {
            Some(a) => self.publish(metrics::BACKUP_NEWEST_AGE, a as f64, "Seconds").await,
            // No verified snapshot at all: nothing to publish; the alarm treats missing data as
            // breaching.
            None => warn!(during = %Step::Backup, "the bucket holds no verified snapshot of this cluster"),
        }
    }

    async fn skipped(
        &self,
        mut report: BackupReport,
        why: String,
        leads: bool,
        local: &mut Client,
        keys: &SnapshotKeys,
    ) -> BackupReport {
        info!(step = %Step::Backup, skipped = %why, "no snapshot taken");
        self.publish_age(report.newest_verified_age).await;
        if leads {
            self.retire_restore_plans(local, keys).await;
        }
        report.skipped = Some(why);
        report
    }

    /// Streams, uploads, reads back and verifies one snapshot; writes its manifest.
    async fn take(&self, local: &mut Client, keys: &SnapshotKeys, st: &MemberStatus) -> Result<Manifest> {
        let t0 = Instant::now();
        // The store's revision now: the snapshot holds at least every write up to it (the key
        // carries it; the manifest the exact one etcdutl reads from the object).
        let rev = local
            .get(keys::REVISION_PROBE, Some(GetOptions::new().with_count_only()))
            .await
            .map_err(EtcdError::call("revision"))?
            .header()
            .map(|h| h.revision())
            .unwrap_or_default();
        let taken_at = now_secs();
        let key = keys.snapshot(taken_at, rev);
        let member = self.cluster.member_name(self.peer);
        let meta = [
            ("cluster", self.cluster.name().to_string()),
            ("member", member.clone()),
            ("revision", rev.to_string()),
            ("etcd-version", st.version.clone()),
        ];
        let mut up = Upload::start(self.objects, &key, &meta, self.cfg.backup.part_size).await?;
        let streamed = async {
            let mut stream = local.snapshot().await.map_err(EtcdError::call("snapshot"))?;
            while let Some(m) = stream.message().await.map_err(EtcdError::call("snapshot stream"))? {
                up.write(m.blob()).await?;
            }
            Ok::<_, BootstrapError>(())
        }
        .await;
        if let Err(e) = streamed {
            up.abort().await;
            return Err(e);
        }
        let uploaded = up.finish().await?;
        let upload_ms = t0.elapsed().as_millis() as u64;
        info!(during = %Step::Backup, key = %key, bytes = uploaded.size, parts = uploaded.parts, upload_ms,
            "snapshot streamed to the bucket; reading it back");
        let t1 = Instant::now();
        let status = self.verify(&key, &uploaded.sha256).await?;
        let verify_ms = t1.elapsed().as_millis() as u64;
        let m = Manifest {
            format: MANIFEST_FORMAT,
            key: key.clone(),
            cluster: self.cluster.name().to_string(),
            cluster_id: format!("{:x}", st.cluster_id),
            member,
            member_id: format!("{:x}", st.id),
            etcd_version: st.version.clone(),
            revision: status.revision,
            size: uploaded.size,
            sha256: uploaded.sha256,
            taken_at,
            upload_ms,
            verify_ms,
            verified_at: now_secs(),
            status,
        };
        self.objects
            .put(&SnapshotKeys::manifest(&key), m.to_json().into(), false)
            .await?;
        info!(step = %Step::Backup, key = %key, revision = m.revision, bytes = m.size, sha256 = %m.sha256,
            total_keys = m.status.total_key, upload_ms, verify_ms, elapsed_ms = t0.elapsed().as_millis() as u64,
            "snapshot verified");
        Ok(m)
    }

    /// Reads the object back into the scratch dir, hashing it, and has etcdutl read it.
    async fn verify(&self, key: &str, sha256: &str) -> Result<SnapshotStatus> {
        let dir = &self.cfg.backup.scratch_dir;
        std::fs::create_dir_all(dir).map_err(BootstrapError::io(dir))?;
        let path = dir.join(format!("verify-{}-{}.db", std::process::id(), now_secs()));
        let got = self.read_back(key, &path).await;
        let checked = match got {
            Ok(sha) if sha == sha256 => self.status(&path).await,
            Ok(sha) => Err(BootstrapError::Snapshot {
                key: key.into(),
                why: format!("read back with sha256 {sha}, uploaded with {sha256}: not verified"),
            }),
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_file(&path);
        checked
    }

    async fn read_back(&self, key: &str, path: &Path) -> Result<String> {
        let file = tokio::fs::File::create(path).await.map_err(BootstrapError::io(path))?;
        let mut sink = Hashing::new(tokio::io::BufWriter::with_capacity(1 << 20, file));
        self.objects.read_into(key, &mut sink).await?;
        let (sha, mut w) = sink.finish();
        w.flush().await.map_err(BootstrapError::io(path))?;
        Ok(sha)
    }

    async fn status(&self, path: &Path) -> Result<SnapshotStatus> {
        let bin = self.cfg.backup.etcdutl.to_string_lossy();
        let p = path.to_string_lossy();
        let args = ["snapshot", "status", "-w", "json", p.as_ref()];
        let out = tools::run(&bin, &args, Duration::from_secs(600)).await?;
        if out.status != 0 {
            return Err(BootstrapError::Command {
                command: format!("{bin} {}", args.join(" ")),
                status: out.status.to_string(),
                stderr: out.stderr,
            });
        }
        serde_json::from_str(out.stdout.trim()).map_err(|e| BootstrapError::Command {
            command: format!("{bin} {}", args.join(" ")),
            status: "unreadable output".into(),
            stderr: format!("{e}: {}", out.stdout.trim()),
        })
    }

    /// Deletes what the retention plan drops (each snapshot with its manifest).
    async fn retention(&self, keys: &SnapshotKeys) -> Result<Vec<String>> {
        let snaps = self.snapshots(keys).await?;
        let plan = plan_retention(&snaps, now_secs(), self.cfg.backup.retention);
        if plan.delete.is_empty() {
            return Ok(vec![]);
        }
        let doomed: Vec<String> = plan
            .delete
            .iter()
            .flat_map(|k| [k.clone(), SnapshotKeys::manifest(k)])
            .collect();
        self.objects.delete(&doomed).await?;
        info!(step = %Step::Retention, deleted = plan.delete.len(), kept = plan.keep.len(), first = %plan.delete[0],
            "snapshots past retention deleted");
        Ok(plan.delete)
    }

    /// Restore plans of losses the cluster came back from move to `restore/done/` (a plan is
    /// only ever read under its own loss's epoch, so this is tidying, not safety): any plan
    /// older than an hour while this member knows a leader.
    async fn retire_restore_plans(&self, local: &mut Client, keys: &SnapshotKeys) {
        let Ok(st) = etcd::probe(local, false).await else {
            return;
        };
        if st.leader == 0 {
            return;
        }
        let Ok(listing) = self.objects.list(&keys.restore_dir()).await else {
            return;
        };
        for o in listing.iter().filter(|o| keys.is_restore_plan(&o.key)) {
            let Ok(body) = self.objects.get(&o.key).await else {
                continue;
            };
            let Ok(order) = RestoreOrder::from_json(&o.key, &body) else {
                continue;
            };
            if now_secs().saturating_sub(order.created_at) < 3600 {
                continue;
            }
            let done = keys.retired_plan(&o.key, now_secs());
            let moved = async {
                self.objects.put(&done, body.into(), false).await?;
                self.objects.delete(std::slice::from_ref(&o.key)).await
            }
            .await;
            match moved {
                Ok(()) => {
                    info!(during = %Step::Backup, plan = %o.key, to = %done, "the cluster is back: an old restore plan retired")
                }
                Err(e) => warn!(during = %Step::Backup, plan = %o.key, error = %e, "could not retire a restore plan"),
            }
        }
    }
}

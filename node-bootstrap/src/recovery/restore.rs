//! Restoring this peer's data dir from the cluster's restore plan: the plan is written once
//! (create-if-absent, so of nine racing peers exactly one names the snapshot and the others
//! follow it); the snapshot is downloaded onto the volume itself, checked against the sha256 its
//! manifest recorded, and restored with `etcdutl snapshot restore` under this peer's name, the
//! whole cluster's stable peer URLs and the cluster's token, so every peer rebuilds the same
//! cluster id and member ids. The restored `member/` is moved into place in one rename.

use std::path::Path;
use std::time::{Duration, Instant};

use steadfast_core::aws::{Objects, PutOutcome};
use steadfast_core::backup::{Hashing, Manifest, RestoreOrder, SnapshotKeys};
use steadfast_core::vocab::Step;
use tokio::io::AsyncWriteExt;
use tracing::info;

use super::{Fresh, Recovered};
use crate::error::{BootstrapError, Result};
use crate::volume::tools;

/// The restore's leftovers on the volume, removed before and after.
const DOWNLOAD: &str = ".steadfast-restore.db";
const WORK_DIR: &str = ".steadfast-restore";

/// The plan every peer follows: the one in the bucket, or (`write_as`: who writes it) a new one
/// naming `snapshot`, unless another peer's plan got there first.
async fn order<O: Objects>(
    objects: &O,
    plan_key: &str,
    snapshot: &str,
    write_as: Option<String>,
    existing: Option<RestoreOrder>,
) -> Result<RestoreOrder> {
    if let Some(o) = existing {
        return Ok(o);
    }
    let Some(by) = write_as else {
        let body = objects.get(plan_key).await?;
        return Ok(RestoreOrder::from_json(plan_key, &body)?);
    };
    let manifest_key = SnapshotKeys::manifest(snapshot);
    let manifest = Manifest::from_json(&manifest_key, &objects.get(&manifest_key).await?)?;
    let mine = RestoreOrder::new(
        snapshot,
        &manifest.sha256,
        manifest.revision,
        &by,
        steadfast_core::clock::now_secs(),
    );
    match objects.put(plan_key, mine.to_json().into(), true).await? {
        PutOutcome::Created => {
            info!(during = %Step::Restore, plan = %plan_key, snapshot, revision = mine.revision,
                "restore plan written: every peer restores this snapshot");
            Ok(mine)
        }
        PutOutcome::Exists => {
            let body = objects.get(plan_key).await?;
            let theirs = RestoreOrder::from_json(plan_key, &body)?;
            info!(during = %Step::Restore, plan = %plan_key, snapshot = %theirs.snapshot, by = %theirs.created_by,
                "another peer wrote the restore plan first: following it");
            Ok(theirs)
        }
    }
}

/// Restores the data dir of `f` from the snapshot of the plan at `plan_key`.
pub async fn restore<O: Objects>(
    objects: &O,
    plan_key: &str,
    f: &Fresh<'_>,
    snapshot: &str,
    write_as: Option<String>,
    existing: Option<RestoreOrder>,
) -> Result<Recovered> {
    let t0 = Instant::now();
    let o = order(objects, plan_key, snapshot, write_as, existing).await?;
    let data_dir = &f.cfg.data_dir;
    let download = data_dir.join(DOWNLOAD);
    let work = data_dir.join(WORK_DIR);
    clean(&download, &work)?;
    // Download onto the volume (it held the database before), hashing as it arrives.
    let file = tokio::fs::File::create(&download)
        .await
        .map_err(BootstrapError::io(&download))?;
    let mut sink = Hashing::new(Noting::new(tokio::io::BufWriter::with_capacity(1 << 20, file)));
    let size = objects.read_into(&o.snapshot, &mut sink).await?;
    let (sha, Noting { inner: mut w, .. }) = sink.finish();
    w.flush().await.map_err(BootstrapError::io(&download))?;
    w.into_inner().sync_all().await.map_err(BootstrapError::io(&download))?;
    if sha != o.sha256 {
        clean(&download, &work)?;
        return Err(BootstrapError::Snapshot {
            key: o.snapshot.clone(),
            why: format!(
                "its sha256 is {sha}, the restore plan says {}; nothing restored",
                o.sha256
            ),
        });
    }
    let downloaded_ms = t0.elapsed().as_millis() as u64;
    let cluster = f.cluster;
    let all: Vec<String> = cluster
        .peers()
        .map(|p| format!("{}={}", cluster.member_name(p), f.access.peer_url(cluster, p)))
        .collect();
    let (dl, wk) = (download.to_string_lossy(), work.to_string_lossy());
    let name = cluster.member_name(f.peer);
    let initial = all.join(",");
    let me = f.access.peer_url(cluster, f.peer);
    let args = [
        "snapshot",
        "restore",
        dl.as_ref(),
        "--name",
        name.as_str(),
        "--initial-cluster",
        initial.as_str(),
        "--initial-cluster-token",
        cluster.initial_cluster_token(),
        "--initial-advertise-peer-urls",
        me.as_str(),
        "--data-dir",
        wk.as_ref(),
    ];
    // Every peer moves the revision forward by the plan's amount: the same state on all nine.
    let bump = o.bump_args();
    let args: Vec<&str> = args.into_iter().chain(bump.iter().map(String::as_str)).collect();
    let bin = f.cfg.backup.etcdutl.to_string_lossy();
    let out = tools::run(&bin, &args, Duration::from_secs(1800)).await?;
    if out.status != 0 {
        clean(&download, &work)?;
        return Err(BootstrapError::Command {
            command: format!("{bin} {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: out.stderr,
        });
    }
    // One rename puts the member in place: the data dir is fresh or restored, never half.
    let member = data_dir.join("member");
    std::fs::rename(work.join("member"), &member).map_err(BootstrapError::io(&member))?;
    clean(&download, &work)?;
    if let Ok(d) = std::fs::File::open(data_dir) {
        let _ = d.sync_all();
    }
    crate::datadir::set_owner(data_dir, f.cfg.etcd_user.as_deref())?;
    info!(step = %Step::Restore, snapshot = %o.snapshot, revision = o.revision, bump_revision = o.bump_revision, bytes = size, download_ms = downloaded_ms,
        elapsed_ms = t0.elapsed().as_millis() as u64, by = %o.created_by, "data dir restored from the snapshot");
    Ok(Recovered::Restored {
        snapshot: o.snapshot,
        revision: o.revision,
    })
}

fn clean(download: &Path, work: &Path) -> Result<()> {
    if download.exists() {
        std::fs::remove_file(download).map_err(BootstrapError::io(download))?;
    }
    if work.exists() {
        std::fs::remove_dir_all(work).map_err(BootstrapError::io(work))?;
    }
    Ok(())
}

/// A writer that tells [`crate::progress`] the download moves, every 8 MiB: a long download is
/// progress, never a stall.
struct Noting<W> {
    inner: W,
    since: u64,
}

impl<W> Noting<W> {
    fn new(inner: W) -> Self {
        Self { inner, since: 0 }
    }
}

impl<W: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Noting<W> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &r {
            self.since += *n as u64;
            if self.since >= 8 << 20 {
                self.since = 0;
                crate::progress::moved("snapshot download");
            }
        }
        r
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

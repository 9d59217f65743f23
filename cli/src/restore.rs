//! `steadfast restore --snapshot KEY`: a chosen snapshot restored on purpose (point in time),
//! in one command. The nodes do the restoring; this command decides when they may:
//!
//! 1. the snapshot must be this cluster's, with its manifest, and read back with the manifest's
//!    sha256 (verified now, not only when it was taken);
//! 2. the restore plan of the cluster's current epoch is written, create-if-absent, naming it
//!    (the plan every peer's fresh path follows), then the request, unarmed;
//! 3. every instance of the cluster's groups is terminated (the groups replace them); their
//!    replacements wait, because the request is not armed;
//! 4. once every old instance is terminated and nothing answers on its etcd ports, the request
//!    is armed: each replacement discards its member (the current data is not kept) and
//!    restores the plan's snapshot, under its own name and the cluster's token;
//! 5. once every peer's volume has joined the restored cluster, the request is deleted.
//!
//! Interrupted, it resumes when run again with the same snapshot. Another snapshot while one is
//! under way is refused.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use steadfast_core::aws::sdk::{AutoScaling, Ec2, S3};
use steadfast_core::aws::{Groups, Instances, Objects, PutOutcome, Volume, Volumes};
use steadfast_core::backup::{
    joined_at, newest_verified, restore_epoch, snapshot::KeyKind, Hashing, Manifest, RestoreOrder, RestoreRequest,
    SnapshotKeys, RESTORE_REQUEST_FORMAT,
};
use steadfast_core::clock::now_secs;
use steadfast_core::poll::{self, Backoff, Poll};
use steadfast_core::vocab::{Tags, CLIENT_PORT, PEER_PORT, TAG_CLUSTER};

use crate::{say, CliError, Result, Target};

/// What `steadfast restore` is told.
#[derive(Debug, Clone)]
pub struct Options {
    pub snapshot: String,
    pub bucket: String,
    pub prefix: String,
    /// For the old instances to be gone, and again for the peers to restore.
    pub timeout: Duration,
    pub created_by: String,
}

/// What this command acts on: the backup bucket and the cluster's instances and groups (from
/// the target's one bundle of adapters).
struct Cloud {
    s3: S3,
    ec2: Ec2,
    asg: AutoScaling,
}

/// The snapshot's manifest, once its object read back with the manifest's sha256.
async fn verified(s3: &S3, keys: &SnapshotKeys, snapshot: &str) -> Result<Manifest> {
    if keys.parse(snapshot).map(|k| k.kind) != Some(KeyKind::Snapshot) {
        return Err(CliError::Usage(format!(
            "--snapshot {snapshot}: not a snapshot of this cluster (its snapshots are {}<taken_at>-r<revision>.db; \
             `steadfast snapshots` lists them)",
            keys.dir()
        )));
    }
    let mkey = SnapshotKeys::manifest(snapshot);
    let body = match s3.get(&mkey).await {
        Ok(b) => b,
        Err(e) if e.aws_code() == Some("NoSuchKey") => {
            return Err(CliError::Usage(format!(
            "{snapshot}: no manifest {mkey} in bucket {}: not a verified snapshot (`steadfast snapshots` lists them)",
            s3.bucket()
        )))
        }
        Err(e) => return Err(e.into()),
    };
    let manifest = Manifest::from_json(&mkey, &body)?;
    let mut sink = Hashing::new(tokio::io::sink());
    let size = s3.read_into(snapshot, &mut sink).await?;
    let (sha, _) = sink.finish();
    if sha != manifest.sha256 {
        return Err(CliError::Usage(format!(
            "{snapshot}: reads back with sha256 {sha}, its manifest says {}: not a verified snapshot; nothing changed",
            manifest.sha256
        )));
    }
    say(&format!(
        "{snapshot}: verified (revision {}, {size} bytes, etcd {}, cluster id {})",
        manifest.revision, manifest.etcd_version, manifest.cluster_id
    ));
    Ok(manifest)
}

/// The peers (by their volumes) that have not joined since `r` was armed.
fn not_yet(r: &RestoreRequest, vols: &[Volume]) -> Vec<String> {
    vols.iter()
        .filter(|v| !r.done_by(joined_at(v)))
        .map(|v| {
            format!(
                "{} (peer {})",
                v.volume_id,
                v.tags.get(steadfast_core::vocab::TAG_PEER).unwrap_or("?")
            )
        })
        .collect()
}

async fn cluster_volumes(cloud: &Cloud, target: &Target) -> Result<Vec<Volume>> {
    let name = target.cluster.name();
    let vols = cloud
        .ec2
        .volumes_tagged(&Tags::from_pairs([(TAG_CLUSTER, name.as_str())]))
        .await?;
    if vols.len() != target.cluster.peer_count() as usize {
        return Err(CliError::Usage(format!(
            "cluster {name}: {} volumes tagged {TAG_CLUSTER}={name}, the cluster has {} peers: restore only a whole cluster",
            vols.len(),
            target.cluster.peer_count()
        )));
    }
    Ok(vols)
}

/// Writes the plan (create-if-absent) and a new request; a plan of this epoch naming another
/// snapshot is refused.
async fn request(
    cloud: &Cloud,
    keys: &SnapshotKeys,
    o: &Options,
    m: &Manifest,
    vols: &[Volume],
) -> Result<RestoreRequest> {
    let plan = keys.restore_plan(restore_epoch(vols));
    let order = RestoreOrder::new(&o.snapshot, &m.sha256, m.revision, &o.created_by, now_secs());
    if cloud.s3.put(&plan, order.to_json().into(), true).await? == PutOutcome::Exists {
        let theirs = RestoreOrder::from_json(&plan, &cloud.s3.get(&plan).await?)?;
        if theirs.snapshot != o.snapshot {
            return Err(CliError::Usage(format!(
                "{plan} exists and names {} (by {}): the cluster is restoring it; let it finish first",
                theirs.snapshot, theirs.created_by
            )));
        }
    }
    say(&format!("restore plan {plan} names {}", o.snapshot));
    let r = RestoreRequest {
        format: RESTORE_REQUEST_FORMAT,
        snapshot: o.snapshot.clone(),
        plan,
        created_at: order.created_at,
        created_by: o.created_by.clone(),
        armed_at: None,
    };
    cloud.s3.put(&keys.restore_request(), r.to_json().into(), false).await?;
    say("restore request written (not armed: no peer restores while an old instance may run)");
    Ok(r)
}

/// Whether anything answers on `ip`'s etcd ports.
async fn answers(ip: Ipv4Addr) -> bool {
    for port in [CLIENT_PORT, PEER_PORT] {
        let addr = SocketAddr::from((ip, port));
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr)).await {
            return true;
        }
    }
    false
}

/// Terminates every instance of the cluster's groups and waits until each is terminated and
/// nothing answers on its etcd ports.
async fn stop_old_cluster(cloud: &Cloud, target: &Target, timeout: Duration) -> Result<()> {
    let groups = cloud.asg.cluster_groups(target.cluster.name()).await?;
    let ids: Vec<String> = groups
        .iter()
        .flat_map(|g| g.live_instances())
        .map(|i| i.instance_id.clone())
        .collect();
    let ips: Vec<Ipv4Addr> = cloud
        .ec2
        .describe_instances(&ids)
        .await?
        .iter()
        .filter_map(|i| i.private_ip)
        .collect();
    for id in &ids {
        cloud.asg.terminate_in_group(id).await?;
    }
    say(&format!("terminated {} instances: {}", ids.len(), ids.join(" ")));
    let gone = poll::until(timeout, Backoff::every(Duration::from_secs(1)), || async {
        let left: Vec<String> = cloud
            .ec2
            .describe_instances(&ids)
            .await?
            .into_iter()
            .filter(|i| i.state != steadfast_core::aws::InstanceState::Terminated)
            .map(|i| format!("{} ({})", i.instance_id, i.state))
            .collect();
        if !left.is_empty() {
            return Ok::<_, CliError>(Poll::Pending(format!("not terminated yet: {}", left.join(", "))));
        }
        for ip in &ips {
            if answers(*ip).await {
                return Ok(Poll::Pending(format!("{ip} still answers on an etcd port")));
            }
        }
        Ok(Poll::Ready(()))
    })
    .await?;
    gone.map_err(|t| CliError::Timeout {
        secs: timeout.as_secs(),
        detail: format!(
            "the old instances are not gone ({}); the request stays unarmed: run again to resume",
            t.last
        ),
    })
}

/// Restores `o.snapshot` into the whole cluster; the request as it was armed.
pub async fn restore(target: &Target, o: &Options) -> Result<RestoreRequest> {
    let cloud = Cloud {
        s3: target.cloud.bucket(o.bucket.clone(), None),
        ec2: target.cloud.ec2.clone(),
        asg: target.cloud.groups.clone(),
    };
    let keys = SnapshotKeys::new(&o.prefix, target.cluster.name())?;
    let rkey = keys.restore_request();
    let vols = cluster_volumes(&cloud, target).await?;
    let mut r = match RestoreRequest::read(&cloud.s3, &keys).await? {
        Some(r) if !not_yet(&r, &vols).is_empty() => {
            if r.snapshot != o.snapshot {
                return Err(CliError::Usage(format!(
                    "a restore of {} (requested by {} at {}) is under way: run `steadfast restore --snapshot {}` to \
                     resume it, then restore another",
                    r.snapshot, r.created_by, r.created_at, r.snapshot
                )));
            }
            say(&format!(
                "resuming the restore of {} requested at {}",
                r.snapshot, r.created_at
            ));
            r
        }
        _ => {
            let m = verified(&cloud.s3, &keys, &o.snapshot).await?;
            // The way back, should this restore be the mistake: the newest verified snapshot.
            let listing = cloud.s3.list(keys.dir()).await?;
            let entries = keys.entries(listing.iter().map(|x| x.key.as_str()));
            if let Some(newest) = newest_verified(&entries) {
                say(&format!(
                    "the cluster's current data is discarded; the newest verified snapshot is {} (taken {} s ago): \
                     the way back to before this restore",
                    newest.key,
                    (now_secs()).saturating_sub(newest.taken_at)
                ));
            }
            request(&cloud, &keys, o, &m, &vols).await?
        }
    };
    if r.armed_at.is_none() {
        stop_old_cluster(&cloud, target, o.timeout).await?;
        r.armed_at = Some(now_secs());
        cloud.s3.put(&rkey, r.to_json().into(), false).await?;
        say("every old instance is gone: request armed, the peers restore");
    }
    let done = poll::until(o.timeout, Backoff::every(Duration::from_secs(2)), || async {
        let vols = cluster_volumes(&cloud, target).await?;
        let left = not_yet(&r, &vols);
        Ok::<_, CliError>(if left.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending(format!("not restored yet: {}", left.join(", ")))
        })
    })
    .await?;
    done.map_err(|t| CliError::Timeout {
        secs: o.timeout.as_secs(),
        detail: format!("{}; the request stays armed: run again to keep waiting", t.last),
    })?;
    cloud.s3.delete(std::slice::from_ref(&rkey)).await?;
    say(&format!(
        "every peer restored {} and rejoined: request removed",
        r.snapshot
    ));
    Ok(r)
}

/// Every snapshot of the cluster, oldest first (their keys sort by time): (key, taken_at,
/// verified).
pub async fn list(target: &Target, bucket: &str, prefix: &str) -> Result<Vec<(String, u64, bool)>> {
    let s3 = target.cloud.bucket(bucket, None);
    let keys = SnapshotKeys::new(prefix, target.cluster.name())?;
    let listing = s3.list(keys.dir()).await?;
    Ok(keys
        .entries(listing.iter().map(|o| o.key.as_str()))
        .into_iter()
        .map(|e| (e.key, e.taken_at, e.verified))
        .collect())
}

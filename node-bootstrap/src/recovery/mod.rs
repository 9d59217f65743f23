//! A fresh data dir (DESIGN decision 11, issue 12): gather what the cluster, the other volumes
//! and the backup bucket say, decide with core's pure `plan_restore`, then apply it:
//! - [`cluster`]: what the other peers' members answer (a quorum that knows this member, no
//!   quorum, nobody);
//! - [`join`]: one peer at a time (an etcd lock), remove the old member and add this one back as
//!   a learner; `ready` promotes it once it caught up;
//! - [`restore`]: the restore plan every peer follows, the download checked against its
//!   manifest, `etcdutl snapshot restore` under this peer's name and the cluster's token;
//! - [`request`]: the operator's restore of a chosen snapshot (`steadfast restore`), which
//!   sets a member's data aside so the fresh path restores the requested plan.
//!
//! A volume whose data is gone is tagged `steadfast:blank` before anything is decided, so every
//! other peer sees it. What a peer did is handed to `ready` in [`Handoff`], next to etcd's
//! environment file.

pub mod cluster;
pub mod join;
pub mod request;
pub mod restore;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use steadfast_core::aws::{Objects, Volume, Volumes};
use steadfast_core::backup::{
    newest_verified, plan_restore, restore_epoch, OwnVolume, PeerVolume, RestoreFacts, RestoreOrder, RestorePlan,
    SnapshotKeys,
};
use steadfast_core::clock::now_secs;
use steadfast_core::poll::{self, Backoff, Poll};
pub use steadfast_core::report::Recovered;
use steadfast_core::vocab::{Step, Tags, TAG_BLANK, TAG_CLUSTER};
use steadfast_core::{Cluster, PeerIndex};
use tracing::{info, warn};

use crate::config::NodeConfig;
use crate::error::{BootstrapError, Result};
use crate::identity::Identity;

/// What `prepare` hands to `ready`: written next to etcd's environment file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    pub volume_id: String,
    pub peer: u32,
    pub recovered: Recovered,
}

impl Handoff {
    pub fn path(env_file: &Path) -> PathBuf {
        env_file.with_file_name("handoff.json")
    }

    pub fn read(env_file: &Path) -> Option<Self> {
        let text = std::fs::read(Self::path(env_file)).ok()?;
        serde_json::from_slice(&text).ok()
    }
}

/// Every other peer's volume, from the cluster's volumes (by their tags).
pub fn peer_volumes(cluster: &Cluster, me: PeerIndex, vols: &[Volume]) -> Vec<(PeerIndex, PeerVolume)> {
    let mut by_peer: BTreeMap<PeerIndex, Vec<&Volume>> = BTreeMap::new();
    for v in vols {
        if let Ok(Some(p)) = cluster.peer_from_tags(&v.tags) {
            by_peer.entry(p).or_default().push(v);
        }
    }
    cluster
        .peers()
        .filter(|p| *p != me)
        .map(|p| {
            let state = match by_peer.get(&p).map(Vec::as_slice) {
                Some([v]) if !v.tags.joined() => PeerVolume::NeverJoined,
                Some([v]) if v.tags.blank() => PeerVolume::Blank,
                Some([_]) => PeerVolume::HoldsData,
                _ => PeerVolume::Unknown,
            };
            (p, state)
        })
        .collect()
}

/// The newest verified snapshot, and the restore plan of the loss at `epoch` (if one was made).
pub async fn bucket_facts<O: Objects>(
    objects: &O,
    keys: &SnapshotKeys,
    epoch: u64,
) -> Result<(Option<String>, Option<RestoreOrder>)> {
    let listing = objects.list(keys.dir()).await?;
    let entries = keys.entries(listing.iter().map(|o| o.key.as_str()));
    let newest = newest_verified(&entries).map(|e| e.key.clone());
    let order = RestoreOrder::read(objects, &keys.restore_plan(epoch)).await?;
    Ok((newest, order))
}

/// What a fresh data dir needs before its data can be put there: a blank volume is formatted
/// and mounted only once the plan says data will come.
pub trait MakeReady {
    fn make_ready(&self) -> impl std::future::Future<Output = Result<()>> + Send;
}

/// The inputs of [`recover`] besides the cloud.
#[derive(Debug)]
pub struct Fresh<'a> {
    pub cluster: &'a Cluster,
    pub peer: PeerIndex,
    pub id: &'a Identity,
    pub volume: &'a Volume,
    pub own: OwnVolume,
    pub cfg: &'a NodeConfig,
    /// How to reach the other members (TLS or not).
    pub access: &'a steadfast_core::etcd::Access,
}

/// Decides and applies how a fresh data dir gets its data. Waits (looking again, at most
/// `cfg.prepare_deadline`) while the plan says wait; a refusal is [`BootstrapError::DataLoss`].
pub async fn recover<V, O, M>(ec2: &V, objects: Option<&O>, f: &Fresh<'_>, make_ready: &M) -> Result<Recovered>
where
    V: Volumes,
    O: Objects,
    M: MakeReady + Sync,
{
    let cluster = f.cluster;
    if f.own == OwnVolume::Lost && !f.volume.tags.blank() {
        ec2.tag_volume(&f.volume.volume_id, TAG_BLANK, &now_secs().to_string())
            .await?;
        warn!(during = %Step::Recovery, volume = %f.volume.volume_id, "this peer's data is gone: volume tagged blank, so every peer sees it");
    }
    let keys = SnapshotKeys::new(&f.cfg.backup.prefix, cluster.name())?;
    let decided = poll::until(
        f.cfg.prepare_deadline,
        Backoff::new(Duration::from_millis(250), Duration::from_secs(2)),
        || async {
            let vols = ec2
                .volumes_tagged(&Tags::from_pairs([(TAG_CLUSTER, cluster.name().as_str())]))
                .await?;
            let epoch = restore_epoch(&vols);
            let (newest_verified, order) = match objects {
                Some(o) => bucket_facts(o, &keys, epoch).await?,
                None => (None, None),
            };
            let answer = cluster::answer(f.access, cluster, f.peer, Duration::from_secs(1)).await;
            let facts = RestoreFacts {
                own: f.own,
                cluster: answer.answer.clone(),
                others: peer_volumes(cluster, f.peer, &vols),
                newest_verified,
                planned: order.as_ref().map(|o| o.snapshot.clone()),
            };
            let plan = plan_restore(&facts);
            Ok::<_, BootstrapError>(match plan {
                RestorePlan::Wait { why } => {
                    info!(during = %Step::Recovery, facts = ?facts, reason = %why, "waiting");
                    crate::progress::waiting(&format!("recovery: {why}"));
                    Poll::Pending(why)
                }
                plan => Poll::Ready((plan, answer, order, epoch, format!("{facts:?}"))),
            })
        },
    )
    .await?;
    let (plan, answer, order, epoch, facts) = decided.map_err(|t| BootstrapError::Timeout {
        what: "the cluster or the backups deciding how this fresh member gets its data",
        secs: f.cfg.prepare_deadline.as_secs(),
        detail: t.last,
    })?;
    info!(during = %Step::Recovery, plan = %plan, facts = %facts, "recovery decided");
    match plan {
        RestorePlan::Wait { why } => Err(BootstrapError::NotYet(why)),
        RestorePlan::Refuse { why } => Err(BootstrapError::DataLoss {
            volume: f.volume.volume_id.clone(),
            why,
        }),
        RestorePlan::NewCluster => {
            make_ready.make_ready().await?;
            Ok(Recovered::NewCluster)
        }
        RestorePlan::Join { remove } => {
            let endpoint = answer
                .endpoint
                .ok_or_else(|| BootstrapError::NotYet("the quorum's endpoint is gone".into()))?;
            make_ready.make_ready().await?;
            join::join(f.access, cluster, f.peer, &endpoint, remove, &f.id.instance_id).await
        }
        RestorePlan::Restore { snapshot, write_plan } => {
            let objects = objects.ok_or_else(|| {
                BootstrapError::Config("a restore was planned but no backup bucket is configured".into())
            })?;
            make_ready.make_ready().await?;
            let who = format!("{} ({})", cluster.member_name(f.peer), f.id.instance_id);
            restore::restore(
                objects,
                &keys.restore_plan(epoch),
                f,
                &snapshot,
                write_plan.then_some(who),
                order,
            )
            .await
        }
    }
}

//! The operator's restore request (`steadfast restore`, a chosen snapshot on purpose): before
//! etcd may start, a node reads the request, decides with core's pure `plan_requested`, and
//! waits while it is not armed, or discards its member (one rename out of the way, then
//! deleted: a volume has room for one member and a restore, not two) so the fresh path
//! restores the request's plan like every other peer.

use std::time::Duration;

use steadfast_core::aws::{Objects, Volume};
use steadfast_core::backup::{
    joined_at, plan_requested, set_aside_name, RequestFacts, Requested, RestoreRequest, SnapshotKeys,
};
use steadfast_core::poll::{self, Backoff, Poll};
use steadfast_core::vocab::Step;
use steadfast_core::Cluster;
use tracing::{info, warn};

use crate::config::NodeConfig;
use crate::datadir;
use crate::error::{BootstrapError, Result};

/// Follows the restore request, if there is one: waits (at most `cfg.prepare_deadline`) while
/// it is not armed; discards the member when it must. `mounted`: the data dir is this volume's
/// (a blank volume is not mounted yet and holds nothing). True when the member was discarded
/// now (the data dir is fresh from here on).
pub async fn follow<O: Objects>(
    objects: Option<&O>,
    cluster: &Cluster,
    vol: &Volume,
    mounted: bool,
    cfg: &NodeConfig,
) -> Result<bool> {
    let Some(objects) = objects else { return Ok(false) };
    let keys = SnapshotKeys::new(&cfg.backup.prefix, cluster.name())?;
    let joined = joined_at(vol);
    let data_dir = &cfg.data_dir;
    let decided = poll::until(
        cfg.prepare_deadline,
        Backoff::new(Duration::from_millis(250), Duration::from_secs(2)),
        || async {
            let request = RestoreRequest::read(objects, &keys).await?;
            let set_aside = request
                .as_ref()
                .is_some_and(|r| data_dir.join(set_aside_name(r)).exists());
            let has_data = mounted && !datadir::is_fresh(data_dir)?;
            let facts = RequestFacts {
                request,
                joined,
                has_data,
                set_aside,
            };
            Ok::<_, BootstrapError>(match plan_requested(&facts) {
                Requested::Wait { why } => {
                    info!(during = %Step::Recovery, reason = %why, "waiting");
                    crate::progress::waiting(&format!("the operator's restore request: {why}"));
                    Poll::Pending(why)
                }
                plan => Poll::Ready((plan, facts.request)),
            })
        },
    )
    .await?;
    let (plan, request) = decided.map_err(|t| BootstrapError::Timeout {
        what: "the operator's restore request to be armed (every old instance gone)",
        secs: cfg.prepare_deadline.as_secs(),
        detail: t.last,
    })?;
    let name = request.as_ref().map(set_aside_name);
    let snapshot = request.map(|r| r.snapshot).unwrap_or_default();
    let discarded = match plan {
        Requested::Discard { to } => {
            let from = data_dir.join("member");
            let to = data_dir.join(to);
            // One rename: from here the data dir is fresh, whatever happens next.
            std::fs::rename(&from, &to).map_err(BootstrapError::io(&from))?;
            if let Ok(d) = std::fs::File::open(data_dir) {
                let _ = d.sync_all();
            }
            warn!(during = %Step::Recovery, volume = %vol.volume_id, snapshot = %snapshot,
                "the operator asked for a restore: this member's data is discarded, and the peer restores the requested snapshot");
            true
        }
        _ => false,
    };
    // The moved member is deleted (now, or on the boot after a crash that left it).
    if let Some(left) = name.map(|n| data_dir.join(n)).filter(|p| p.exists()) {
        std::fs::remove_dir_all(&left).map_err(BootstrapError::io(&left))?;
        info!(during = %Step::Recovery, removed = %left.display(), "the discarded member deleted");
    }
    Ok(discarded)
}

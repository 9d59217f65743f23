//! Volumes lost: one (healed from the quorum), every one (restored from the newest verified
//! snapshot), and one blank while every node is down (never a restore, never a second cluster).

use super::{a_follower, terminate_all, the_leader, Ctx, Inject, Injected};
use crate::error::{Result, SandboxError};
use crate::region::verbs;

/// A follower's volume wiped and its node lost: it comes back as a new member.
pub fn one<'a>(c: &'a Ctx<'a>) -> Inject<'a> {
    Box::pin(async move {
        let p = a_follower(c.cluster).await?;
        let v = verbs::wipe(c.cluster, p).await?;
        terminate_all(&[p], true, c.marks).await?;
        c.marks.mark(&format!("peer-{p}'s volume {v} wiped"));
        Ok(Injected {
            renewed: vec![p],
            ..Injected::default()
        })
    })
}

/// A snapshot now, then every volume wiped and every node lost.
pub fn all<'a>(c: &'a Ctx<'a>) -> Inject<'a> {
    Box::pin(async move {
        let taken = snapshot_now(c).await?;
        c.marks.mark(&format!("snapshot at revision {}", taken.revision));
        let all: Vec<_> = c.cluster.peers().collect();
        for p in &all {
            verbs::wipe(c.cluster, *p).await?;
        }
        terminate_all(&all, true, c.marks).await?;
        c.marks.mark("every volume wiped");
        Ok(Injected::default())
    })
}

/// Every node down, one volume blank: the other eight hold the data and must form the cluster;
/// the blank one must wait and join, never restore, never bootstrap.
pub fn all_but_one_blank<'a>(c: &'a Ctx<'a>) -> Inject<'a> {
    Box::pin(async move {
        let p = a_follower(c.cluster).await?;
        verbs::wipe(c.cluster, p).await?;
        terminate_all(&c.cluster.peers().collect::<Vec<_>>(), true, c.marks).await?;
        c.marks.mark(&format!("all down, peer-{p}'s volume wiped"));
        Ok(Injected {
            renewed: vec![p],
            ..Injected::default()
        })
    })
}

/// The leader's on-demand snapshot (it always takes one, or fails).
pub async fn snapshot_now(c: &Ctx<'_>) -> Result<steadfast_core::backup::Manifest> {
    let lead = the_leader(c.cluster).await?;
    let r = verbs::backup_now(lead).await?;
    r.taken
        .ok_or_else(|| SandboxError::Setup(format!("the on-demand backup took no snapshot: {:?}", r.skipped)))
}

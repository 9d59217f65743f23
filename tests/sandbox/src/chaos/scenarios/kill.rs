//! Instances lost one way or another: the leader's etcd killed, one node, every node, a
//! majority, a node whose volume stays attached, and every instance replaced in turn.

use serde_json::json;

use super::{terminate_all, the_leader, zone_plus, Ctx, Inject, Injected};
use crate::error::SandboxError;
use crate::region::health::leader;
use crate::region::verbs;

/// `kill -9` of the leader's etcd (its node restarts it, as systemd would).
pub fn leader_etcd<'a>(c: &'a Ctx<'a>) -> Inject<'a> {
    Box::pin(async move {
        let l = the_leader(c.cluster).await?;
        verbs::kill_etcd(l)?;
        c.marks.mark(&format!("kill -9 etcd of peer-{l} (leader)"));
        Ok(Injected::default())
    })
}

/// Peer 4 loses power and is terminated.
pub fn one<'a>(c: &'a Ctx<'a>) -> Inject<'a> {
    Box::pin(async move {
        terminate_all(&[c.cluster.peer(4)?], true, c.marks).await?;
        Ok(Injected::default())
    })
}

/// Every node loses power at once.
pub fn all<'a>(c: &'a Ctx<'a>) -> Inject<'a> {
    Box::pin(async move {
        terminate_all(&c.cluster.peers().collect::<Vec<_>>(), true, c.marks).await?;
        Ok(Injected::default())
    })
}

/// A majority (the leader's zone first) loses power.
pub fn majority<'a>(c: &'a Ctx<'a>) -> Inject<'a> {
    Box::pin(async move {
        let n = c.cluster.quorum() as usize;
        let peers = zone_plus(c.cluster, 0, n.saturating_sub(c.cluster.peers_in_zone(0).len())).await;
        terminate_all(&peers[..n.min(peers.len())], true, c.marks).await?;
        Ok(Injected::default())
    })
}

/// The instance dies and its volume stays attached to it: the fence waits out the grace
/// period, then force-detaches.
pub fn stuck_volume<'a>(c: &'a Ctx<'a>) -> Inject<'a> {
    Box::pin(async move {
        verbs::moto_admin("config", &json!({"keep_volumes_on_terminate": true})).await?;
        let p = c.cluster.peer(2)?;
        let r = terminate_all(&[p], true, c.marks).await;
        if let Ok(ids) = &r {
            c.settle.replaced(p, &ids[0]).await;
        }
        verbs::moto_admin("config", &json!({"keep_volumes_on_terminate": false})).await?;
        r?;
        Ok(Injected::default())
    })
}

/// One at a time, as an instance refresh would; the leader last, after moving the leadership
/// away from it. Each replacement must be healthy before the next.
pub fn rolling<'a>(c: &'a Ctx<'a>) -> Inject<'a> {
    Box::pin(async move {
        let lead = the_leader(c.cluster).await?;
        let mut order: Vec<_> = c.cluster.peers().filter(|p| *p != lead).collect();
        order.push(lead);
        for p in order {
            if leader(c.cluster).await == Some(p) {
                let to = c.cluster.peers().find(|q| *q != p).unwrap_or(p);
                verbs::move_leader(c.cluster, to).await?;
                c.marks.mark(&format!("move leader to peer-{to}"));
            }
            let ids = terminate_all(&[p], false, c.marks).await?;
            // Settled means replaced: a new instance holds the slot and every peer is its
            // original member again. Waiting only for "all healthy" returns at once, before
            // the group has even noticed, and the next terminate would take two down.
            if !c.settle.replaced(p, &ids[0]).await {
                return Err(SandboxError::Setup(format!(
                    "peer-{p} was not replaced and healthy within the settle timeout"
                )));
            }
            c.marks.mark(&format!("peer-{p} replaced"));
        }
        Ok(Injected::default())
    })
}

//! Joining the running cluster with a fresh data dir: under the join lock (one peer at a time),
//! record the join in the cluster, remove the old member, add this peer back as a learner with
//! its stable peer URL. etcd refuses a removal that would leave too few started members for a
//! quorum (strict reconfiguration checks): that comes back as a retry. `ready` promotes the
//! learner once it has caught up, then deletes the join record.

use std::time::Duration;

use etcd_client::{GetOptions, MemberAddOptions};
use steadfast_core::etcd::{self, keys, Access, EtcdError};
use steadfast_core::poll::{self, Backoff, Poll};
use steadfast_core::vocab::Step;
use steadfast_core::{Cluster, PeerIndex};
use tracing::info;

use super::Recovered;
use crate::error::{BootstrapError, Result};

const LOCK_TTL: Duration = Duration::from_secs(30);
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How long a member add waits for the leader to be connected to every voting member.
const ADD_WAIT: Duration = Duration::from_secs(20);

/// etcd's `name=peer-url,...` for `members`, every name derived from its stable URL (an
/// unstarted member, this learner among them, has no name in the list yet).
pub fn initial_cluster(cluster: &Cluster, members: &[etcd_client::Member]) -> Result<String> {
    let mut out = Vec::new();
    for m in members {
        for url in m.peer_urls() {
            let p = etcd::peer_of_url(cluster, url).ok_or_else(|| {
                BootstrapError::Config(format!(
                    "member {:x} has peer URL {url}, which is no peer of cluster {}",
                    m.id(),
                    cluster.name()
                ))
            })?;
            out.push(format!("{}={url}", cluster.member_name(p)));
        }
    }
    Ok(out.join(","))
}

/// Removes `remove` (when given and still a member) and adds this peer as a learner, through
/// the member at `endpoint`.
pub async fn join(
    access: &Access,
    cluster: &Cluster,
    peer: PeerIndex,
    endpoint: &str,
    remove: Option<u64>,
    instance_id: &str,
) -> Result<Recovered> {
    let mut c = access.connect(&[endpoint.to_string()], Duration::from_secs(5)).await?;
    let held = etcd::lock(&c, keys::JOIN_LOCK, LOCK_TTL, LOCK_WAIT).await?;
    let done = async {
        let my_url = access.peer_url(cluster, peer);
        let my_key = keys::join(cluster, peer);
        let members = c.member_list().await.map_err(EtcdError::call("member list"))?;
        // One peer at a time: another learner, or another peer's join record, waits its turn.
        let records = c
            .get(keys::JOIN_PREFIX, Some(GetOptions::new().with_prefix().with_keys_only()))
            .await
            .map_err(EtcdError::call(format!("get {}", keys::JOIN_PREFIX)))?;
        let others: Vec<String> = records
            .kvs()
            .iter()
            .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
            .filter(|k| *k != my_key)
            .collect();
        let other_learner = members
            .members()
            .iter()
            .find(|m| m.is_learner() && !m.peer_urls().contains(&my_url));
        if let Some(m) = other_learner {
            return Err(BootstrapError::NotYet(format!(
                "member {:x} ({}) is a learner still catching up: one peer joins at a time",
                m.id(),
                m.peer_urls().join(",")
            )));
        }
        if !others.is_empty() {
            return Err(BootstrapError::NotYet(format!(
                "{} under way: one peer joins at a time",
                others.join(", ")
            )));
        }
        let record = serde_json::json!({
            "instance": instance_id,
            "since": steadfast_core::clock::now_secs(),
            "removed": remove.map(|id| format!("{id:x}")),
        });
        c.put(my_key.as_str(), record.to_string(), None)
            .await
            .map_err(EtcdError::call(format!("put {my_key}")))?;
        if let Some(id) = remove.filter(|id| members.members().iter().any(|m| m.id() == *id)) {
            c.member_remove(id)
                .await
                .map_err(EtcdError::call(format!("member remove {id:x}")))?;
            info!(step = %Step::Heal, action = "removed", member = format!("{id:x}"), peer = peer.get(),
                "the old member of this peer removed (its data is gone)");
        }
        let now = c.member_list().await.map_err(EtcdError::call("member list"))?;
        let learner = now
            .members()
            .iter()
            .find(|m| m.is_learner() && m.peer_urls().contains(&my_url))
            .map(|m| m.id());
        let members = match learner {
            Some(id) => {
                info!(during = %Step::Heal, member = format!("{id:x}"), "already a learner (a join that stopped): resuming");
                now.members().to_vec()
            }
            None => {
                // etcd adds a member only once its leader has been connected to every voting
                // member for a while (5 s: "unhealthy cluster" until then, e.g. right after the
                // cluster re-formed); that is waited for here, with the join lock held.
                let adder = c.clone();
                let added = poll::until(ADD_WAIT, Backoff::new(Duration::from_millis(250), Duration::from_secs(1)), || {
                    let mut c = adder.clone();
                    let url = my_url.clone();
                    async move {
                        match c
                            .member_add([url.as_str()], Some(MemberAddOptions::new().with_is_learner()))
                            .await
                            .map_err(EtcdError::call("member add --learner"))
                        {
                            Ok(r) => Ok(Poll::Ready(r)),
                            // "unhealthy cluster": etcd's Unavailable, until it has seen every
                            // voter for a while.
                            Err(e) if e.is_unavailable() => Ok(Poll::Pending(e.to_string())),
                            Err(e) => Err(BootstrapError::Etcd(e)),
                        }
                    }
                })
                .await?
                .map_err(|t| BootstrapError::NotYet(format!("member add --learner: {} (for {:?})", t.last, t.waited)))?;
                let id = added.member().map(|m| m.id()).unwrap_or_default();
                info!(step = %Step::Heal, action = "added", member = format!("{id:x}"), peer = peer.get(), url = %my_url,
                    "added back as a learner");
                added.member_list().to_vec()
            }
        };
        let endpoints: Vec<String> = members
            .iter()
            .filter(|m| !m.is_learner())
            .flat_map(|m| m.peer_urls().iter().filter_map(|u| etcd::peer_of_url(cluster, u)))
            .map(|p| access.client_url(cluster, p))
            .collect();
        Ok(Recovered::Joined {
            initial_cluster: initial_cluster(cluster, &members)?,
            endpoints,
            record: my_key.clone(),
        })
    }
    .await;
    held.release().await;
    done
}

/// Deletes this peer's join record once it is a voting member again (best effort: a stale
/// record only makes the next join of another peer wait until this one's node deletes it).
pub async fn forget(access: &Access, ip: std::net::Ipv4Addr, h: &super::Handoff) {
    let Ok(mut c) = access.connect(&[access.local_url(ip)], Duration::from_secs(5)).await else {
        return;
    };
    let super::Recovered::Joined { record, .. } = &h.recovered else {
        return;
    };
    match c.delete(record.as_str(), None).await {
        Ok(_) => {
            info!(step = %Step::Heal, action = "done", peer = h.peer, "joined, promoted and caught up: the join record deleted")
        }
        Err(e) => tracing::warn!(during = %Step::Heal, error = %e, "could not delete the join record"),
    }
}

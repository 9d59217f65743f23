//! What the other peers' members answer, asked through their stable names as a client would:
//! a member that knows a leader and serves a linearizable read proves a quorum, and its member
//! list says how this peer's member appears in it.

use std::time::Duration;

use etcd_client::GetOptions;
use futures::future::join_all;
use steadfast_core::backup::{ClusterAnswer, MemberSeen};
use steadfast_core::etcd::{keys, probe, Access};
use steadfast_core::{Cluster, PeerIndex};

/// The answer, and the client URL of the member that proved the quorum (to change membership
/// through).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterView {
    pub answer: ClusterAnswer,
    pub endpoint: Option<String>,
}

/// How one peer answered.
#[derive(Debug)]
enum Reply {
    /// No connection, or no status.
    Silent,
    /// A status without a leader, or a leader but no linearizable read.
    NoLeader,
    /// A quorum: this peer's member as the list shows it, and whether its join record exists.
    Quorum { me: MemberSeen, join_pending: bool },
}

/// How this peer's member appears in `members`, found by its peer URL.
pub fn seen(members: &[etcd_client::Member], url: &str) -> MemberSeen {
    match members.iter().find(|m| m.peer_urls().iter().any(|u| u == url)) {
        None => MemberSeen::Absent,
        Some(m) => classify(m.id(), m.is_learner(), m.name(), m.client_urls()),
    }
}

/// A listed member has started once it published its attributes: its name AND its client
/// URLs. A member added by `member add` has neither before it starts; a member of the first
/// bootstrap's initial cluster has a name from the start (the name in `--initial-cluster`, or
/// a number with SRV discovery) but no client URL until it runs. Judging by the name alone took
/// a first bootstrap's late member for a started one whose data was lost: it removed itself
/// and tried to join as a learner, and the bring-up stalled (issue 32's hang).
pub fn classify(id: u64, is_learner: bool, name: &str, client_urls: &[String]) -> MemberSeen {
    if is_learner {
        MemberSeen::Learner { id }
    } else if name.is_empty() || client_urls.is_empty() {
        MemberSeen::Unstarted { id }
    } else {
        MemberSeen::Started { id }
    }
}

async fn ask(access: &Access, endpoint: String, my_url: String, join_key: String, timeout: Duration) -> Reply {
    let Ok(mut c) = access.connect(std::slice::from_ref(&endpoint), timeout).await else {
        return Reply::Silent;
    };
    let Ok(st) = probe(&mut c, false).await else {
        return Reply::Silent;
    };
    if st.leader == 0 {
        return Reply::NoLeader;
    }
    // A linearizable read goes through the leader's quorum: it proves there is one, and it
    // reads this peer's join record on the way.
    let Ok(got) = c.get(join_key, Some(GetOptions::new().with_count_only())).await else {
        return Reply::NoLeader;
    };
    let Ok(list) = c.member_list().await else {
        return Reply::NoLeader;
    };
    Reply::Quorum {
        me: seen(list.members(), &my_url),
        join_pending: got.count() > 0,
    }
}

/// Asks every other peer's member at once, each within `timeout`.
pub async fn answer(access: &Access, cluster: &Cluster, me: PeerIndex, timeout: Duration) -> ClusterView {
    let my_url = access.peer_url(cluster, me);
    let join_key = keys::join(cluster, me);
    let others: Vec<PeerIndex> = cluster.peers().filter(|p| *p != me).collect();
    let replies = join_all(others.iter().map(|p| {
        ask(
            access,
            access.client_url(cluster, *p),
            my_url.clone(),
            join_key.clone(),
            timeout,
        )
    }))
    .await;
    let mut answered = Vec::new();
    for (p, r) in others.iter().zip(replies) {
        match r {
            Reply::Quorum { me, join_pending } => {
                return ClusterView {
                    answer: ClusterAnswer::Quorum { me, join_pending },
                    endpoint: Some(access.client_url(cluster, *p)),
                }
            }
            Reply::NoLeader => answered.push(*p),
            Reply::Silent => {}
        }
    }
    ClusterView {
        answer: if answered.is_empty() {
            ClusterAnswer::Silent
        } else {
            ClusterAnswer::NoQuorum { answered }
        },
        endpoint: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_has_started_only_once_it_has_a_name_and_a_client_url() {
        let url = vec!["https://peer-3.main.etcd.internal:2379".to_string()];
        // (learner, name, client URLs, expected)
        let rows: [(bool, &str, &[String], MemberSeen); 5] = [
            (false, "peer-3", &url, MemberSeen::Started { id: 7 }),
            // The first bootstrap's late member: named by --initial-cluster (or SRV discovery's
            // number), no client URL yet.
            (false, "3", &[], MemberSeen::Unstarted { id: 7 }),
            (false, "peer-3", &[], MemberSeen::Unstarted { id: 7 }),
            // Added by `member add` and not started yet.
            (false, "", &[], MemberSeen::Unstarted { id: 7 }),
            (true, "", &[], MemberSeen::Learner { id: 7 }),
        ];
        for (learner, name, urls, want) in rows {
            assert_eq!(classify(7, learner, name, urls), want, "{learner} {name:?} {urls:?}");
        }
    }
}

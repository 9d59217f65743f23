//! The one planning entry point for the `peer-N` A records: [`plan_peer_records`] takes what was
//! gathered (a [`World`]) and decides everything: which live instance holds each slot
//! ([`slots`]), and which record changes that needs ([`addresses`]). The handler only gathers
//! and applies.
//!
//! A launch plans from a narrower world than a sweep: [`launch_scope`] is the part of the
//! cluster that decides the launching peer's name, and [`needs_whole_cluster`] says when that
//! plan must be made again from every group (a reused address whose stale record belongs to a
//! peer with a live instance elsewhere).
//!
//! Records are only ever changed in place (never deleted and re-added: a resolver would cache
//! the gap) and only when they differ. SRV records are never part of a plan.

mod addresses;
mod slots;

use std::net::Ipv4Addr;

pub use crate::aws::model::{CurrentRecord, RecordChange};
use crate::aws::{Group, Instance};
use crate::vocab::{Cluster, PeerIndex, PlaceholderNetwork};

/// Where a peer's name should point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredRecord {
    pub peer: PeerIndex,
    pub ip: Ipv4Addr,
    /// The instance that holds the address, for the log.
    pub instance_id: String,
    /// Its group.
    pub group: String,
    /// The instance is in service (it holds the volume).
    pub in_service: bool,
}

/// Something the plan leaves alone, and why: a peer, a group, or both. Never a default peer
/// standing in for a group whose tags named none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub peer: Option<PeerIndex>,
    pub group: Option<String>,
    pub reason: String,
}

impl Skip {
    pub fn peer(peer: PeerIndex, reason: String) -> Self {
        Self {
            peer: Some(peer),
            group: None,
            reason,
        }
    }

    pub fn group(group: &str, peer: Option<PeerIndex>, reason: String) -> Self {
        Self {
            peer,
            group: Some(group.to_string()),
            reason,
        }
    }

    /// `peer-N: group: reason`, leaving out what is not known.
    pub fn describe(&self, cluster: &Cluster) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(p) = self.peer {
            parts.push(cluster.member_name(p));
        }
        if let Some(g) = &self.group {
            parts.push(g.clone());
        }
        parts.push(self.reason.clone());
        parts.join(": ")
    }
}

/// Everything one invocation gathered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct World {
    pub groups: Vec<Group>,
    /// EC2's view of the groups' live instances (and the event's instance).
    pub instances: Vec<Instance>,
    /// The cluster's A records.
    pub records: Vec<CurrentRecord>,
}

/// What to write, and what was decided about everything else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerRecordPlan {
    pub changes: Vec<RecordChange>,
    /// The desired record of each peer that has one (for the log: which instance holds it).
    pub desired: Vec<DesiredRecord>,
    /// Peers whose record already points where it should.
    pub unchanged: Vec<PeerIndex>,
    pub skipped: Vec<Skip>,
    /// Groups that are not this cluster's: never touched.
    pub foreign: Vec<String>,
    /// Peers no group offered a live instance for: their records are left as they are.
    pub uncovered: Vec<PeerIndex>,
}

/// Plans every peer record of `cluster` from `world`. `preferred` is the instance named by a
/// launch event: it wins when it is live in its group and none of the group's instances is
/// in service yet. A peer with no live instance whose record still holds an address another
/// peer now has is moved to its placeholder in `placeholders`, in the same batch.
pub fn plan_peer_records(
    cluster: &Cluster,
    world: &World,
    preferred: Option<&str>,
    ttl: i64,
    placeholders: &PlaceholderNetwork,
) -> PeerRecordPlan {
    let slots = slots::plan_slots(cluster, &world.groups, &world.instances, preferred);
    let mut records = addresses::plan_records(cluster, &slots.desired, &world.records, ttl);
    records.changes.extend(addresses::plan_placeholders(
        cluster,
        &slots.desired,
        &world.records,
        ttl,
        placeholders,
    ));
    let covered: Vec<PeerIndex> = slots.desired.iter().map(|d| d.peer).collect();
    let touched = |p: &PeerIndex| {
        records.changes.iter().any(|c| c.peer == *p) || records.skipped.iter().any(|s| s.peer == Some(*p))
    };
    let mut unchanged: Vec<PeerIndex> = covered.iter().copied().filter(|p| !touched(p)).collect();
    unchanged.dedup();
    PeerRecordPlan {
        changes: records.changes,
        unchanged,
        skipped: slots.issues.into_iter().chain(records.skipped).collect(),
        foreign: slots.foreign,
        uncovered: cluster.peers().filter(|p| !covered.contains(p)).collect(),
        desired: slots.desired,
    }
}

/// What an event's gather covers: the groups its plan is made from, or why it is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Plan from these groups.
    Groups(Vec<Group>),
    /// The launch's group is not this cluster's (or is gone): nothing to plan, nothing written.
    Ignore(String),
}

/// The scope of an event, from every group of the cluster: a sweep (`launch_group` `None`)
/// plans from all of them; a launch from its [`launch_scope`], unless its group is not among
/// them.
pub fn event_scope(cluster: &Cluster, groups: &[Group], launch_group: Option<&str>) -> Scope {
    match launch_group {
        None => Scope::Groups(groups.to_vec()),
        Some(g) if !groups.iter().any(|x| x.name == g) => Scope::Ignore(format!(
            "auto scaling group {g} is not tagged for cluster {} (or does not exist)",
            cluster.name()
        )),
        Some(g) => Scope::Groups(launch_scope(cluster, groups, g)),
    }
}

/// The wider scope a plan made from `scope` must be made again from, if any: the whole cluster,
/// when the plan [`needs_whole_cluster`] and `scope` was not that already.
pub fn widened(cluster: &Cluster, groups: &[Group], scope: &[Group], plan: &PeerRecordPlan) -> Option<Vec<Group>> {
    (scope.len() < groups.len() && needs_whole_cluster(cluster, groups, plan)).then(|| groups.to_vec())
}

/// The groups a launch in `group` plans from: that group, and every other group of the cluster
/// that claims the same peer (so a second group's claim on the name is seen and reported). The
/// other peers are the sweep's. A group whose tags name no peer is its own scope: the plan
/// reports it.
pub fn launch_scope(cluster: &Cluster, groups: &[Group], group: &str) -> Vec<Group> {
    let peer_of = |g: &Group| cluster.peer_from_tags(&g.tags).ok().flatten();
    let peer = groups.iter().find(|g| g.name == group).and_then(peer_of);
    groups
        .iter()
        .filter(|g| g.name == group || (peer.is_some() && peer_of(g) == peer))
        .cloned()
        .collect()
}

/// Whether a plan made from a [`launch_scope`] must be made again from the whole cluster: it
/// moves another peer's record to its placeholder (the launching instance got an address that
/// record still holds), yet one of `groups` offers that peer a live instance the scope did not
/// describe. That name belongs at its own instance, not at the placeholder. When the peer has no
/// live instance (the reuse the placeholder exists for), the scope's plan is the right one.
pub fn needs_whole_cluster(cluster: &Cluster, groups: &[Group], plan: &PeerRecordPlan) -> bool {
    plan.changes.iter().filter(|c| c.instance_id.is_none()).any(|c| {
        groups.iter().any(|g| {
            cluster.peer_from_tags(&g.tags).ok().flatten() == Some(c.peer) && g.live_instances().next().is_some()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{GroupInstance, InstanceState, LifecycleState};
    use crate::vocab::{ClusterName, Domain, Tags, TAG_CLUSTER, TAG_PEER};

    fn cluster() -> Cluster {
        Cluster::new(
            ClusterName::new("main").unwrap(),
            Domain::new("etcd.internal").unwrap(),
            3,
            3,
        )
        .unwrap()
    }

    fn group(name: &str, tags: &[(&str, &str)], id: &str) -> Group {
        Group {
            name: name.into(),
            tags: Tags::from_pairs(tags.iter().copied()),
            instances: vec![GroupInstance {
                instance_id: id.into(),
                lifecycle_state: LifecycleState::InService,
                availability_zone: None,
            }],
        }
    }

    fn running(id: &str, ip: &str) -> Instance {
        Instance {
            instance_id: id.into(),
            state: InstanceState::Running,
            private_ip: Some(ip.parse().unwrap()),
            availability_zone: None,
            tags: Tags::default(),
        }
    }

    #[test]
    fn one_entry_point_names_groups_and_peers() {
        let c = cluster();
        let w = World {
            groups: vec![
                group("g0", &[(TAG_CLUSTER, "main"), (TAG_PEER, "0")], "i-0"),
                group("g1", &[(TAG_CLUSTER, "main"), (TAG_PEER, "1")], "i-1"),
                group("bad", &[(TAG_CLUSTER, "main"), (TAG_PEER, "x")], "i-x"),
                group("web", &[], "i-w"),
            ],
            instances: vec![running("i-0", "127.0.1.4"), running("i-1", "127.0.2.4")],
            records: vec![CurrentRecord {
                name: "peer-1.main.etcd.internal.".into(),
                values: vec!["127.0.2.4".into()],
                ttl: Some(5),
            }],
        };
        let plan = plan_peer_records(&c, &w, None, 5, &PlaceholderNetwork::default());
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.changes[0].peer, c.peer(0).unwrap());
        assert_eq!(plan.changes[0].previous, None);
        assert_eq!(plan.unchanged, vec![c.peer(1).unwrap()]);
        assert_eq!(plan.foreign, vec!["web".to_string()]);
        assert_eq!(plan.uncovered, vec![c.peer(2).unwrap()]);
        // A group whose peer tag is bad is named by its group, never blamed on a peer.
        assert_eq!(plan.skipped.len(), 1, "{:?}", plan.skipped);
        assert_eq!(plan.skipped[0].peer, None);
        assert_eq!(plan.skipped[0].group.as_deref(), Some("bad"));
        let text = plan.skipped[0].describe(&c);
        assert!(text.starts_with("bad: invalid peer tag"), "{text}");
        assert!(!text.contains("peer-0"), "{text}");
    }

    fn names(gs: &[Group]) -> Vec<&str> {
        gs.iter().map(|g| g.name.as_str()).collect()
    }

    #[test]
    fn a_launch_plans_from_the_groups_that_claim_its_peer() {
        let c = cluster();
        let groups = vec![
            group("g0", &[(TAG_CLUSTER, "main"), (TAG_PEER, "0")], "i-0"),
            group("g1", &[(TAG_CLUSTER, "main"), (TAG_PEER, "1")], "i-1"),
            group("g0-too", &[(TAG_CLUSTER, "main"), (TAG_PEER, "0")], "i-00"),
            group("bad", &[(TAG_CLUSTER, "main"), (TAG_PEER, "x")], "i-x"),
        ];
        assert_eq!(names(&launch_scope(&c, &groups, "g0")), vec!["g0", "g0-too"]);
        assert_eq!(names(&launch_scope(&c, &groups, "g1")), vec!["g1"]);
        // A group whose tags are bad is its own scope, so the plan reports it.
        assert_eq!(names(&launch_scope(&c, &groups, "bad")), vec!["bad"]);
        let w = World {
            groups: launch_scope(&c, &groups, "bad"),
            instances: vec![running("i-x", "127.0.9.4")],
            records: vec![],
        };
        let plan = plan_peer_records(&c, &w, Some("i-x"), 5, &PlaceholderNetwork::default());
        assert!(plan.changes.is_empty());
        assert_eq!(plan.skipped[0].group.as_deref(), Some("bad"));
    }

    #[test]
    fn a_reused_address_needs_the_whole_cluster_only_when_its_old_peer_is_alive() {
        let c = cluster();
        let record = |n: u32, ip: &str| CurrentRecord {
            name: c.peer_record_name(c.peer(n).unwrap()),
            values: vec![ip.into()],
            ttl: Some(5),
        };
        // Peer 0's new instance got 127.0.1.9, which peer 2's stale record still holds.
        let g0 = group("g0", &[(TAG_CLUSTER, "main"), (TAG_PEER, "0")], "i-0");
        let mut g2 = group("g2", &[(TAG_CLUSTER, "main"), (TAG_PEER, "2")], "i-2");
        let w = World {
            groups: launch_scope(&c, std::slice::from_ref(&g0), "g0"),
            instances: vec![running("i-0", "127.0.1.9")],
            records: vec![record(0, "127.0.1.4"), record(2, "127.0.1.9")],
        };
        let plan = plan_peer_records(&c, &w, Some("i-0"), 5, &PlaceholderNetwork::default());
        assert_eq!(plan.changes.len(), 2, "{plan:?}");
        let to_placeholder = plan.changes.iter().find(|ch| ch.instance_id.is_none()).unwrap();
        assert_eq!(to_placeholder.peer, c.peer(2).unwrap());
        // Peer 2 has a live instance: its name belongs there; plan again from everything.
        assert!(needs_whole_cluster(&c, &[g0.clone(), g2.clone()], &plan));
        // Peer 2 has none (terminated, no replacement yet): the placeholder is right.
        g2.instances[0].lifecycle_state = LifecycleState::Terminated;
        assert!(!needs_whole_cluster(&c, &[g0.clone(), g2], &plan));
        // No placeholder in the plan: nothing to widen for.
        let w = World {
            records: vec![record(0, "127.0.1.4")],
            ..w
        };
        let plan = plan_peer_records(&c, &w, Some("i-0"), 5, &PlaceholderNetwork::default());
        assert!(!needs_whole_cluster(&c, &[g0], &plan));
    }

    #[test]
    fn the_event_decides_the_scope_and_only_a_narrow_one_widens() {
        let c = cluster();
        let groups = vec![
            group("g0", &[(TAG_CLUSTER, "main"), (TAG_PEER, "0")], "i-0"),
            group("g2", &[(TAG_CLUSTER, "main"), (TAG_PEER, "2")], "i-2"),
        ];
        // A sweep plans from every group; a launch from its own peer's.
        assert_eq!(event_scope(&c, &groups, None), Scope::Groups(groups.clone()));
        assert_eq!(
            event_scope(&c, &groups, Some("g2")),
            Scope::Groups(vec![groups[1].clone()])
        );
        // A launch in a group that is not the cluster's is ignored, and says which group.
        let Scope::Ignore(why) = event_scope(&c, &groups, Some("other")) else {
            panic!("a foreign group's launch is ignored");
        };
        assert!(why.contains("other") && why.contains("main"), "{why}");
        // The launch of g0 got the address peer 2's stale record holds; peer 2 is alive.
        let record = |n: u32, ip: &str| CurrentRecord {
            name: c.peer_record_name(c.peer(n).unwrap()),
            values: vec![ip.into()],
            ttl: Some(5),
        };
        let Scope::Groups(scope) = event_scope(&c, &groups, Some("g0")) else {
            panic!("g0 is the cluster's");
        };
        let w = World {
            groups: scope.clone(),
            instances: vec![running("i-0", "127.0.1.9")],
            records: vec![record(0, "127.0.1.4"), record(2, "127.0.1.9")],
        };
        let plan = plan_peer_records(&c, &w, Some("i-0"), 5, &PlaceholderNetwork::default());
        assert_eq!(widened(&c, &groups, &scope, &plan), Some(groups.clone()));
        // The same plan from the whole cluster already: nothing wider to plan from.
        assert_eq!(widened(&c, &groups, &groups, &plan), None);
    }
}

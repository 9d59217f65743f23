//! Which live instance holds each peer's slot: the desired state the records are planned from
//! (pure).

use super::{DesiredRecord, Skip};
use crate::aws::{Group, Instance};
use crate::vocab::Cluster;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct SlotPlan {
    pub desired: Vec<DesiredRecord>,
    /// Groups that do not carry this cluster's tag: not ours, never touched.
    pub foreign: Vec<String>,
    /// Groups the plan could not use, each naming its group (and its peer when the tags gave one).
    pub issues: Vec<Skip>,
}

/// For every group of this cluster, the live (pending or in-service) instance that holds its
/// peer's slot, and that instance's private address.
///
/// `preferred` is the instance named by a launch event: it wins when it is live in its group.
/// Otherwise a group with exactly one live instance is used; none or several is an issue.
pub(super) fn plan_slots(
    cluster: &Cluster,
    groups: &[Group],
    instances: &[Instance],
    preferred: Option<&str>,
) -> SlotPlan {
    let mut plan = SlotPlan::default();
    for g in groups {
        let peer = match cluster.peer_from_tags(&g.tags) {
            Ok(Some(p)) => p,
            Ok(None) => {
                plan.foreign.push(g.name.clone());
                continue;
            }
            Err(e) => {
                plan.issues.push(Skip::group(&g.name, None, e.to_string()));
                continue;
            }
        };
        let issue = |reason: String| Skip::group(&g.name, Some(peer), reason);
        let live: Vec<_> = g.instances.iter().filter(|i| i.is_live()).collect();
        let in_service: Vec<_> = live.iter().filter(|i| i.lifecycle_state.is_in_service()).collect();
        let event_instance = preferred.and_then(|p| live.iter().find(|i| i.instance_id == p));
        let chosen = match (live.as_slice(), in_service.as_slice(), event_instance) {
            ([one], _, _) => *one,
            ([], _, _) => {
                plan.issues.push(issue("no pending or in-service instance".into()));
                continue;
            }
            // Several live: never move the name away from the one instance in service (it
            // holds the volume; a newcomer's bootstrap refuses until it is gone).
            (_, [serving], _) => **serving,
            // None in service yet: the launch event's instance.
            (_, [], Some(i)) => *i,
            (many, _, _) => {
                let ids: Vec<&str> = many.iter().map(|i| i.instance_id.as_str()).collect();
                plan.issues
                    .push(issue(format!("several live instances: {}", ids.join(", "))));
                continue;
            }
        };
        let Some(inst) = instances.iter().find(|i| i.instance_id == chosen.instance_id) else {
            plan.issues
                .push(issue(format!("instance {} not found in EC2", chosen.instance_id)));
            continue;
        };
        if !inst.state.can_hold_slot() {
            plan.issues
                .push(issue(format!("instance {} is {}", inst.instance_id, inst.state)));
            continue;
        }
        let Some(ip) = inst.private_ip else {
            plan.issues
                .push(issue(format!("instance {} has no private IP yet", inst.instance_id)));
            continue;
        };
        plan.desired.push(DesiredRecord {
            peer,
            ip,
            instance_id: inst.instance_id.clone(),
            group: g.name.clone(),
            in_service: chosen.lifecycle_state.is_in_service(),
        });
    }
    keep_the_serving_claim(cluster, &mut plan);
    plan
}

/// When several groups claim one peer and exactly one of their instances is in service, that
/// one keeps the name; the others are reported and never take it. (With none or several in
/// service the records planner skips the peer: nothing to guess at.)
fn keep_the_serving_claim(cluster: &Cluster, plan: &mut SlotPlan) {
    let mut peers: Vec<_> = plan.desired.iter().map(|d| d.peer).collect();
    peers.sort();
    peers.dedup();
    for peer in peers {
        let claims: Vec<&DesiredRecord> = plan.desired.iter().filter(|d| d.peer == peer).collect();
        let serving: Vec<&DesiredRecord> = claims.iter().copied().filter(|d| d.in_service).collect();
        let ([_, _, ..], [keeper]) = (claims.as_slice(), serving.as_slice()) else {
            continue;
        };
        let (keeper_id, keeper_group) = (keeper.instance_id.clone(), keeper.group.clone());
        let losers: Vec<DesiredRecord> = claims
            .iter()
            .filter(|d| d.instance_id != keeper_id)
            .map(|d| (*d).clone())
            .collect();
        for l in &losers {
            plan.issues.push(Skip::group(
                &l.group,
                Some(peer),
                format!(
                    "claims {} too, but {keeper_id} of group {keeper_group} holds it in service; this group's {} never takes the name",
                    cluster.member_name(peer),
                    l.instance_id
                ),
            ));
        }
        plan.desired.retain(|d| d.peer != peer || d.instance_id == keeper_id);
    }
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
            9,
            3,
        )
        .unwrap()
    }

    fn group(name: &str, tags: &[(&str, &str)], insts: &[(&str, &str)]) -> Group {
        Group {
            name: name.into(),
            tags: Tags::from_pairs(tags.iter().copied()),
            instances: insts
                .iter()
                .map(|(id, st)| GroupInstance {
                    instance_id: id.to_string(),
                    lifecycle_state: LifecycleState::from_aws(st),
                    availability_zone: None,
                })
                .collect(),
        }
    }

    fn inst(id: &str, state: &str, ip: Option<&str>) -> Instance {
        Instance {
            instance_id: id.into(),
            state: InstanceState::from_aws(state),
            private_ip: ip.map(|s| s.parse().unwrap()),
            availability_zone: None,
            tags: Tags::default(),
        }
    }

    #[test]
    fn table() {
        let c = cluster();
        let ours = |p: &'static str| vec![(TAG_CLUSTER, "main"), (TAG_PEER, p)];
        struct Case {
            name: &'static str,
            groups: Vec<Group>,
            instances: Vec<Instance>,
            preferred: Option<&'static str>,
            desired: Vec<(u32, &'static str, &'static str)>,
            foreign: usize,
            issues: Vec<&'static str>,
        }
        let cases = vec![
            Case {
                name: "one in-service instance",
                groups: vec![group("g0", &ours("0"), &[("i-a", "InService")])],
                instances: vec![inst("i-a", "running", Some("127.0.1.4"))],
                preferred: None,
                desired: vec![(0, "i-a", "127.0.1.4")],
                foreign: 0,
                issues: vec![],
            },
            Case {
                name: "pending:wait counts (the launch hook holds it there)",
                groups: vec![group("g0", &ours("0"), &[("i-a", "Pending:Wait")])],
                instances: vec![inst("i-a", "pending", Some("127.0.1.4"))],
                preferred: None,
                desired: vec![(0, "i-a", "127.0.1.4")],
                foreign: 0,
                issues: vec![],
            },
            Case {
                name: "terminating old + pending new: the new one",
                groups: vec![group(
                    "g0",
                    &ours("0"),
                    &[("i-old", "Terminating"), ("i-new", "Pending")],
                )],
                instances: vec![
                    inst("i-old", "shutting-down", Some("127.0.1.4")),
                    inst("i-new", "pending", Some("127.0.1.5")),
                ],
                preferred: None,
                desired: vec![(0, "i-new", "127.0.1.5")],
                foreign: 0,
                issues: vec![],
            },
            Case {
                name: "stale event for a terminated instance: group's live instance wins",
                groups: vec![group("g0", &ours("0"), &[("i-new", "InService")])],
                instances: vec![inst("i-new", "running", Some("127.0.1.5"))],
                preferred: Some("i-old"),
                desired: vec![(0, "i-new", "127.0.1.5")],
                foreign: 0,
                issues: vec![],
            },
            Case {
                name: "two live instances: the one in service keeps the name, whatever the event says",
                groups: vec![group(
                    "g0",
                    &ours("0"),
                    &[("i-a", "InService"), ("i-b", "Pending:Wait")],
                )],
                instances: vec![
                    inst("i-a", "running", Some("127.0.1.4")),
                    inst("i-b", "pending", Some("127.0.1.5")),
                ],
                preferred: Some("i-b"),
                desired: vec![(0, "i-a", "127.0.1.4")],
                foreign: 0,
                issues: vec![],
            },
            Case {
                name: "two pending instances: the event's instance",
                groups: vec![group("g0", &ours("0"), &[("i-a", "Pending"), ("i-b", "Pending:Wait")])],
                instances: vec![
                    inst("i-a", "pending", Some("127.0.1.4")),
                    inst("i-b", "pending", Some("127.0.1.5")),
                ],
                preferred: Some("i-b"),
                desired: vec![(0, "i-b", "127.0.1.5")],
                foreign: 0,
                issues: vec![],
            },
            Case {
                name: "two pending instances and no event: ambiguous",
                groups: vec![group("g0", &ours("0"), &[("i-a", "Pending"), ("i-b", "Pending:Wait")])],
                instances: vec![
                    inst("i-a", "running", Some("127.0.1.4")),
                    inst("i-b", "pending", Some("127.0.1.5")),
                ],
                preferred: None,
                desired: vec![],
                foreign: 0,
                issues: vec!["several live instances"],
            },
            Case {
                name: "two groups claim one peer; the one in service keeps the name, the other is reported",
                groups: vec![
                    group("g0", &ours("0"), &[("i-a", "InService")]),
                    group("g0-dup", &ours("0"), &[("i-b", "Pending")]),
                ],
                instances: vec![
                    inst("i-a", "running", Some("127.0.1.4")),
                    inst("i-b", "pending", Some("127.0.1.5")),
                ],
                preferred: Some("i-b"),
                desired: vec![(0, "i-a", "127.0.1.4")],
                foreign: 0,
                issues: vec!["holds it in service; this group's i-b never takes the name"],
            },
            Case {
                name: "two groups claim one peer, neither in service: both stay for the records planner to skip",
                groups: vec![
                    group("g0", &ours("0"), &[("i-a", "Pending")]),
                    group("g0-dup", &ours("0"), &[("i-b", "Pending")]),
                ],
                instances: vec![
                    inst("i-a", "pending", Some("127.0.1.4")),
                    inst("i-b", "pending", Some("127.0.1.5")),
                ],
                preferred: None,
                desired: vec![(0, "i-a", "127.0.1.4"), (0, "i-b", "127.0.1.5")],
                foreign: 0,
                issues: vec![],
            },
            Case {
                name: "foreign group ignored",
                groups: vec![group(
                    "other",
                    &[(TAG_CLUSTER, "other"), (TAG_PEER, "0")],
                    &[("i-x", "InService")],
                )],
                instances: vec![inst("i-x", "running", Some("127.0.1.9"))],
                preferred: None,
                desired: vec![],
                foreign: 1,
                issues: vec![],
            },
            Case {
                name: "untagged group ignored",
                groups: vec![group("web", &[], &[("i-x", "InService")])],
                instances: vec![],
                preferred: None,
                desired: vec![],
                foreign: 1,
                issues: vec![],
            },
            Case {
                name: "our group without peer tag",
                groups: vec![group("g", &[(TAG_CLUSTER, "main")], &[("i-x", "InService")])],
                instances: vec![],
                preferred: None,
                desired: vec![],
                foreign: 0,
                issues: vec!["steadfast:peer"],
            },
            Case {
                name: "peer tag out of range",
                groups: vec![group("g", &ours("9"), &[("i-x", "InService")])],
                instances: vec![],
                preferred: None,
                desired: vec![],
                foreign: 0,
                issues: vec!["peer index"],
            },
            Case {
                name: "no live instance",
                groups: vec![group("g0", &ours("0"), &[("i-old", "Terminating:Wait")])],
                instances: vec![],
                preferred: None,
                desired: vec![],
                foreign: 0,
                issues: vec!["no pending or in-service"],
            },
            Case {
                name: "instance without IP yet",
                groups: vec![group("g0", &ours("0"), &[("i-a", "Pending")])],
                instances: vec![inst("i-a", "pending", None)],
                preferred: None,
                desired: vec![],
                foreign: 0,
                issues: vec!["no private IP"],
            },
            Case {
                name: "instance EC2 says is terminated",
                groups: vec![group("g0", &ours("0"), &[("i-a", "InService")])],
                instances: vec![inst("i-a", "terminated", Some("127.0.1.4"))],
                preferred: None,
                desired: vec![],
                foreign: 0,
                issues: vec!["terminated"],
            },
            Case {
                name: "instance missing from EC2",
                groups: vec![group("g0", &ours("0"), &[("i-a", "InService")])],
                instances: vec![],
                preferred: None,
                desired: vec![],
                foreign: 0,
                issues: vec!["not found"],
            },
        ];
        for case in cases {
            let plan = plan_slots(&c, &case.groups, &case.instances, case.preferred);
            let desired: Vec<(u32, String, String)> = plan
                .desired
                .iter()
                .map(|d| (d.peer.get(), d.instance_id.clone(), d.ip.to_string()))
                .collect();
            let expected: Vec<(u32, String, String)> = case
                .desired
                .iter()
                .map(|(p, i, ip)| (*p, i.to_string(), ip.to_string()))
                .collect();
            assert_eq!(desired, expected, "{}", case.name);
            assert_eq!(plan.foreign.len(), case.foreign, "{}", case.name);
            assert_eq!(plan.issues.len(), case.issues.len(), "{}: {:?}", case.name, plan.issues);
            for (issue, want) in plan.issues.iter().zip(&case.issues) {
                assert!(issue.reason.contains(want), "{}: {:?}", case.name, issue);
            }
        }
    }
}

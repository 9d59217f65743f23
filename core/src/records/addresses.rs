//! Desired addresses vs. what Route 53 holds -> the record changes (pure).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::{CurrentRecord, DesiredRecord, RecordChange, Skip};
use crate::vocab::{Cluster, PeerIndex, PlaceholderNetwork};

/// The changes, and the peers left alone because of a conflict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RecordPlan {
    pub changes: Vec<RecordChange>,
    pub skipped: Vec<Skip>,
}

/// Plans the changes that make every desired peer's record hold exactly its address with `ttl`.
///
/// - A record that already holds exactly that one address with that TTL is left alone.
/// - Two desired entries for the same peer, or two peers wanting the same address, are
///   conflicts: those peers are skipped (with the reason), never guessed at. Two names on one
///   address make an etcd member exit.
/// - Records of peers that are not desired (no live instance) are left as they are.
pub(super) fn plan_records(
    cluster: &Cluster,
    desired: &[DesiredRecord],
    current: &[CurrentRecord],
    ttl: i64,
) -> RecordPlan {
    let mut plan = RecordPlan::default();
    let mut by_peer: BTreeMap<PeerIndex, Vec<&DesiredRecord>> = BTreeMap::new();
    for d in desired {
        by_peer.entry(d.peer).or_default().push(d);
    }
    let mut by_ip: BTreeMap<Ipv4Addr, Vec<PeerIndex>> = BTreeMap::new();
    for (peer, ds) in &by_peer {
        if ds.len() == 1 {
            by_ip.entry(ds[0].ip).or_default().push(*peer);
        }
    }
    let current_by_peer: BTreeMap<PeerIndex, &CurrentRecord> = current
        .iter()
        .filter_map(|r| cluster.peer_of_record(&r.name).map(|p| (p, r)))
        .collect();

    for (peer, ds) in by_peer {
        if ds.len() > 1 {
            let ids: Vec<&str> = ds.iter().map(|d| d.instance_id.as_str()).collect();
            plan.skipped.push(Skip::peer(
                peer,
                format!("several live instances claim this peer: {}", ids.join(", ")),
            ));
            continue;
        }
        let d = ds[0];
        let sharing = &by_ip[&d.ip];
        if sharing.len() > 1 {
            let names: Vec<String> = sharing.iter().map(|p| cluster.member_name(*p)).collect();
            plan.skipped.push(Skip::peer(
                peer,
                format!("address {} is wanted by several peers: {}", d.ip, names.join(", ")),
            ));
            continue;
        }
        let existing = current_by_peer.get(&peer).copied();
        if !holds(existing, d.ip, ttl) {
            plan.changes.push(RecordChange {
                peer,
                name: cluster.peer_record_name(peer),
                ip: d.ip,
                ttl,
                previous: existing.cloned(),
                instance_id: Some(d.instance_id.clone()),
            });
        }
    }
    plan
}

/// Whether `record` holds exactly `ip` with `ttl`.
fn holds(record: Option<&CurrentRecord>, ip: Ipv4Addr, ttl: i64) -> bool {
    record.is_some_and(|r| r.values.len() == 1 && r.values[0] == ip.to_string() && r.ttl == Some(ttl))
}

/// Records of peers with no desired address that still hold an address another peer is
/// desired at (EC2 reused a dead instance's address): each goes back to its peer's placeholder,
/// so no two names ever resolve to one instance.
pub(super) fn plan_placeholders(
    cluster: &Cluster,
    desired: &[DesiredRecord],
    current: &[CurrentRecord],
    ttl: i64,
    placeholders: &PlaceholderNetwork,
) -> Vec<RecordChange> {
    let wanted: BTreeMap<String, PeerIndex> = desired.iter().map(|d| (d.ip.to_string(), d.peer)).collect();
    current
        .iter()
        .filter_map(|r| {
            let peer = cluster.peer_of_record(&r.name)?;
            if desired.iter().any(|d| d.peer == peer) {
                return None;
            }
            let taken = r
                .values
                .iter()
                .any(|v| wanted.get(v).is_some_and(|other| *other != peer));
            let ip = placeholders.address(peer);
            (taken && !holds(Some(r), ip, ttl)).then(|| RecordChange {
                peer,
                name: cluster.peer_record_name(peer),
                ip,
                ttl,
                previous: Some(r.clone()),
                instance_id: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{ClusterName, Domain};

    fn cluster() -> Cluster {
        Cluster::new(
            ClusterName::new("main").unwrap(),
            Domain::new("etcd.internal").unwrap(),
            9,
            3,
        )
        .unwrap()
    }

    fn want(c: &Cluster, n: u32, ip: &str) -> DesiredRecord {
        DesiredRecord {
            peer: c.peer(n).unwrap(),
            ip: ip.parse().unwrap(),
            instance_id: format!("i-{n}"),
            group: format!("main-peer-{n}"),
            in_service: true,
        }
    }

    fn have(name: &str, values: &[&str], ttl: i64) -> CurrentRecord {
        CurrentRecord {
            name: name.into(),
            values: values.iter().map(|s| s.to_string()).collect(),
            ttl: Some(ttl),
        }
    }

    #[test]
    fn table() {
        let c = cluster();
        struct Case {
            name: &'static str,
            desired: Vec<DesiredRecord>,
            current: Vec<CurrentRecord>,
            changed: Vec<(u32, &'static str)>,
            skipped: Vec<u32>,
        }
        let cases = vec![
            Case {
                name: "nothing wanted, nothing changes",
                desired: vec![],
                current: vec![have("peer-0.main.etcd.internal.", &["192.0.2.1"], 5)],
                changed: vec![],
                skipped: vec![],
            },
            Case {
                name: "missing record is created",
                desired: vec![want(&c, 0, "127.0.1.4")],
                current: vec![],
                changed: vec![(0, "127.0.1.4")],
                skipped: vec![],
            },
            Case {
                name: "matching record is left alone",
                desired: vec![want(&c, 0, "127.0.1.4")],
                current: vec![have("peer-0.main.etcd.internal.", &["127.0.1.4"], 5)],
                changed: vec![],
                skipped: vec![],
            },
            Case {
                name: "record name compared case-insensitively",
                desired: vec![want(&c, 0, "127.0.1.4")],
                current: vec![have("PEER-0.main.etcd.internal", &["127.0.1.4"], 5)],
                changed: vec![],
                skipped: vec![],
            },
            Case {
                name: "placeholder replaced",
                desired: vec![want(&c, 4, "127.0.2.9")],
                current: vec![have("peer-4.main.etcd.internal.", &["192.0.2.4"], 5)],
                changed: vec![(4, "127.0.2.9")],
                skipped: vec![],
            },
            Case {
                name: "wrong ttl fixed",
                desired: vec![want(&c, 1, "127.0.2.4")],
                current: vec![have("peer-1.main.etcd.internal.", &["127.0.2.4"], 300)],
                changed: vec![(1, "127.0.2.4")],
                skipped: vec![],
            },
            Case {
                name: "extra value removed",
                desired: vec![want(&c, 1, "127.0.2.4")],
                current: vec![have("peer-1.main.etcd.internal.", &["127.0.2.4", "127.0.2.5"], 5)],
                changed: vec![(1, "127.0.2.4")],
                skipped: vec![],
            },
            Case {
                name: "other cluster's record ignored",
                desired: vec![want(&c, 1, "127.0.2.4")],
                current: vec![have("peer-1.other.etcd.internal.", &["127.0.2.4"], 5)],
                changed: vec![(1, "127.0.2.4")],
                skipped: vec![],
            },
            Case {
                name: "two instances for one peer: skipped",
                desired: vec![
                    want(&c, 2, "127.0.3.4"),
                    want(&c, 2, "127.0.3.5"),
                    want(&c, 5, "127.0.3.6"),
                ],
                current: vec![],
                changed: vec![(5, "127.0.3.6")],
                skipped: vec![2],
            },
            Case {
                name: "two peers on one address: both skipped",
                desired: vec![
                    want(&c, 0, "127.0.1.4"),
                    want(&c, 3, "127.0.1.4"),
                    want(&c, 6, "127.0.1.6"),
                ],
                current: vec![],
                changed: vec![(6, "127.0.1.6")],
                skipped: vec![0, 3],
            },
            Case {
                name: "full sweep of nine, three stale",
                desired: (0..9)
                    .map(|n| want(&c, n, &format!("127.0.{}.{}", n % 3 + 1, 10 + n)))
                    .collect(),
                current: (0..9)
                    .map(|n| {
                        let ip = if n % 4 == 0 {
                            "192.0.2.99".to_string()
                        } else {
                            format!("127.0.{}.{}", n % 3 + 1, 10 + n)
                        };
                        CurrentRecord {
                            name: format!("peer-{n}.main.etcd.internal."),
                            values: vec![ip],
                            ttl: Some(5),
                        }
                    })
                    .collect(),
                changed: vec![(0, "127.0.1.10"), (4, "127.0.2.14"), (8, "127.0.3.18")],
                skipped: vec![],
            },
        ];
        for case in cases {
            let plan = plan_records(&c, &case.desired, &case.current, 5);
            let changed: Vec<(u32, String)> = plan
                .changes
                .iter()
                .map(|ch| (ch.peer.get(), ch.ip.to_string()))
                .collect();
            let expected: Vec<(u32, String)> = case.changed.iter().map(|(n, ip)| (*n, ip.to_string())).collect();
            assert_eq!(changed, expected, "{}", case.name);
            let skipped: Vec<u32> = plan.skipped.iter().filter_map(|s| s.peer.map(|p| p.get())).collect();
            assert_eq!(skipped, case.skipped, "{}", case.name);
            for ch in &plan.changes {
                assert_eq!(ch.name, c.peer_record_name(ch.peer));
                assert_eq!(ch.ttl, 5);
            }
        }
    }

    #[test]
    fn stale_records_holding_a_reused_address_go_back_to_their_placeholder() {
        let c = cluster();
        let net: PlaceholderNetwork = "127.0.255.0/24".parse().unwrap();
        struct Case {
            name: &'static str,
            desired: Vec<DesiredRecord>,
            current: Vec<CurrentRecord>,
            moved: Vec<(u32, &'static str)>,
        }
        let cases = vec![
            Case {
                name: "peer 4 has no instance; its record holds the address peer 1 now has",
                desired: vec![want(&c, 1, "127.0.2.9")],
                current: vec![
                    have("peer-1.main.etcd.internal.", &["127.0.2.4"], 5),
                    have("peer-4.main.etcd.internal.", &["127.0.2.9"], 5),
                ],
                moved: vec![(4, "127.0.255.5")],
            },
            Case {
                name: "a stale record of a peer without instance, not reused: left alone",
                desired: vec![want(&c, 1, "127.0.2.9")],
                current: vec![have("peer-4.main.etcd.internal.", &["127.0.2.6"], 5)],
                moved: vec![],
            },
            Case {
                name: "the peer is desired itself: its own change handles it",
                desired: vec![want(&c, 1, "127.0.2.9"), want(&c, 4, "127.0.2.10")],
                current: vec![have("peer-4.main.etcd.internal.", &["127.0.2.9"], 5)],
                moved: vec![],
            },
            Case {
                name: "already on its placeholder: nothing to write",
                desired: vec![want(&c, 1, "127.0.255.5")],
                current: vec![have("peer-4.main.etcd.internal.", &["127.0.255.5"], 5)],
                moved: vec![],
            },
            Case {
                name: "another cluster's record is none of ours",
                desired: vec![want(&c, 1, "127.0.2.9")],
                current: vec![have("peer-4.other.etcd.internal.", &["127.0.2.9"], 5)],
                moved: vec![],
            },
        ];
        for case in cases {
            let changes = plan_placeholders(&c, &case.desired, &case.current, 5, &net);
            let got: Vec<(u32, String)> = changes.iter().map(|ch| (ch.peer.get(), ch.ip.to_string())).collect();
            let want: Vec<(u32, String)> = case.moved.iter().map(|(p, ip)| (*p, ip.to_string())).collect();
            assert_eq!(got, want, "{}", case.name);
            for ch in &changes {
                assert_eq!(ch.instance_id, None, "{}", case.name);
                assert!(ch.previous.is_some(), "{}: written conditionally", case.name);
            }
        }
    }
}

//! The cluster view: one row per peer, from the cloud (groups, instances, volumes, records),
//! the resolver (what the peer's name answers) and etcd (each member's own status, and the TLS
//! reports the peers keep in etcd). `sandbox status` is this code pointed at the sandbox's
//! region; the operator's `steadfast status` is the same code pointed at AWS.
//!
//! Gather -> view -> render, as everywhere: [`gather`] reads (every read bounded, a failed
//! read becomes an empty cell with its reason, never a failed view), [`ClusterStatus::view`]
//! is pure and decides what every cell says, and [`ClusterStatus::table`] or JSON render it.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::time::Duration;

use etcd_client::GetOptions;
use futures::future::join_all;
use serde::{Deserialize, Serialize};

use crate::aws::{AttachmentState, Group, Groups, Instance, Instances, Records, Volume, Volumes};
use crate::etcd::{bounded, keys, probe_url, Access, EtcdError, MemberStatus};
use crate::tls::{PeerTls, DAY_SECS};
use crate::vocab::{Cluster, Tags, CLIENT_PORT, TAG_CLUSTER};

/// Name resolution as the cluster's clients see it (the system resolver on a node, the
/// sandbox's dnsmasq): the A answer for a name, or why there is none.
pub trait Resolve: Send + Sync {
    fn resolve_a(&self, host: &str) -> impl Future<Output = Result<Vec<Ipv4Addr>, String>> + Send;
}

/// One peer's row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerRow {
    pub peer: u32,
    /// The availability zone (its volume's: the peer's zone).
    pub zone: String,
    /// Its Auto Scaling group.
    pub group: String,
    /// The group's live instance (pending or in service).
    pub instance_id: Option<String>,
    /// That instance's state in its group (`Pending:Wait` until its node completes the hook).
    pub lifecycle: Option<String>,
    pub in_service: bool,
    pub ip: Option<Ipv4Addr>,
    /// The A record in the hosted zone (absent when the view was asked without a zone).
    pub record: Option<String>,
    /// What the name resolves to for a client now (or why it does not).
    pub dns: Option<String>,
    pub volume_id: Option<String>,
    /// The instance the volume is attached to.
    pub attached_to: Option<String>,
    /// The member's id (hex) and what it says of itself.
    pub member_id: Option<String>,
    pub name: Option<String>,
    pub leader: bool,
    /// Answers, knows a leader, and is a voting member.
    pub healthy: bool,
    pub learner: bool,
    pub raft_index: Option<u64>,
    pub revision: Option<i64>,
    pub version: Option<String>,
    pub db_size: Option<i64>,
    pub db_size_in_use: Option<i64>,
    pub alarms: Vec<String>,
    /// Days left on the certificate it serves, from its TLS report (TLS only).
    pub cert_days_left: Option<f64>,
    /// Why etcd was not asked, or did not answer.
    pub etcd_error: Option<String>,
}

/// The whole view.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub cluster: String,
    pub domain: String,
    /// Every member answers with a leader, they agree on one, none is a learner, and every
    /// instance is in service (its node completed the lifecycle action).
    pub healthy: bool,
    /// Healthy members, of all peers.
    pub members_healthy: usize,
    /// The leader's peer, when one is agreed on.
    pub leader: Option<u32>,
    pub peers: Vec<PeerRow>,
    /// Reads that failed (the cloud, the records, the TLS reports): the view is partial.
    pub notes: Vec<String>,
}

/// What [`gather`] read: the input of [`ClusterStatus::view`].
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub groups: Vec<Group>,
    /// The live instances of those groups.
    pub instances: Vec<Instance>,
    pub volumes: Vec<Volume>,
    /// A record name (with or without its trailing dot) -> values.
    pub records: Option<BTreeMap<String, Vec<String>>>,
    /// Peer -> the resolver's answer for its name.
    pub dns: BTreeMap<u32, Result<Vec<Ipv4Addr>, String>>,
    /// Peer -> its member's status, asked at its instance's address.
    pub members: BTreeMap<u32, Result<MemberStatus, String>>,
    /// The peers' TLS reports (TLS only).
    pub tls: Vec<PeerTls>,
    /// When (seconds since the epoch): certificate days are counted from it.
    pub now: i64,
    pub notes: Vec<String>,
}

/// Where and how [`gather`] looks.
#[derive(Debug, Clone)]
pub struct Sources<'a, G, I, V, R, D> {
    pub groups: &'a G,
    pub instances: &'a I,
    pub volumes: &'a V,
    /// The hosted zone's records (`None`: not read, e.g. without the zone id).
    pub records: Option<(&'a R, &'a str)>,
    pub resolver: &'a D,
    pub access: &'a Access,
    /// The bound of each etcd call (a probe takes at most twice this).
    pub etcd_timeout: Duration,
}

/// Reads everything the view shows. Every peer is asked concurrently; nothing fails the whole.
pub async fn gather<G, I, V, R, D>(cluster: &Cluster, s: &Sources<'_, G, I, V, R, D>) -> Facts
where
    G: Groups,
    I: Instances,
    V: Volumes,
    R: Records,
    D: Resolve,
{
    let mut f = Facts {
        now: crate::clock::now(),
        ..Facts::default()
    };
    match s.groups.cluster_groups(cluster.name()).await {
        Ok(g) => f.groups = g,
        Err(e) => f.notes.push(format!("groups: {e}")),
    }
    let live: Vec<String> = f
        .groups
        .iter()
        .flat_map(|g| g.live_instances().map(|i| i.instance_id.clone()))
        .collect();
    if !live.is_empty() {
        match s.instances.describe_instances(&live).await {
            Ok(i) => f.instances = i,
            Err(e) => f.notes.push(format!("instances: {e}")),
        }
    }
    match s
        .volumes
        .volumes_tagged(&Tags::from_pairs([(TAG_CLUSTER, cluster.name().as_str())]))
        .await
    {
        Ok(v) => f.volumes = v,
        Err(e) => f.notes.push(format!("volumes: {e}")),
    }
    if let Some((records, zone_id)) = s.records {
        match records
            .list_a_records(zone_id, &format!("{}.", cluster.cluster_domain()))
            .await
        {
            Ok(r) => f.records = Some(r.into_iter().map(|r| (r.name, r.values)).collect()),
            Err(e) => f.notes.push(format!("records: {e}")),
        }
    }
    let view = ClusterStatus::view(cluster, &f);
    let asks = view.peers.iter().map(|row| async move {
        let dns = s
            .resolver
            .resolve_a(&cluster.peer_host(cluster.peer(row.peer).ok()?))
            .await;
        let member = match row.ip {
            Some(ip) => probe_url(s.access, &s.access.url(ip, CLIENT_PORT), s.etcd_timeout, true)
                .await
                .map_err(|e| e.to_string()),
            None => Err("no instance".to_string()),
        };
        Some((row.peer, dns, member))
    });
    for (peer, dns, member) in join_all(asks).await.into_iter().flatten() {
        f.dns.insert(peer, dns);
        f.members.insert(peer, member);
    }
    if s.access.transport() == crate::vocab::Transport::Tls {
        let healthy: Vec<Ipv4Addr> = view
            .peers
            .iter()
            .filter(|r| f.members.get(&r.peer).is_some_and(|m| m.is_ok()))
            .filter_map(|r| r.ip)
            .collect();
        match tls_reports(s.access, &healthy, s.etcd_timeout).await {
            Ok(r) => f.tls = r,
            Err(e) => f.notes.push(format!("TLS reports: {e}")),
        }
    }
    f
}

/// The peers' TLS reports, read through the first member that answers.
async fn tls_reports(access: &Access, ips: &[Ipv4Addr], timeout: Duration) -> Result<Vec<PeerTls>, EtcdError> {
    let mut last = None;
    for ip in ips {
        let read = async {
            let mut c = access.connect(&[access.url(ip, CLIENT_PORT)], timeout).await?;
            let got = c
                .get(keys::TLS_STATUS_PREFIX, Some(GetOptions::new().with_prefix()))
                .await
                .map_err(EtcdError::call(format!("get {}", keys::TLS_STATUS_PREFIX)))?;
            Ok::<_, EtcdError>(
                got.kvs()
                    .iter()
                    .filter_map(|kv| serde_json::from_slice::<PeerTls>(kv.value()).ok())
                    .collect(),
            )
        };
        match bounded("TLS reports", timeout * 3, read).await {
            Ok(r) => return Ok(r),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(EtcdError::Unreachable {
        endpoints: "-".into(),
        detail: "no member answers".into(),
    }))
}

impl ClusterStatus {
    /// What every cell says, from what was read (pure).
    pub fn view(cluster: &Cluster, f: &Facts) -> Self {
        let instance = |id: &str| f.instances.iter().find(|i| i.instance_id == id);
        let mut peers = Vec::new();
        for p in cluster.peers() {
            let n = p.get();
            let group = f
                .groups
                .iter()
                .find(|g| cluster.peer_from_tags(&g.tags).ok().flatten() == Some(p));
            let live = group.and_then(|g| g.live_instances().next());
            let volume = f
                .volumes
                .iter()
                .find(|v| cluster.peer_from_tags(&v.tags).ok().flatten() == Some(p));
            let record = f.records.as_ref().map(|r| {
                let name = cluster.peer_record_name(p);
                r.get(&name)
                    .or_else(|| r.get(name.trim_end_matches('.')))
                    .map(|v| v.join(","))
                    .unwrap_or_else(|| "(none)".into())
            });
            let dns = f.dns.get(&n).map(|a| match a {
                Ok(ips) => ips.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(","),
                Err(e) => format!("({e})"),
            });
            let member = f.members.get(&n);
            let st = member.and_then(|m| m.as_ref().ok());
            let tls = f.tls.iter().find(|t| t.peer == n);
            peers.push(PeerRow {
                peer: n,
                zone: volume
                    .map(|v| v.availability_zone.clone())
                    .unwrap_or_else(|| format!("zone-{}", cluster.zone_of(p))),
                group: group.map(|g| g.name.clone()).unwrap_or_else(|| cluster.group_name(p)),
                instance_id: live.map(|i| i.instance_id.clone()),
                lifecycle: live.map(|i| i.lifecycle_state.to_string()),
                in_service: live.is_some_and(|i| i.lifecycle_state.is_in_service()),
                ip: live.and_then(|i| instance(&i.instance_id)).and_then(|i| i.private_ip),
                record,
                dns,
                volume_id: volume.map(|v| v.volume_id.clone()),
                attached_to: volume.and_then(|v| {
                    v.attachments
                        .iter()
                        .find(|a| a.state == AttachmentState::Attached)
                        .map(|a| a.instance_id.clone())
                }),
                member_id: st.map(|s| format!("{:x}", s.id)),
                name: st.and_then(|s| s.name.clone()),
                leader: st.is_some_and(MemberStatus::is_leader),
                healthy: st.is_some_and(MemberStatus::healthy),
                learner: st.is_some_and(|s| s.learner),
                raft_index: st.map(|s| s.raft_index),
                revision: st.map(|s| s.revision),
                version: st.map(|s| s.version.clone()),
                db_size: st.map(|s| s.db_size),
                db_size_in_use: st.map(|s| s.db_size_in_use),
                alarms: st.map(|s| s.alarms.clone()).unwrap_or_default(),
                cert_days_left: tls.map(|t| (t.leaf_not_after - f.now) as f64 / DAY_SECS as f64),
                etcd_error: member.and_then(|m| m.as_ref().err().cloned()),
            });
        }
        // One leader, agreed on by every member that knows one.
        let leaders: std::collections::BTreeSet<u64> = f
            .members
            .values()
            .filter_map(|m| m.as_ref().ok())
            .filter(|m| m.healthy())
            .map(|m| m.leader)
            .collect();
        let leader = peers.iter().find(|r| r.leader).map(|r| r.peer);
        let members_healthy = peers.iter().filter(|r| r.healthy).count();
        let healthy = peers.iter().all(|r| r.healthy && r.in_service)
            && peers.iter().filter(|r| r.leader).count() == 1
            && leaders.len() == 1;
        Self {
            cluster: cluster.name().to_string(),
            domain: cluster.domain().to_string(),
            healthy,
            members_healthy,
            leader,
            peers,
            notes: f.notes.clone(),
        }
    }

    /// The table a human reads.
    pub fn table(&self) -> String {
        let cell = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let row = |c: [&str; 14]| {
            format!(
                "{:<7} {:<11} {:<16} {:<21} {:<13} {:<12} {:<12} {:<22} {:<21} {:<17} {:<6} {:<7} {:<9} {}\n",
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12], c[13]
            )
        };
        let mut out = row([
            "peer",
            "zone",
            "group",
            "instance",
            "lifecycle",
            "ip",
            "dns",
            "volume",
            "attached-to",
            "member",
            "leader",
            "health",
            "rev",
            "etcd / cert days",
        ]);
        for p in &self.peers {
            let health = if p.learner {
                "LEARNER"
            } else if p.healthy {
                "ok"
            } else {
                "DOWN"
            };
            let extra = match (&p.version, p.cert_days_left) {
                (Some(v), Some(d)) => format!("{v} / {d:.1}"),
                (Some(v), None) => v.clone(),
                (None, _) => p.etcd_error.clone().map(|e| shorten(&e, 40)).unwrap_or_default(),
            };
            out.push_str(&row([
                &format!("peer-{}", p.peer),
                &p.zone,
                &p.group,
                &cell(&p.instance_id),
                &cell(&p.lifecycle),
                &p.ip.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
                &cell(&p.dns),
                &cell(&p.volume_id),
                &cell(&p.attached_to),
                &cell(&p.member_id),
                if p.leader { "*" } else { "" },
                health,
                &p.revision.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                &extra,
            ]));
        }
        out.push_str(&format!(
            "{}/{} members healthy; cluster {} ({}.{}){}\n",
            self.members_healthy,
            self.peers.len(),
            if self.healthy { "HEALTHY" } else { "not healthy" },
            self.cluster,
            self.domain,
            self.leader.map(|l| format!(", leader peer-{l}")).unwrap_or_default()
        ));
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{Attachment, GroupInstance, InstanceState, LifecycleState, VolumeState};
    use crate::vocab::{ClusterName, Domain, TAG_PEER};

    fn cluster() -> Cluster {
        Cluster::new(
            ClusterName::new("main").unwrap(),
            Domain::new("etcd.internal").unwrap(),
            3,
            3,
        )
        .unwrap()
    }

    fn tags(p: u32) -> Tags {
        Tags::from_pairs([(TAG_CLUSTER, "main".to_string()), (TAG_PEER, p.to_string())])
    }

    /// Three peers, each with an in-service instance, its volume attached, and a member that
    /// names `leader` (peer-0's member is 100, peer-1's 101, ...).
    fn facts(leader: u64) -> Facts {
        let mut f = Facts {
            now: 1_000_000,
            ..Facts::default()
        };
        for p in 0..3u32 {
            let id = format!("i-{p}");
            f.groups.push(Group {
                name: format!("main-peer-{p}"),
                tags: tags(p),
                instances: vec![GroupInstance {
                    instance_id: id.clone(),
                    lifecycle_state: LifecycleState::InService,
                    availability_zone: None,
                }],
            });
            f.instances.push(Instance {
                instance_id: id.clone(),
                state: InstanceState::Running,
                private_ip: Some(Ipv4Addr::new(127, 0, 1, p as u8 + 4)),
                availability_zone: None,
                tags: tags(p),
            });
            f.volumes.push(Volume {
                volume_id: format!("vol-{p}"),
                availability_zone: format!("us-east-1{}", (b'a' + p as u8) as char),
                size_gib: 1,
                state: VolumeState::InUse,
                tags: tags(p),
                attachments: vec![Attachment {
                    instance_id: id,
                    state: AttachmentState::Attached,
                    device: None,
                }],
            });
            f.members.insert(
                p,
                Ok(MemberStatus {
                    id: 100 + u64::from(p),
                    leader,
                    version: "3.5.30".into(),
                    ..MemberStatus::default()
                }),
            );
            f.dns.insert(p, Ok(vec![Ipv4Addr::new(127, 0, 1, p as u8 + 4)]));
        }
        f
    }

    #[test]
    fn every_member_with_one_leader_and_every_instance_in_service_is_healthy() {
        let s = ClusterStatus::view(&cluster(), &facts(101));
        assert!(s.healthy, "{}", s.table());
        assert_eq!((s.members_healthy, s.leader), (3, Some(1)));
        let r = &s.peers[1];
        assert_eq!(r.zone, "us-east-1b");
        assert_eq!(r.ip, Some(Ipv4Addr::new(127, 0, 1, 5)));
        assert_eq!(r.attached_to.as_deref(), Some("i-1"));
        assert_eq!(r.member_id.as_deref(), Some("65"));
        assert_eq!(r.dns.as_deref(), Some("127.0.1.5"));
        assert_eq!(s.domain, "etcd.internal");
        assert_eq!(s.cluster, "main");
    }

    #[test]
    fn a_member_that_does_not_answer_is_down_and_says_why() {
        let mut f = facts(101);
        f.members
            .insert(2, Err("http://127.0.1.6:2379: not serving within 1s".into()));
        let s = ClusterStatus::view(&cluster(), &f);
        assert!(!s.healthy);
        assert_eq!(s.members_healthy, 2);
        assert!(!s.peers[2].healthy);
        assert!(s.peers[2].etcd_error.as_deref().unwrap().contains("not serving"));
        assert!(s.table().contains("DOWN"), "{}", s.table());
    }

    #[test]
    fn a_learner_no_leader_or_a_waiting_instance_is_not_healthy() {
        let mut f = facts(101);
        if let Some(Ok(m)) = f.members.get_mut(&0) {
            m.learner = true;
        }
        let s = ClusterStatus::view(&cluster(), &f);
        assert!(!s.healthy && !s.peers[0].healthy && s.peers[0].learner);
        assert!(s.table().contains("LEARNER"));

        let s = ClusterStatus::view(&cluster(), &facts(0));
        assert!(!s.healthy && s.leader.is_none() && s.members_healthy == 0);

        let mut f = facts(101);
        f.groups[0].instances[0].lifecycle_state = LifecycleState::PendingWait;
        let s = ClusterStatus::view(&cluster(), &f);
        assert!(!s.healthy, "an instance still waiting on its hook");
        assert_eq!(s.peers[0].lifecycle.as_deref(), Some("Pending:Wait"));
    }

    #[test]
    fn members_that_disagree_on_the_leader_are_not_healthy() {
        let mut f = facts(101);
        if let Some(Ok(m)) = f.members.get_mut(&2) {
            m.leader = 102;
        }
        let s = ClusterStatus::view(&cluster(), &f);
        assert!(!s.healthy, "{}", s.table());
    }

    #[test]
    fn records_certificates_and_missing_parts_read_as_such() {
        let c = cluster();
        let mut f = facts(100);
        f.records = Some(BTreeMap::from([(
            c.peer_record_name(c.peer(0).unwrap()),
            vec!["127.0.1.4".to_string()],
        )]));
        f.tls.push(PeerTls {
            peer: 0,
            trust: vec![],
            leaf_issuer: "CA".into(),
            leaf_serial: "1".into(),
            leaf_not_after: f.now + 3 * DAY_SECS,
            at: f.now,
        });
        f.groups.remove(2);
        f.notes.push("records: throttled".into());
        let s = ClusterStatus::view(&c, &f);
        assert_eq!(s.peers[0].record.as_deref(), Some("127.0.1.4"));
        assert_eq!(s.peers[1].record.as_deref(), Some("(none)"));
        assert_eq!(s.peers[0].cert_days_left, Some(3.0));
        assert_eq!(s.peers[1].cert_days_left, None);
        assert_eq!(s.peers[2].instance_id, None, "no group, no instance");
        assert_eq!(s.peers[2].group, "main-peer-2");
        assert!(!s.healthy);
        let json = serde_json::to_string(&s).unwrap();
        let back: ClusterStatus = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert!(s.table().contains("note: records: throttled"));
    }
}

//! How a member whose data dir is fresh gets its data (pure): join the running cluster as a
//! learner, restore the cluster's newest verified snapshot, bootstrap a new cluster, wait, or
//! refuse. Its inputs are what the node gathered: its own volume, what the other peers' members
//! answer, what the other peers' volumes say, and what the backup bucket holds.
//!
//! The rules, each a row of the table test:
//! - A restore already planned (the plan object in the bucket) is followed by every peer that
//!   has no data, so every peer restores the same snapshot; only a peer whose member already
//!   ran in the restored cluster and lost its data again joins instead.
//! - A healthy quorum that knows this peer's member: join it (remove the old member, add it
//!   back as a learner, promote it once caught up). A member the cluster lists but that never
//!   started is a late member of a first bootstrap only while no volume ever held data and no
//!   snapshot exists: then it bootstraps as the others did; otherwise it joins too.
//! - No quorum: never restore while any other volume still holds data, or any member answers;
//!   wait for the cluster to come back and join it then. The only exception is a first
//!   bootstrap still forming: nobody ever held data and there is no snapshot to restore.
//! - Nobody answers and every volume is fresh: restore the newest verified snapshot; with none,
//!   bootstrap a new cluster when no volume ever held data, and refuse when data was lost with
//!   no snapshot to bring it back.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::vocab::PeerIndex;

/// This peer's volume, when its data dir is fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnVolume {
    /// Etcd member data was never on it (a new volume, or one formatted before any member ran).
    NeverJoined,
    /// It held member data that is gone: blank but initialized, or joined with an empty data
    /// dir.
    Lost,
}

/// Another peer's volume, as its tags say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerVolume {
    /// No member data was ever on it.
    NeverJoined,
    /// Its node found its data gone (`steadfast:blank`).
    Blank,
    /// It holds member data (joined, not reported blank).
    HoldsData,
    /// No volume of that peer was found, or more than one: unknown, so never counted as fresh.
    Unknown,
}

/// How this peer's member appears in the member list of a healthy quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberSeen {
    /// A voting member that has run (it published its name).
    Started { id: u64 },
    /// A learner with this peer's URL: a join that was under way.
    Learner { id: u64 },
    /// Listed with this peer's URL but never started (a first bootstrap's late member, or a
    /// restored cluster's member that has not come up yet).
    Unstarted { id: u64 },
    /// Not in the list.
    Absent,
}

/// What the other peers' members answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterAnswer {
    /// A member with a leader served a linearizable read: there is a quorum.
    Quorum {
        me: MemberSeen,
        /// The cluster holds this peer's join record (a join removed the old member and had not
        /// added it back when it stopped).
        join_pending: bool,
    },
    /// Members answered, but none knows a leader.
    NoQuorum { answered: Vec<PeerIndex> },
    /// No member answered.
    Silent,
}

/// Everything [`plan_restore`] decides from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreFacts {
    pub own: OwnVolume,
    pub cluster: ClusterAnswer,
    /// Every other peer's volume.
    pub others: Vec<(PeerIndex, PeerVolume)>,
    /// The newest verified snapshot's key (none without a backup bucket).
    pub newest_verified: Option<String>,
    /// The snapshot the restore plan of this loss names (plans are keyed by the newest time any
    /// volume was marked joined, so a restored cluster retires its plan by joining again).
    pub planned: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestorePlan {
    /// Join the running cluster as a learner; first remove the old member `remove` (none when a
    /// join was under way and already removed it, or added the learner).
    Join { remove: Option<u64> },
    /// Restore `snapshot` into the data dir. `write_plan`: first record it as the cluster's
    /// restore plan (create-if-absent; whoever loses the race follows the winner's).
    Restore { snapshot: String, write_plan: bool },
    /// Bootstrap through SRV discovery, as a first boot does.
    NewCluster,
    /// Not yet: look again (the reason is logged).
    Wait { why: String },
    /// Never: a new instance would only repeat it; a human must look.
    Refuse { why: String },
}

impl fmt::Display for RestorePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestorePlan::Join { remove: Some(id) } => write!(f, "join as a learner (replacing member {id:x})"),
            RestorePlan::Join { remove: None } => write!(f, "join as a learner (resuming a join)"),
            RestorePlan::Restore { snapshot, .. } => write!(f, "restore {snapshot}"),
            RestorePlan::NewCluster => write!(f, "bootstrap a new cluster through discovery"),
            RestorePlan::Wait { why } => write!(f, "wait: {why}"),
            RestorePlan::Refuse { why } => write!(f, "refuse: {why}"),
        }
    }
}

fn names(peers: impl IntoIterator<Item = PeerIndex>) -> String {
    peers
        .into_iter()
        .map(|p| format!("peer-{p}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decides how a member whose data dir is fresh gets its data.
pub fn plan_restore(f: &RestoreFacts) -> RestorePlan {
    let quorum_me = match &f.cluster {
        ClusterAnswer::Quorum { me, join_pending } => Some((*me, *join_pending)),
        _ => None,
    };
    // A restore under way: every peer without data follows it.
    if let Some(snapshot) = &f.planned {
        return match quorum_me {
            // A member the restored cluster lists but that never started in it joins too (its
            // old member removed). Restoring the same snapshot beside a restored cluster that
            // has moved on left the cluster unhealthy in the chaos suite's restore-snapshot
            // once members were told apart by their client URLs (issue 25 keeps the why);
            // joining is what every restore did while they were told apart by name.
            Some((MemberSeen::Started { id } | MemberSeen::Unstarted { id }, _)) => {
                RestorePlan::Join { remove: Some(id) }
            }
            Some((MemberSeen::Learner { .. }, _)) => RestorePlan::Join { remove: None },
            _ => RestorePlan::Restore {
                snapshot: snapshot.clone(),
                write_plan: false,
            },
        };
    }
    let holding: Vec<PeerIndex> = f
        .others
        .iter()
        .filter(|(_, v)| matches!(v, PeerVolume::HoldsData | PeerVolume::Unknown))
        .map(|(p, _)| *p)
        .collect();
    let nobody_ever_joined =
        f.own == OwnVolume::NeverJoined && f.others.iter().all(|(_, v)| *v == PeerVolume::NeverJoined);
    match (&f.cluster, quorum_me) {
        (_, Some((me, join_pending))) => match me {
            MemberSeen::Started { id } => RestorePlan::Join { remove: Some(id) },
            MemberSeen::Learner { .. } => RestorePlan::Join { remove: None },
            // Only a first bootstrap's late member bootstraps: once any volume held data, or a
            // snapshot exists, the cluster's log no longer starts where a new member's would.
            MemberSeen::Unstarted { .. } if nobody_ever_joined && f.newest_verified.is_none() => {
                RestorePlan::NewCluster
            }
            MemberSeen::Unstarted { id } => RestorePlan::Join { remove: Some(id) },
            MemberSeen::Absent if join_pending => RestorePlan::Join { remove: None },
            MemberSeen::Absent => RestorePlan::Refuse {
                why: "the cluster has a quorum but no member for this peer, and no join of it is under way: \
                      membership is fixed, so someone removed it by hand; add it back (member add) or restore"
                    .into(),
            },
        },
        (ClusterAnswer::NoQuorum { answered }, None) => {
            if nobody_ever_joined && f.newest_verified.is_none() {
                RestorePlan::NewCluster
            } else {
                RestorePlan::Wait {
                    why: format!(
                        "members answer ({}) but know no leader: waiting for the cluster to come back, then joining it",
                        names(answered.iter().copied())
                    ),
                }
            }
        }
        (_, None) if !holding.is_empty() => RestorePlan::Wait {
            why: format!(
                "the volumes of {} may still hold the cluster's data: their members will form the cluster, and this peer joins it then",
                names(holding)
            ),
        },
        (_, None) => match &f.newest_verified {
            Some(snapshot) => RestorePlan::Restore {
                snapshot: snapshot.clone(),
                write_plan: true,
            },
            None if nobody_ever_joined => RestorePlan::NewCluster,
            None => RestorePlan::Refuse {
                why: "every peer's volume is blank or new, no member answers, and the backup bucket holds no verified \
                      snapshot: the cluster's data is gone (see the runbook: EBS snapshots of the volumes)"
                    .into(),
            },
        },
    }
}

/// The restore plan object: which snapshot every peer restores. Written once, create-if-absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreOrder {
    pub format: u32,
    /// The snapshot object's key.
    pub snapshot: String,
    /// Its sha256, from its manifest (each peer checks its download against it).
    pub sha256: String,
    pub revision: i64,
    /// Seconds since the epoch.
    pub created_at: u64,
    /// Who wrote it: `peer-N (instance)`, or `operator` for an on-purpose restore.
    pub created_by: String,
    /// How far every peer moves the store's revision forward as it restores
    /// (`etcdutl snapshot restore --bump-revision N --mark-compacted`); in the plan so that all
    /// nine restore the very same state. 0 (a plan written before this field) restores as is.
    #[serde(default)]
    pub bump_revision: u64,
}

/// The restore plan format this code writes. Format 2 added `bump_revision`: a node built
/// before it refuses a format 2 plan loudly instead of restoring without the bump (its peers
/// would then hold revisions a billion apart at the same raft index). Format 1 is still read,
/// as a plan without a bump, which every peer of this build follows alike.
pub const RESTORE_ORDER_FORMAT: u32 = 2;

/// How far a restore moves the revision forward. Writes acknowledged after the snapshot used
/// revisions that the restored cluster would otherwise hand out again, so a client watching
/// from a revision it had seen (a Kubernetes API server's watch cache, any informer) would
/// silently miss the new writes at those numbers. Moved past every revision the lost writes can
/// have used, and with history marked compacted, such a watch is refused as compacted and the
/// client lists again. One billion is far more revisions than a cluster writes between two
/// snapshots, and leaves room for billions of restores in etcd's 64-bit revision.
pub const RESTORE_REVISION_BUMP: u64 = 1_000_000_000;

impl super::record::Record for RestoreOrder {
    const WHAT: &'static str = "restore plan";
    const FORMAT: u32 = RESTORE_ORDER_FORMAT;
    const OLDEST: u32 = 1;
    fn format(&self) -> u32 {
        self.format
    }
}

impl RestoreOrder {
    /// The plan to restore `snapshot` (with its manifest's `sha256` and `revision`), written by
    /// `created_by` at `created_at`, moving revisions forward by [`RESTORE_REVISION_BUMP`].
    pub fn new(snapshot: &str, sha256: &str, revision: i64, created_by: &str, created_at: u64) -> Self {
        Self {
            format: RESTORE_ORDER_FORMAT,
            snapshot: snapshot.to_string(),
            sha256: sha256.to_string(),
            revision,
            created_at,
            created_by: created_by.to_string(),
            bump_revision: RESTORE_REVISION_BUMP,
        }
    }

    /// The revision past which the restored cluster numbers its writes (the snapshot's plus the
    /// bump); `None` without a bump, when its writes reuse the numbers of the lost ones.
    pub fn numbered_after(&self) -> Option<i64> {
        (self.bump_revision > 0).then(|| {
            self.revision
                .saturating_add(i64::try_from(self.bump_revision).unwrap_or(i64::MAX))
        })
    }

    /// Whether a write acknowledged at `revision` is in the restored cluster: it is in the
    /// snapshot, or the restored cluster acknowledged it. Without a bump only the snapshot's
    /// revisions can be told apart.
    pub fn keeps(&self, revision: i64) -> bool {
        revision <= self.revision || self.numbered_after().is_some_and(|b| revision > b)
    }

    /// The extra `etcdutl snapshot restore` arguments that apply the plan's revision bump.
    pub fn bump_args(&self) -> Vec<String> {
        if self.bump_revision == 0 {
            return vec![];
        }
        vec![
            "--bump-revision".into(),
            self.bump_revision.to_string(),
            "--mark-compacted".into(),
        ]
    }

    pub fn to_json(&self) -> Vec<u8> {
        super::record::to_json(self)
    }

    /// Reads one (`key` names it in the error); another format is refused.
    pub fn from_json(key: &str, body: &[u8]) -> Result<Self> {
        super::record::from_json(key, body)
    }
}

/// The restore epoch of the cluster's volumes: the newest time any of them was marked joined
/// (0 when none ever was). Every peer of one loss sees the same tags, so the same epoch, and
/// the same restore plan key.
pub fn restore_epoch(vols: &[crate::aws::Volume]) -> u64 {
    vols.iter().filter_map(joined_at).max().unwrap_or(0)
}

/// A volume's `steadfast:joined` value.
pub fn joined_at(v: &crate::aws::Volume) -> Option<u64> {
    v.tags.get(crate::vocab::TAG_JOINED)?.parse::<u64>().ok()
}

/// The operator's request to restore a chosen snapshot (`steadfast restore`, a point-in-time
/// restore on purpose), at [`SnapshotKeys::restore_request`](super::SnapshotKeys::restore_request).
/// It names the restore plan every peer follows; it is written unarmed, and armed only once no
/// instance that ran the old cluster is left, so no restored member ever meets an old one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRequest {
    pub format: u32,
    /// The snapshot object's key.
    pub snapshot: String,
    /// The restore plan's key (`restore/plan-<epoch>.json`), written with the request.
    pub plan: String,
    /// Seconds since the epoch.
    pub created_at: u64,
    pub created_by: String,
    /// When every old instance was gone and the nodes could start (seconds since the epoch);
    /// `None` while the old cluster may still run.
    pub armed_at: Option<u64>,
}

/// The restore request format this code writes and reads.
pub const RESTORE_REQUEST_FORMAT: u32 = 1;

impl super::record::Record for RestoreRequest {
    const WHAT: &'static str = "restore request";
    const FORMAT: u32 = RESTORE_REQUEST_FORMAT;
    fn format(&self) -> u32 {
        self.format
    }
}

impl RestoreRequest {
    pub fn to_json(&self) -> Vec<u8> {
        super::record::to_json(self)
    }

    /// Reads one (`key` names it in the error); another format is refused.
    pub fn from_json(key: &str, body: &[u8]) -> Result<Self> {
        super::record::from_json(key, body)
    }

    /// Whether a volume whose `steadfast:joined` tag says `joined` got its data after the
    /// request was armed (restored, or healed from the restored cluster): it follows no more.
    pub fn done_by(&self, joined: Option<u64>) -> bool {
        matches!((self.armed_at, joined), (Some(a), Some(j)) if j > a)
    }
}

impl RestoreOrder {
    /// The restore plan at `key`, if one was written.
    pub async fn read<O: crate::aws::Objects>(objects: &O, key: &str) -> Result<Option<Self>> {
        super::record::read_optional(objects, key).await
    }
}

impl RestoreRequest {
    /// The operator's restore request of the cluster of `keys`, if there is one.
    pub async fn read<O: crate::aws::Objects>(objects: &O, keys: &super::SnapshotKeys) -> Result<Option<Self>> {
        super::record::read_optional(objects, &keys.restore_request()).await
    }
}

/// What a node does about a restore request before etcd may start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// No request, or this volume has followed it already: go on as usual.
    Proceed,
    /// The request is not armed yet: the old cluster may still run somewhere.
    Wait { why: String },
    /// Discard this data dir's member (moved aside under `to` in one rename, then deleted: the
    /// volume has room for one member and a restore, not two) and take the fresh path, which
    /// follows the request's restore plan.
    Discard { to: String },
}

/// The facts [`plan_requested`] decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFacts {
    pub request: Option<RestoreRequest>,
    /// This volume's `steadfast:joined` value.
    pub joined: Option<u64>,
    /// The data dir holds a member.
    pub has_data: bool,
    /// This volume's member was moved aside for this request already (its folder is left).
    pub set_aside: bool,
}

/// The folder a request's discarded member is moved to (inside the data dir) before it is
/// deleted.
pub fn set_aside_name(r: &RestoreRequest) -> String {
    format!("member.before-restore-{}", r.created_at)
}

/// Decides what a node does about a restore request (pure). Rows of the table test:
/// - no request, or a volume that got its data after the request was armed: proceed;
/// - a request not armed yet: wait (with or without data: a fresh data dir would otherwise
///   restore before the old members are gone);
/// - armed, data in the data dir, not moved aside for it yet: discard it;
/// - armed, moved aside already or no data: proceed (the fresh path restores).
pub fn plan_requested(f: &RequestFacts) -> Requested {
    let Some(r) = &f.request else {
        return Requested::Proceed;
    };
    if r.done_by(f.joined) {
        return Requested::Proceed;
    }
    if r.armed_at.is_none() {
        return Requested::Wait {
            why: format!(
                "a restore of {} was requested by {}: waiting until every instance of the old cluster is gone",
                r.snapshot, r.created_by
            ),
        };
    }
    if f.has_data && !f.set_aside {
        return Requested::Discard { to: set_aside_name(r) };
    }
    Requested::Proceed
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::vocab::{Cluster, ClusterName, Domain};

    fn p(n: u32) -> PeerIndex {
        Cluster::new(
            ClusterName::new("main").unwrap(),
            Domain::new("etcd.internal").unwrap(),
            3,
            3,
        )
        .unwrap()
        .peer(n)
        .unwrap()
    }

    fn facts(
        own: OwnVolume,
        cluster: ClusterAnswer,
        others: [PeerVolume; 2],
        snap: Option<&str>,
        planned: Option<&str>,
    ) -> RestoreFacts {
        RestoreFacts {
            own,
            cluster,
            others: vec![(p(1), others[0]), (p(2), others[1])],
            newest_verified: snap.map(str::to_string),
            planned: planned.map(str::to_string),
        }
    }

    fn quorum(me: MemberSeen) -> ClusterAnswer {
        ClusterAnswer::Quorum {
            me,
            join_pending: false,
        }
    }

    #[test]
    fn table() {
        use ClusterAnswer::Silent;
        use MemberSeen::*;
        use OwnVolume::{Lost, NeverJoined as New};
        use PeerVolume::{Blank, HoldsData, NeverJoined, Unknown};
        let join = |remove| RestorePlan::Join { remove };
        let restore = |s: &str, write_plan| RestorePlan::Restore {
            snapshot: s.into(),
            write_plan,
        };
        let no_quorum = ClusterAnswer::NoQuorum { answered: vec![p(1)] };
        let cases: Vec<(&str, RestoreFacts, RestorePlan)> = vec![
            // One peer's data lost while the cluster serves: the quorum heals it.
            (
                "a blank volume, quorum knows the member: join, replacing it",
                facts(
                    Lost,
                    quorum(Started { id: 7 }),
                    [HoldsData, HoldsData],
                    Some("s1"),
                    None,
                ),
                join(Some(7)),
            ),
            (
                "a new volume for a member that ran: join, replacing it",
                facts(New, quorum(Started { id: 7 }), [HoldsData, HoldsData], None, None),
                join(Some(7)),
            ),
            (
                "a join that added the learner already: resume",
                facts(Lost, quorum(Learner { id: 8 }), [HoldsData, HoldsData], None, None),
                join(None),
            ),
            (
                "a join that removed the member and stopped: resume, add it back",
                facts(
                    Lost,
                    ClusterAnswer::Quorum {
                        me: Absent,
                        join_pending: true,
                    },
                    [HoldsData, HoldsData],
                    None,
                    None,
                ),
                join(None),
            ),
            (
                "a member removed by hand: refuse, membership is fixed",
                facts(Lost, quorum(Absent), [HoldsData, HoldsData], None, None),
                RestorePlan::Refuse { why: String::new() },
            ),
            (
                "a late member of a first bootstrap: bootstrap as the others did",
                facts(New, quorum(Unstarted { id: 9 }), [NeverJoined, NeverJoined], None, None),
                RestorePlan::NewCluster,
            ),
            (
                "a late member once the others hold data: join (its log would not match theirs)",
                facts(New, quorum(Unstarted { id: 9 }), [HoldsData, NeverJoined], None, None),
                join(Some(9)),
            ),
            (
                "a late member while a snapshot exists: join",
                facts(
                    New,
                    quorum(Unstarted { id: 9 }),
                    [NeverJoined, NeverJoined],
                    Some("s1"),
                    None,
                ),
                join(Some(9)),
            ),
            (
                "an unstarted member whose volume held data: join",
                facts(Lost, quorum(Unstarted { id: 9 }), [HoldsData, HoldsData], None, None),
                join(Some(9)),
            ),
            // Split brain: others hold data, the cluster is down.
            (
                "others hold data, nobody answers: wait, never restore, never a new cluster",
                facts(New, Silent, [HoldsData, NeverJoined], Some("s1"), None),
                RestorePlan::Wait { why: String::new() },
            ),
            (
                "others hold data and lost quorum: wait",
                facts(Lost, no_quorum.clone(), [HoldsData, HoldsData], Some("s1"), None),
                RestorePlan::Wait { why: String::new() },
            ),
            (
                "another volume unknown: wait (never counted as fresh)",
                facts(Lost, Silent, [Blank, Unknown], Some("s1"), None),
                RestorePlan::Wait { why: String::new() },
            ),
            // Every volume lost.
            (
                "every volume blank, nobody answers: restore the newest verified snapshot, planning it",
                facts(Lost, Silent, [Blank, Blank], Some("s1"), None),
                restore("s1", true),
            ),
            (
                "every volume replaced by a new one, a snapshot exists: restore",
                facts(New, Silent, [NeverJoined, NeverJoined], Some("s1"), None),
                restore("s1", true),
            ),
            (
                "a restore under way: follow its snapshot, even with a newer one",
                facts(Lost, no_quorum.clone(), [Blank, HoldsData], Some("s2"), Some("s1")),
                restore("s1", false),
            ),
            (
                "a restored cluster formed without this member: join it",
                facts(
                    New,
                    quorum(Unstarted { id: 3 }),
                    [HoldsData, HoldsData],
                    Some("s2"),
                    Some("s1"),
                ),
                RestorePlan::Join { remove: Some(3) },
            ),
            (
                "this member ran in the restored cluster and lost its data again: join",
                facts(
                    Lost,
                    quorum(Started { id: 3 }),
                    [HoldsData, HoldsData],
                    Some("s2"),
                    Some("s1"),
                ),
                join(Some(3)),
            ),
            (
                "every volume blank and no snapshot: refuse, the data is gone",
                facts(Lost, Silent, [Blank, NeverJoined], None, None),
                RestorePlan::Refuse { why: String::new() },
            ),
            // First boot.
            (
                "a first boot, nothing anywhere: a new cluster",
                facts(New, Silent, [NeverJoined, NeverJoined], None, None),
                RestorePlan::NewCluster,
            ),
            (
                "a first boot still forming (members up, no leader yet): a new cluster",
                facts(New, no_quorum.clone(), [NeverJoined, NeverJoined], None, None),
                RestorePlan::NewCluster,
            ),
            (
                "members without a leader while a snapshot exists: wait, never bootstrap",
                facts(New, no_quorum, [NeverJoined, NeverJoined], Some("s1"), None),
                RestorePlan::Wait { why: String::new() },
            ),
        ];
        for (rule, f, want) in cases {
            let got = plan_restore(&f);
            // Wait and Refuse carry a reason for the log; the variant is the decision.
            let same = match (&got, &want) {
                (RestorePlan::Wait { why }, RestorePlan::Wait { .. })
                | (RestorePlan::Refuse { why }, RestorePlan::Refuse { .. }) => !why.is_empty(),
                _ => got == want,
            };
            assert!(same, "{rule}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn waits_and_refusals_name_what_they_wait_for() {
        let w = plan_restore(&facts(
            OwnVolume::Lost,
            ClusterAnswer::Silent,
            [PeerVolume::HoldsData, PeerVolume::Blank],
            None,
            None,
        ));
        assert!(
            w.to_string().contains("peer-1") && !w.to_string().contains("peer-2"),
            "{w}"
        );
        let r = plan_restore(&facts(
            OwnVolume::Lost,
            ClusterAnswer::Silent,
            [PeerVolume::Blank, PeerVolume::Blank],
            None,
            None,
        ));
        assert!(r.to_string().contains("no verified snapshot"), "{r}");
    }

    #[test]
    fn restore_orders_round_trip_and_a_bad_one_is_named() {
        let o = RestoreOrder {
            format: RESTORE_ORDER_FORMAT,
            snapshot: "main/snapshots/1800000000-r000000000000002a.db".into(),
            sha256: "ab".repeat(32),
            revision: 42,
            created_at: 1_800_000_100,
            created_by: "peer-2 (i-0abc)".into(),
            bump_revision: RESTORE_REVISION_BUMP,
        };
        assert_eq!(RestoreOrder::from_json("k", &o.to_json()).unwrap(), o);
        assert_eq!(o.bump_args(), ["--bump-revision", "1000000000", "--mark-compacted"]);
        // A plan written before the bump existed restores as it did: every peer alike.
        let old = br#"{"format":1,"snapshot":"s","sha256":"ab","revision":42,"created_at":1,"created_by":"operator"}"#;
        let old = RestoreOrder::from_json("k", old).unwrap();
        assert_eq!(old.bump_revision, 0);
        assert!(old.bump_args().is_empty());
        assert_eq!(old.numbered_after(), None);
        assert!(old.keeps(42) && !old.keeps(43) && !old.keeps(2_000_000_000));
        assert_eq!(o.numbered_after(), Some(1_000_000_042));
        assert!(o.keeps(42) && !o.keeps(43) && !o.keeps(1_000_000_042) && o.keeps(1_000_000_043));
        // A format this build does not know is refused, naming the formats it reads.
        let newer =
            br#"{"format":3,"snapshot":"s","sha256":"ab","revision":42,"created_at":1,"created_by":"operator"}"#;
        let e = RestoreOrder::from_json("k", newer).unwrap_err().to_string();
        assert!(e.contains("format 3") && e.contains("reads 1 to 2"), "{e}");
        let fresh = RestoreOrder::new("s", "ab", 42, "operator", 7);
        assert_eq!(
            (fresh.bump_revision, fresh.format),
            (RESTORE_REVISION_BUMP, RESTORE_ORDER_FORMAT)
        );
        let e = RestoreOrder::from_json("main/restore/plan.json", b"[]")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("restore plan") && e.contains("main/restore/plan.json"),
            "{e}"
        );
    }

    #[test]
    fn requested_table() {
        let req = |armed_at| RestoreRequest {
            format: RESTORE_REQUEST_FORMAT,
            snapshot: "snapshots/1800000000-r2a.db".into(),
            plan: "restore/plan-1799990000.json".into(),
            created_at: 1_800_000_100,
            created_by: "operator".into(),
            armed_at,
        };
        let aside = Requested::Discard {
            to: "member.before-restore-1800000100".into(),
        };
        let f = |request, joined, has_data, set_aside| RequestFacts {
            request,
            joined,
            has_data,
            set_aside,
        };
        let armed = Some(1_800_000_200);
        let cases: Vec<(&str, RequestFacts, Requested)> = vec![
            ("no request", f(None, Some(1), true, false), Requested::Proceed),
            (
                "not armed, data: wait",
                f(Some(req(None)), Some(1_799_990_000), true, false),
                Requested::Wait { why: String::new() },
            ),
            (
                "not armed, fresh data dir: wait too (it would restore among old members)",
                f(Some(req(None)), Some(1_799_990_000), false, false),
                Requested::Wait { why: String::new() },
            ),
            (
                "armed, data from before: discard it",
                f(Some(req(armed)), Some(1_799_990_000), true, false),
                aside.clone(),
            ),
            (
                "armed, volume joined before arming but after the request: still old data",
                f(Some(req(armed)), Some(1_800_000_150), true, false),
                aside,
            ),
            (
                "armed, set aside already (a crash before the restore): the fresh path restores",
                f(Some(req(armed)), Some(1_799_990_000), false, true),
                Requested::Proceed,
            ),
            (
                "armed, restored since (joined after arming): proceed with the data",
                f(Some(req(armed)), Some(1_800_000_300), true, false),
                Requested::Proceed,
            ),
            (
                "armed, never joined, no data: the fresh path",
                f(Some(req(armed)), None, false, false),
                Requested::Proceed,
            ),
        ];
        for (name, facts, want) in cases {
            let got = plan_requested(&facts);
            match (&got, &want) {
                (Requested::Wait { why }, Requested::Wait { .. }) => {
                    assert!(why.contains("snapshots/1800000000-r2a.db"), "{name}: {why}")
                }
                _ => assert_eq!(got, want, "{name}"),
            }
        }
    }

    #[test]
    fn request_round_trip_and_bad_input() {
        let r = RestoreRequest {
            format: RESTORE_REQUEST_FORMAT,
            snapshot: "s".into(),
            plan: "p".into(),
            created_at: 5,
            created_by: "me".into(),
            armed_at: None,
        };
        assert_eq!(RestoreRequest::from_json("k", &r.to_json()).unwrap(), r);
        let e = RestoreRequest::from_json("k/restore-request.json", b"{").unwrap_err();
        assert!(e.to_string().contains("k/restore-request.json"), "{e}");
        let mut v: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
        v["format"] = 9.into();
        let e = RestoreRequest::from_json("k", v.to_string().as_bytes()).unwrap_err();
        assert!(e.to_string().contains("format 9"), "{e}");
    }
}

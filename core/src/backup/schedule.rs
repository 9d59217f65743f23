//! Whether this member takes the scheduled snapshot (pure). Every member's timer fires; exactly
//! one member, the one etcd itself names leader, takes it. A snapshot younger than half an
//! interval means one was just taken (a leader that changed mid-interval, a second timer), so
//! none is taken again. An operator's on-demand snapshot skips both checks.

use super::retention::SnapshotEntry;

/// What the member knows of itself when its timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberRole {
    pub member_id: u64,
    /// The leader this member knows (0: none).
    pub leader: u64,
}

/// Why no snapshot is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Another member leads; it takes the snapshot.
    NotLeader { leader: u64 },
    /// The member knows no leader: the cluster has no quorum, and a snapshot would be refused.
    NoLeader,
    /// One was taken `age` seconds ago, less than half an interval.
    Recent { key: String, age: u64 },
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::NotLeader { leader } => write!(f, "member {leader:x} leads and takes the snapshot"),
            Skip::NoLeader => write!(f, "this member knows no leader (no quorum)"),
            Skip::Recent { key, age } => write!(f, "{key} was taken {age} s ago"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupPlan {
    Take,
    Skip(Skip),
}

/// Plans one firing of the backup timer at `now` (seconds since the epoch). `interval` is the
/// timer's (seconds); `on_demand` is an operator asking for a snapshot here and now.
pub fn plan_backup(
    role: MemberRole,
    snapshots: &[SnapshotEntry],
    now: u64,
    interval: u64,
    on_demand: bool,
) -> BackupPlan {
    if on_demand {
        return BackupPlan::Take;
    }
    if role.leader == 0 {
        return BackupPlan::Skip(Skip::NoLeader);
    }
    if role.leader != role.member_id {
        return BackupPlan::Skip(Skip::NotLeader { leader: role.leader });
    }
    let newest = snapshots.iter().max_by_key(|s| s.taken_at);
    if let Some(s) = newest {
        // A clock behind the newest key's counts as age 0: not a reason to take another.
        let age = now.saturating_sub(s.taken_at);
        if age < interval / 2 {
            return BackupPlan::Skip(Skip::Recent {
                key: s.key.clone(),
                age,
            });
        }
    }
    BackupPlan::Take
}

/// Seconds since the newest verified snapshot was taken; `None` when there is none.
pub fn newest_verified_age(snapshots: &[SnapshotEntry], now: u64) -> Option<u64> {
    snapshots
        .iter()
        .filter(|s| s.verified)
        .map(|s| now.saturating_sub(s.taken_at))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn snap(key: &str, age: u64, verified: bool) -> SnapshotEntry {
        SnapshotEntry {
            key: key.into(),
            taken_at: NOW - age,
            verified,
        }
    }

    #[test]
    fn table() {
        let leader = MemberRole {
            member_id: 7,
            leader: 7,
        };
        let follower = MemberRole {
            member_id: 7,
            leader: 9,
        };
        let lost = MemberRole {
            member_id: 7,
            leader: 0,
        };
        let cases: Vec<(&str, MemberRole, Vec<SnapshotEntry>, bool, BackupPlan)> = vec![
            (
                "the leader takes the first snapshot",
                leader,
                vec![],
                false,
                BackupPlan::Take,
            ),
            (
                "a follower leaves it to the leader",
                follower,
                vec![],
                false,
                BackupPlan::Skip(Skip::NotLeader { leader: 9 }),
            ),
            (
                "no leader, no snapshot",
                lost,
                vec![],
                false,
                BackupPlan::Skip(Skip::NoLeader),
            ),
            (
                "the leader takes one an interval later",
                leader,
                vec![snap("a", 300, true)],
                false,
                BackupPlan::Take,
            ),
            (
                "half an interval is enough",
                leader,
                vec![snap("a", 150, true)],
                false,
                BackupPlan::Take,
            ),
            (
                "not twice in half an interval, verified or not",
                leader,
                vec![snap("a", 600, true), snap("b", 149, false)],
                false,
                BackupPlan::Skip(Skip::Recent {
                    key: "b".into(),
                    age: 149,
                }),
            ),
            (
                "a key from a clock ahead of ours counts as just taken",
                leader,
                vec![SnapshotEntry {
                    key: "f".into(),
                    taken_at: NOW + 60,
                    verified: true,
                }],
                false,
                BackupPlan::Skip(Skip::Recent {
                    key: "f".into(),
                    age: 0,
                }),
            ),
            (
                "on demand: a follower takes it",
                follower,
                vec![],
                true,
                BackupPlan::Take,
            ),
            (
                "on demand: even right after another",
                follower,
                vec![snap("a", 1, true)],
                true,
                BackupPlan::Take,
            ),
        ];
        for (rule, role, snaps, on_demand, want) in cases {
            assert_eq!(plan_backup(role, &snaps, NOW, 300, on_demand), want, "{rule}");
        }
    }

    #[test]
    fn the_age_is_the_newest_verified_ones() {
        assert_eq!(newest_verified_age(&[], NOW), None);
        assert_eq!(newest_verified_age(&[snap("a", 50, false)], NOW), None);
        assert_eq!(
            newest_verified_age(&[snap("a", 900, true), snap("b", 50, false), snap("c", 400, true)], NOW),
            Some(400)
        );
    }
}

//! Which snapshots to keep (pure): every one of the last hours, then one an hour, then one a
//! day; and never the last restorable one.

use std::collections::BTreeMap;

/// One snapshot object, as the listing found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotEntry {
    pub key: String,
    /// When it was taken, in seconds since the Unix epoch.
    pub taken_at: u64,
    /// Its object read back with its recorded sha256.
    pub verified: bool,
}

/// The newest verified snapshot among `entries` (what a restore without a chosen snapshot uses).
pub fn newest_verified(entries: &[SnapshotEntry]) -> Option<&SnapshotEntry> {
    entries
        .iter()
        .filter(|e| e.verified)
        .max_by_key(|e| (e.taken_at, e.key.as_str()))
}

/// How long snapshots are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep every snapshot of the last this many hours (verified or not: a fresh one may still
    /// be being verified).
    pub all_hours: u64,
    /// Then the newest verified snapshot of each hour, for this many days.
    pub hourly_days: u64,
    /// Then the newest verified snapshot of each day, for this many weeks.
    pub daily_weeks: u64,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            all_hours: 6,
            hourly_days: 2,
            daily_weeks: 4,
        }
    }
}

/// Why a snapshot stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kept {
    /// Taken within the last `all_hours` (or after `now`: a clock ahead of ours is not a reason
    /// to delete).
    Recent,
    /// The newest verified snapshot of its hour, within `hourly_days`.
    Hourly,
    /// The newest verified snapshot of its day, within `daily_weeks`.
    Daily,
    /// The newest verified snapshot of all: never deleted, however old, so a restore always has
    /// something to restore.
    LastRestorable,
}

/// What to keep (with the first reason that applies) and what to delete, both newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPlan {
    pub keep: Vec<(String, Kept)>,
    pub delete: Vec<String>,
}

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// Plans retention of `snapshots` at `now` (seconds since the epoch) under `policy`.
pub fn plan_retention(snapshots: &[SnapshotEntry], now: u64, policy: RetentionPolicy) -> RetentionPlan {
    let mut by_age: Vec<&SnapshotEntry> = snapshots.iter().collect();
    // Newest first; the key breaks ties so the plan never depends on listing order.
    by_age.sort_by(|a, b| b.taken_at.cmp(&a.taken_at).then_with(|| b.key.cmp(&a.key)));
    let age = |s: &SnapshotEntry| now.saturating_sub(s.taken_at);
    // The newest verified snapshot of each hour and of each day (newest first, so the first
    // seen in a bucket is its newest).
    let mut hourly: BTreeMap<u64, &str> = BTreeMap::new();
    let mut daily: BTreeMap<u64, &str> = BTreeMap::new();
    for s in by_age.iter().filter(|s| s.verified) {
        hourly.entry(s.taken_at / HOUR).or_insert(&s.key);
        daily.entry(s.taken_at / DAY).or_insert(&s.key);
    }
    let last_restorable = by_age.iter().find(|s| s.verified).map(|s| s.key.as_str());
    let mut plan = RetentionPlan::default();
    for s in by_age {
        let newest_of = |buckets: &BTreeMap<u64, &str>, size: u64| {
            s.verified && buckets.get(&(s.taken_at / size)) == Some(&s.key.as_str())
        };
        let why = if s.taken_at >= now || age(s) < policy.all_hours * HOUR {
            Some(Kept::Recent)
        } else if age(s) < policy.hourly_days * DAY && newest_of(&hourly, HOUR) {
            Some(Kept::Hourly)
        } else if age(s) < policy.daily_weeks * 7 * DAY && newest_of(&daily, DAY) {
            Some(Kept::Daily)
        } else if last_restorable == Some(s.key.as_str()) {
            Some(Kept::LastRestorable)
        } else {
            None
        };
        match why {
            Some(k) => plan.keep.push((s.key.clone(), k)),
            None => plan.delete.push(s.key.clone()),
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000 - (1_800_000_000 % DAY) + 12 * HOUR; // noon, some day

    fn snap(key: &str, age_secs: u64, verified: bool) -> SnapshotEntry {
        SnapshotEntry {
            key: key.into(),
            taken_at: NOW - age_secs,
            verified,
        }
    }

    fn policy() -> RetentionPolicy {
        RetentionPolicy {
            all_hours: 2,
            hourly_days: 1,
            daily_weeks: 1,
        }
    }

    #[test]
    fn table() {
        let min = 60;
        struct Case {
            rule: &'static str,
            snaps: Vec<SnapshotEntry>,
            keep: Vec<(&'static str, Kept)>,
        }
        let cases = vec![
            Case {
                rule: "everything of the last hours stays, verified or not",
                snaps: vec![
                    snap("a", 5 * min, false),
                    snap("b", 10 * min, true),
                    snap("c", 119 * min, true),
                ],
                keep: vec![("a", Kept::Recent), ("b", Kept::Recent), ("c", Kept::Recent)],
            },
            Case {
                rule: "past the recent window, one an hour: the newest verified of each hour",
                snaps: vec![
                    snap("h3-late", 3 * HOUR + 5 * min, true),
                    snap("h3-early", 3 * HOUR + 50 * min, true),
                    snap("h4-late-unverified", 4 * HOUR + 5 * min, false),
                    snap("h4-early", 4 * HOUR + 40 * min, true),
                ],
                keep: vec![("h3-late", Kept::Hourly), ("h4-early", Kept::Hourly)],
            },
            Case {
                rule: "past the hourly days, one a day: the newest verified of each day",
                snaps: vec![
                    snap("d2-a", 2 * DAY + HOUR, true),
                    snap("d2-b", 2 * DAY + 2 * HOUR, true),
                    snap("d3", 3 * DAY, true),
                ],
                keep: vec![("d2-a", Kept::Daily), ("d3", Kept::Daily)],
            },
            Case {
                rule: "past every window everything goes, except the last restorable snapshot",
                snaps: vec![snap("old-1", 30 * DAY, true), snap("old-2", 31 * DAY, true)],
                keep: vec![("old-1", Kept::LastRestorable)],
            },
            Case {
                rule: "an unverified snapshot never stands in for the last restorable one",
                snaps: vec![
                    snap("new-unverified", 30 * DAY, false),
                    snap("older-verified", 40 * DAY, true),
                ],
                keep: vec![("older-verified", Kept::LastRestorable)],
            },
            Case {
                rule: "a snapshot from a clock ahead of ours is recent, never deleted",
                snaps: vec![SnapshotEntry {
                    key: "future".into(),
                    taken_at: NOW + HOUR,
                    verified: false,
                }],
                keep: vec![("future", Kept::Recent)],
            },
            Case {
                rule: "nothing to keep, nothing to delete",
                snaps: vec![],
                keep: vec![],
            },
        ];
        for c in cases {
            let plan = plan_retention(&c.snaps, NOW, policy());
            let keep: Vec<(&str, Kept)> = plan.keep.iter().map(|(k, why)| (k.as_str(), *why)).collect();
            assert_eq!(keep, c.keep, "{}", c.rule);
            // Every snapshot is either kept or deleted, once.
            assert_eq!(plan.keep.len() + plan.delete.len(), c.snaps.len(), "{}", c.rule);
            for s in &c.snaps {
                let kept = plan.keep.iter().any(|(k, _)| *k == s.key);
                assert_ne!(kept, plan.delete.contains(&s.key), "{}: {}", c.rule, s.key);
            }
        }
    }

    #[test]
    fn the_listing_order_does_not_change_the_plan() {
        let mut snaps: Vec<SnapshotEntry> = (0..200)
            .map(|i| snap(&format!("s{i:03}"), i * 17 * 60, i % 3 != 0))
            .collect();
        let a = plan_retention(&snaps, NOW, RetentionPolicy::default());
        snaps.reverse();
        let b = plan_retention(&snaps, NOW, RetentionPolicy::default());
        assert_eq!(a, b);
        // Every 17 minutes for ~56 hours under the default policy (6 h, 2 days, 4 weeks): the
        // first 6 hours whole (22 taken), then one an hour or a day.
        assert!(a.keep.len() < 200 && !a.delete.is_empty());
        assert_eq!(a.keep.iter().filter(|(_, k)| *k == Kept::Recent).count(), 22);
    }
}

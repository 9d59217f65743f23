//! Backups: where snapshots live and what they record ([`snapshot`]), and the pure planners
//! behind the schedule: [`plan_backup`] decides whether this member takes the snapshot,
//! [`plan_retention`] which snapshots stay. (`plan_restore` arrives with the restore path.)

mod retention;
mod schedule;
pub mod snapshot;

pub use retention::{plan_retention, Kept, RetentionPlan, RetentionPolicy, SnapshotEntry};
pub use schedule::{newest_verified_age, plan_backup, BackupPlan, MemberRole, Skip};
pub use snapshot::{Manifest, SnapshotKeys, SnapshotStatus, MANIFEST_FORMAT};

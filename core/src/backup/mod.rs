//! Backups: the pure planners behind the snapshot schedule. [`plan_retention`] decides which
//! snapshots stay. (The snapshot stream, the S3 adapter and `plan_restore` arrive with the rest
//! of issue 12.)

mod retention;

pub use retention::{plan_retention, Kept, RetentionPlan, RetentionPolicy, SnapshotEntry};

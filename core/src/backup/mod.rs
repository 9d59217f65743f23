//! Backups and recovery: where snapshots live and what they record ([`snapshot`]), how they are
//! streamed without being held ([`stream`]), and the pure planners: [`plan_backup`] decides
//! whether this member takes the scheduled snapshot, [`plan_retention`] which snapshots stay,
//! [`plan_restore`] how a member whose data dir is fresh gets its data (join, restore, new
//! cluster, wait, refuse).

mod restore;
mod retention;
mod schedule;
pub mod snapshot;
pub mod stream;

pub use restore::{
    plan_restore, ClusterAnswer, MemberSeen, OwnVolume, PeerVolume, RestoreFacts, RestoreOrder, RestorePlan,
    RESTORE_ORDER_FORMAT,
};
pub use retention::{plan_retention, Kept, RetentionPlan, RetentionPolicy, SnapshotEntry};
pub use schedule::{newest_verified_age, plan_backup, BackupPlan, MemberRole, Skip};
pub use snapshot::{Manifest, SnapshotKeys, SnapshotStatus, MANIFEST_FORMAT};
pub use stream::{Hashing, Upload, Uploaded};

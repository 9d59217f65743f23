//! Backups and recovery: where snapshots live and what they record ([`snapshot`]), how they are
//! streamed without being held ([`stream`]), and the pure planners: [`plan_backup`] decides
//! whether this member takes the scheduled snapshot, [`plan_retention`] which snapshots stay,
//! [`plan_restore`] how a member whose data dir is fresh gets its data (join, restore, new
//! cluster, wait, refuse).

mod record;
mod restore;
mod retention;
mod schedule;
pub mod snapshot;
pub mod stream;

pub use restore::{
    joined_at, plan_requested, plan_restore, restore_epoch, set_aside_name, ClusterAnswer, MemberSeen, OwnVolume,
    PeerVolume, RequestFacts, Requested, RestoreFacts, RestoreOrder, RestorePlan, RestoreRequest, RESTORE_ORDER_FORMAT,
    RESTORE_REQUEST_FORMAT,
};
pub use retention::{newest_verified, plan_retention, Kept, RetentionPlan, RetentionPolicy, SnapshotEntry};
pub use schedule::{newest_verified_age, plan_backup, BackupPlan, MemberRole, Skip};
pub use snapshot::{Manifest, SnapshotKeys, SnapshotStatus, MANIFEST_FORMAT};
pub use stream::{Hashing, Upload, Uploaded};

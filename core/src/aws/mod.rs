//! Narrow ports over the AWS calls steadfast makes, one per concern, and the typed data they
//! return ([`model`]). Handlers depend on the ports they need and nothing more: peer-dns on
//! [`Records`] + [`Groups`] + [`Instances`], node-bootstrap on [`Instances`] + [`Volumes`] +
//! [`Groups`]. [`sdk`] adapts them to the AWS SDK; [`fake`] (feature `fake`) is one stateful
//! in-memory cloud that every crate's tests use.
//!
//! Every SDK adapter call carries a per-attempt timeout and goes through [`crate::retry::Retry`].

#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod model;
pub mod sdk;

use std::future::Future;

pub use model::{
    Attachment, AttachmentState, Group, GroupInstance, Instance, InstanceState, LifecycleState, Volume, VolumeState,
};

use crate::error::Result;
use crate::records::{CurrentRecord, RecordChange};
use crate::vocab::{ClusterName, Tags};

/// Route 53: the `peer-N` A records.
pub trait Records: Send + Sync {
    /// Every A record in the zone whose name ends in `suffix` (e.g. `main.etcd.internal.`).
    fn list_a_records(&self, zone_id: &str, suffix: &str) -> impl Future<Output = Result<Vec<CurrentRecord>>> + Send;

    /// One change batch. Returns the change id.
    fn change_a_records(
        &self,
        zone_id: &str,
        changes: &[RecordChange],
        comment: &str,
    ) -> impl Future<Output = Result<String>> + Send;
}

/// Auto Scaling: groups and their lifecycle actions.
pub trait Groups: Send + Sync {
    /// The named groups (those that exist).
    fn describe_groups(&self, names: &[String]) -> impl Future<Output = Result<Vec<Group>>> + Send;

    /// Every group tagged `steadfast:cluster = cluster`.
    fn cluster_groups(&self, cluster: &ClusterName) -> impl Future<Output = Result<Vec<Group>>> + Send;

    /// `CompleteLifecycleAction` by instance id.
    fn complete_lifecycle_action(
        &self,
        group: &str,
        hook: &str,
        instance_id: &str,
        result: LifecycleResult,
    ) -> impl Future<Output = Result<()>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleResult {
    Continue,
    Abandon,
}

impl LifecycleResult {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleResult::Continue => "CONTINUE",
            LifecycleResult::Abandon => "ABANDON",
        }
    }
}

/// EC2 instances.
pub trait Instances: Send + Sync {
    /// The instances among `ids` that EC2 knows.
    fn describe_instances(&self, ids: &[String]) -> impl Future<Output = Result<Vec<Instance>>> + Send;
}

/// EBS volumes.
pub trait Volumes: Send + Sync {
    /// Volumes carrying every one of `tags`.
    fn volumes_tagged(&self, tags: &Tags) -> impl Future<Output = Result<Vec<Volume>>> + Send;

    fn describe_volume(&self, volume_id: &str) -> impl Future<Output = Result<Volume>> + Send;

    fn attach_volume(
        &self,
        volume_id: &str,
        instance_id: &str,
        device: &str,
    ) -> impl Future<Output = Result<()>> + Send;

    fn detach_volume(&self, volume_id: &str, instance_id: &str, force: bool)
        -> impl Future<Output = Result<()>> + Send;

    fn tag_volume(&self, volume_id: &str, key: &str, value: &str) -> impl Future<Output = Result<()>> + Send;
}

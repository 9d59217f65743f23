//! Narrow ports over the AWS calls steadfast makes, one per concern, and the typed data they
//! return ([`model`]). Handlers depend on the ports they need and nothing more: peer-dns on
//! [`Records`] + [`Groups`] + [`Instances`], node-bootstrap on [`Instances`] + [`Volumes`] +
//! [`Groups`] (+ [`Metrics`]), its backups on [`Objects`], its TLS on [`Secrets`]. [`sdk`] adapts them to the AWS SDK; [`fake`] (feature `fake`) is one stateful
//! in-memory cloud that every crate's tests use.
//!
//! Every SDK adapter call carries a per-attempt timeout and goes through [`crate::retry::Retry`].

#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod model;
pub mod sdk;

use std::future::Future;
use std::time::Instant;

pub use model::{
    Attachment, AttachmentState, CurrentRecord, Group, GroupInstance, Instance, InstanceState, LifecycleState,
    RecordChange, Volume, VolumeState,
};

use crate::error::Result;
use crate::vocab::{ClusterName, Tags};

/// Route 53: the `peer-N` A records.
pub trait Records: Send + Sync {
    /// Every A record at or under `domain` (e.g. `main.etcd.internal.`). The listing starts at
    /// `domain` and stops where names leave it, so the rest of a shared zone costs nothing.
    fn list_a_records(&self, zone_id: &str, domain: &str) -> impl Future<Output = Result<Vec<CurrentRecord>>> + Send;

    /// One change batch, applied atomically, each change conditional on the record it read
    /// (see [`RecordChange`]). Retries stop at `fresh_until`: a batch planned from an older view
    /// is never sent. A record that changed meanwhile fails the whole batch with
    /// `InvalidChangeBatch`. Returns the change id.
    fn change_a_records(
        &self,
        zone_id: &str,
        changes: &[RecordChange],
        comment: &str,
        fresh_until: Instant,
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

    /// `RecordLifecycleActionHeartbeat` by instance id: the action's timeout starts over.
    fn record_lifecycle_heartbeat(
        &self,
        group: &str,
        hook: &str,
        instance_id: &str,
    ) -> impl Future<Output = Result<()>> + Send;

    /// `TerminateInstanceInAutoScalingGroup` without lowering the desired capacity: the group
    /// launches a replacement.
    fn terminate_in_group(&self, instance_id: &str) -> impl Future<Output = Result<()>> + Send;
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

/// One CloudWatch data point: `name` in `namespace`, with `dimensions`.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
    pub value: f64,
    /// CloudWatch's unit name: `Count`, `Seconds`, `Bytes`, ...
    pub unit: &'static str,
}

/// CloudWatch metrics (the alarms Terraform defines read them).
pub trait Metrics: Send + Sync {
    fn put_metric(&self, metric: &Metric) -> impl Future<Output = Result<()>> + Send;
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

    /// Removes tag `key` (absent: not an error).
    fn untag_volume(&self, volume_id: &str, key: &str) -> impl Future<Output = Result<()>> + Send;
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
}

/// How a create-if-absent write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// The key already existed (S3 `PreconditionFailed`); nothing was written.
    Exists,
}

/// S3: the backup bucket. An adapter is bound to one bucket and encrypts every object it writes
/// with the cluster's KMS key.
pub trait Objects: Send + Sync {
    /// The bucket's name (for logs and metrics).
    fn bucket(&self) -> &str;

    /// Every object under `prefix`, in key order.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<ObjectInfo>>> + Send;

    /// A small object, whole (manifests, plans).
    fn get(&self, key: &str) -> impl Future<Output = Result<Vec<u8>>> + Send;

    /// An object of any size, written to `sink` as it arrives; the bytes written.
    fn read_into<W>(&self, key: &str, sink: &mut W) -> impl Future<Output = Result<u64>> + Send
    where
        W: tokio::io::AsyncWrite + Unpin + Send;

    /// Writes a small object. With `if_absent`, only when the key does not exist yet (S3's
    /// conditional write): of two writers racing, exactly one gets [`PutOutcome::Created`].
    fn put(&self, key: &str, body: bytes::Bytes, if_absent: bool) -> impl Future<Output = Result<PutOutcome>> + Send;

    /// Deletes `keys` (absent ones are not an error).
    fn delete(&self, keys: &[String]) -> impl Future<Output = Result<()>> + Send;

    /// Starts a multipart upload of `key` with `metadata`; its upload id.
    fn create_upload(&self, key: &str, metadata: &[(&str, String)]) -> impl Future<Output = Result<String>> + Send;

    /// Uploads part `number` (from 1); its ETag. Every part but the last is at least 5 MiB.
    fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: bytes::Bytes,
    ) -> impl Future<Output = Result<String>> + Send;

    /// Completes the upload from its parts (number, ETag), in order.
    fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Abandons the upload and frees its parts.
    fn abort_upload(&self, key: &str, upload_id: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Secrets Manager: the cluster's CA. Values are strings (the CA state's JSON).
pub trait Secrets: Send + Sync {
    /// The secret's current value; `None` when there is no such secret.
    fn get_secret(&self, name: &str) -> impl Future<Output = Result<Option<String>>> + Send;

    /// Creates the secret only if none of that name exists: of creators racing, exactly one gets
    /// [`PutOutcome::Created`]; the others [`PutOutcome::Exists`] and nothing written. `kms_key`:
    /// the key it is encrypted with (`None`: the account's default key for secrets).
    fn create_secret(
        &self,
        name: &str,
        value: &str,
        kms_key: Option<&str>,
        tags: &Tags,
    ) -> impl Future<Output = Result<PutOutcome>> + Send;

    /// A new current value of an existing secret.
    fn put_secret(&self, name: &str, value: &str) -> impl Future<Output = Result<()>> + Send;
}

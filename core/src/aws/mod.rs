//! Narrow traits over the AWS calls steadfast makes, the plain data they return, and adapters
//! built on the AWS SDK ([`sdk`]). Handlers depend on the traits; tests drive them with SDK-level
//! mocks or a moto server.
//!
//! Every adapter call carries a per-attempt timeout and goes through [`crate::retry::Retry`].

pub mod sdk;

use std::future::Future;
use std::net::Ipv4Addr;

use crate::error::Result;
use crate::records::{CurrentRecord, RecordChange};
use crate::vocab::ClusterName;

/// An Auto Scaling group and the instances it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub tags: Vec<(String, String)>,
    pub instances: Vec<GroupInstance>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInstance {
    pub instance_id: String,
    /// ASG lifecycle state: `Pending`, `Pending:Wait`, `InService`, `Terminating`, ...
    pub lifecycle_state: String,
    pub availability_zone: Option<String>,
}

/// Whether an ASG lifecycle state holds (or is about to hold) the group's slot: pending or in
/// service.
pub fn is_live_state(state: &str) -> bool {
    matches!(state, "Pending" | "Pending:Wait" | "Pending:Proceed" | "InService")
}

impl GroupInstance {
    pub fn is_live(&self) -> bool {
        is_live_state(&self.lifecycle_state)
    }
}

/// EC2's view of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub instance_id: String,
    /// `pending`, `running`, `shutting-down`, `terminated`, `stopping`, `stopped`.
    pub state: String,
    pub private_ip: Option<Ipv4Addr>,
    pub availability_zone: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// An EBS volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub volume_id: String,
    pub availability_zone: String,
    pub size_gib: i32,
    /// `creating`, `available`, `in-use`, ...
    pub state: String,
    pub tags: Vec<(String, String)>,
    pub attachments: Vec<Attachment>,
}

impl Volume {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub instance_id: String,
    /// `attaching`, `attached`, `detaching`, `detached`, `busy`.
    pub state: String,
    pub device: Option<String>,
}

/// Route 53: the calls peer-dns makes.
pub trait Dns: Send + Sync {
    /// Every A record in the zone whose name ends in `suffix` (e.g. `main.etcd.internal.`).
    fn list_a_records(&self, zone_id: &str, suffix: &str) -> impl Future<Output = Result<Vec<CurrentRecord>>> + Send;

    /// One change batch of UPSERTs. Returns the change id.
    fn upsert_a_records(
        &self,
        zone_id: &str,
        changes: &[RecordChange],
        comment: &str,
    ) -> impl Future<Output = Result<String>> + Send;
}

/// Auto Scaling: the calls peer-dns and node-bootstrap make.
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

/// EC2: instances and volumes.
pub trait Compute: Send + Sync {
    fn describe_instances(&self, ids: &[String]) -> impl Future<Output = Result<Vec<Instance>>> + Send;

    /// Volumes carrying every one of `tags`.
    fn volumes_tagged(&self, tags: &[(String, String)]) -> impl Future<Output = Result<Vec<Volume>>> + Send;

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

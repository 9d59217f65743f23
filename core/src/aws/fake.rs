//! One stateful in-memory cloud for tests (feature `fake`): groups, instances, volumes and
//! records, behind the same ports as the SDK adapters. It counts every call, and a test can make
//! the next calls of one operation fail with a chosen error (a throttle, `VolumeInUse`, ...).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    Attachment, AttachmentState, Group, GroupInstance, Groups, Instance, Instances, LifecycleResult, LifecycleState,
    Metric, Metrics, ObjectInfo, Objects, PutOutcome, Records, Secrets, Volume, VolumeState, Volumes,
};
use crate::error::{Error, Result};
use crate::records::{CurrentRecord, RecordChange};
use crate::vocab::{ClusterName, Tags};

/// An object's metadata: (name, value).
type Metadata = Vec<(String, String)>;
/// A multipart upload in progress: (key, metadata, parts by number).
type Pending = (String, Metadata, BTreeMap<i32, Vec<u8>>);

#[derive(Debug, Default)]
struct State {
    groups: Vec<Group>,
    instances: BTreeMap<String, Instance>,
    volumes: BTreeMap<String, Volume>,
    /// zone id -> record name -> record.
    records: BTreeMap<String, BTreeMap<String, CurrentRecord>>,
    calls: Vec<&'static str>,
    failures: BTreeMap<&'static str, VecDeque<Error>>,
    completed: Vec<(String, String, String, LifecycleResult)>,
    metrics: Vec<Metric>,
    /// The bucket: key -> (body, metadata).
    objects: BTreeMap<String, (Vec<u8>, Metadata)>,
    /// Multipart uploads in progress: id -> (key, metadata, parts by number).
    uploads: BTreeMap<String, Pending>,
    /// Completed uploads: key -> the size of each part.
    part_sizes: BTreeMap<String, Vec<usize>>,
    next_upload: u64,
    /// Secrets: name -> (value, kms key).
    secrets: BTreeMap<String, (String, Option<String>)>,
}

/// The in-memory cloud. Clones share one state.
#[derive(Debug, Clone, Default)]
pub struct FakeCloud(Arc<Mutex<State>>);

/// An AWS-shaped error with `code`, as the SDK adapters would return it.
pub fn aws_error(service: &'static str, operation: &'static str, code: &str, retryable: bool) -> Error {
    Error::Aws {
        service,
        operation,
        code: Some(code.to_string()),
        message: format!("{code} (fake)"),
        retryable,
    }
}

impl FakeCloud {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already; keep its state.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts the call and returns the failure queued for it, if any.
    fn enter(&self, operation: &'static str) -> Result<MutexGuard<'_, State>> {
        let mut s = self.state();
        s.calls.push(operation);
        if let Some(e) = s.failures.get_mut(operation).and_then(VecDeque::pop_front) {
            return Err(e);
        }
        Ok(s)
    }

    /// The next call of `operation` (e.g. `"AttachVolume"`) fails with `error`.
    pub fn fail_next(&self, operation: &'static str, error: Error) {
        self.state().failures.entry(operation).or_default().push_back(error);
    }

    /// Every call so far, by operation name, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.state().calls.clone()
    }

    /// `(group, hook, instance, result)` of every completed lifecycle action.
    pub fn completed_actions(&self) -> Vec<(String, String, String, LifecycleResult)> {
        self.state().completed.clone()
    }

    pub fn add_group(&self, name: &str, tags: Tags, instances: &[(&str, LifecycleState)]) {
        self.state().groups.push(Group {
            name: name.into(),
            tags,
            instances: instances
                .iter()
                .map(|(id, st)| GroupInstance {
                    instance_id: id.to_string(),
                    lifecycle_state: st.clone(),
                    availability_zone: None,
                })
                .collect(),
        });
    }

    pub fn add_instance(&self, instance: Instance) {
        self.state().instances.insert(instance.instance_id.clone(), instance);
    }

    pub fn add_volume(&self, volume: Volume) {
        self.state().volumes.insert(volume.volume_id.clone(), volume);
    }

    /// Sets an instance's EC2 state (e.g. a holder that stopped).
    pub fn set_instance_state(&self, id: &str, state: super::InstanceState) {
        if let Some(i) = self.state().instances.get_mut(id) {
            i.state = state;
        }
    }

    pub fn put_record(&self, zone_id: &str, name: &str, values: &[&str], ttl: i64) {
        self.state().records.entry(zone_id.into()).or_default().insert(
            name.to_ascii_lowercase(),
            CurrentRecord {
                name: name.into(),
                values: values.iter().map(|v| v.to_string()).collect(),
                ttl: Some(ttl),
            },
        );
    }

    /// A zone's A records: name -> values.
    pub fn records(&self, zone_id: &str) -> BTreeMap<String, Vec<String>> {
        self.state()
            .records
            .get(zone_id)
            .map(|z| z.values().map(|r| (r.name.clone(), r.values.clone())).collect())
            .unwrap_or_default()
    }

    pub fn volume(&self, id: &str) -> Option<Volume> {
        self.state().volumes.get(id).cloned()
    }

    /// Every metric data point put so far.
    pub fn metrics(&self) -> Vec<Metric> {
        self.state().metrics.clone()
    }
}

impl Metrics for FakeCloud {
    async fn put_metric(&self, metric: &Metric) -> Result<()> {
        let mut s = self.enter("PutMetricData")?;
        s.metrics.push(metric.clone());
        Ok(())
    }
}

impl Records for FakeCloud {
    async fn list_a_records(&self, zone_id: &str, suffix: &str) -> Result<Vec<CurrentRecord>> {
        let s = self.enter("ListResourceRecordSets")?;
        let suffix = suffix.trim_end_matches('.').to_ascii_lowercase();
        Ok(s.records
            .get(zone_id)
            .map(|z| {
                z.values()
                    .filter(|r| {
                        let n = r.name.trim_end_matches('.').to_ascii_lowercase();
                        n == suffix || n.ends_with(&format!(".{suffix}"))
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn change_a_records(
        &self,
        zone_id: &str,
        changes: &[RecordChange],
        _comment: &str,
        _fresh_until: std::time::Instant,
    ) -> Result<String> {
        let mut s = self.enter("ChangeResourceRecordSets")?;
        let zone = s.records.entry(zone_id.into()).or_default();
        // Conditional, all or nothing, as Route 53: each change's `previous` must be current.
        for ch in changes {
            let now = zone.get(&ch.name.to_ascii_lowercase());
            let matches = match (&ch.previous, now) {
                (None, None) => true,
                (Some(p), Some(n)) => p.values == n.values && p.ttl == n.ttl,
                _ => false,
            };
            if !matches {
                return Err(aws_error(
                    "route53",
                    "ChangeResourceRecordSets",
                    "InvalidChangeBatch",
                    false,
                ));
            }
        }
        for ch in changes {
            zone.insert(
                ch.name.to_ascii_lowercase(),
                CurrentRecord {
                    name: ch.name.clone(),
                    values: vec![ch.ip.to_string()],
                    ttl: Some(ch.ttl),
                },
            );
        }
        Ok(format!("/change/fake-{}", s.calls.len()))
    }
}

impl Groups for FakeCloud {
    async fn describe_groups(&self, names: &[String]) -> Result<Vec<Group>> {
        let s = self.enter("DescribeAutoScalingGroups")?;
        Ok(s.groups.iter().filter(|g| names.contains(&g.name)).cloned().collect())
    }

    async fn cluster_groups(&self, cluster: &ClusterName) -> Result<Vec<Group>> {
        let s = self.enter("DescribeAutoScalingGroups")?;
        Ok(s.groups
            .iter()
            .filter(|g| g.tags.cluster() == Some(cluster.as_str()))
            .cloned()
            .collect())
    }

    async fn complete_lifecycle_action(
        &self,
        group: &str,
        hook: &str,
        instance_id: &str,
        result: LifecycleResult,
    ) -> Result<()> {
        let mut s = self.enter("CompleteLifecycleAction")?;
        let inst = Self::waiting(&mut s, group, instance_id, "CompleteLifecycleAction")?;
        inst.lifecycle_state = match result {
            LifecycleResult::Continue => LifecycleState::InService,
            LifecycleResult::Abandon => LifecycleState::Terminating,
        };
        s.completed
            .push((group.into(), hook.into(), instance_id.into(), result));
        Ok(())
    }

    async fn record_lifecycle_heartbeat(&self, group: &str, _hook: &str, instance_id: &str) -> Result<()> {
        let mut s = self.enter("RecordLifecycleActionHeartbeat")?;
        Self::waiting(&mut s, group, instance_id, "RecordLifecycleActionHeartbeat").map(|_| ())
    }

    async fn terminate_in_group(&self, instance_id: &str) -> Result<()> {
        let mut s = self.enter("TerminateInstanceInAutoScalingGroup")?;
        let inst = s
            .groups
            .iter_mut()
            .flat_map(|g| g.instances.iter_mut())
            .find(|i| i.instance_id == instance_id)
            .ok_or_else(|| Error::Aws {
                service: "autoscaling",
                operation: "TerminateInstanceInAutoScalingGroup",
                code: Some("ValidationError".into()),
                message: format!("Instance Id not found - No managed instance found for instance ID: {instance_id}"),
                retryable: false,
            })?;
        inst.lifecycle_state = LifecycleState::Terminating;
        Ok(())
    }
}

impl FakeCloud {
    /// The waiting instance of `group`, or AWS's ValidationError.
    fn waiting<'a>(
        s: &'a mut State,
        group: &str,
        instance_id: &str,
        op: &'static str,
    ) -> Result<&'a mut GroupInstance> {
        s.groups
            .iter_mut()
            .filter(|g| g.name == group)
            .flat_map(|g| g.instances.iter_mut())
            .find(|i| i.instance_id == instance_id && i.lifecycle_state.is_waiting_for_launch_hook())
            .ok_or_else(|| Error::Aws {
                service: "autoscaling",
                operation: op,
                code: Some("ValidationError".into()),
                message: format!("No active Lifecycle Action found with instance ID {instance_id}"),
                retryable: false,
            })
    }

    /// How many heartbeats were recorded.
    pub fn heartbeats(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| **c == "RecordLifecycleActionHeartbeat")
            .count()
    }
}

impl Instances for FakeCloud {
    async fn describe_instances(&self, ids: &[String]) -> Result<Vec<Instance>> {
        let s = self.enter("DescribeInstances")?;
        Ok(ids.iter().filter_map(|id| s.instances.get(id).cloned()).collect())
    }
}

impl Volumes for FakeCloud {
    async fn volumes_tagged(&self, tags: &Tags) -> Result<Vec<Volume>> {
        let s = self.enter("DescribeVolumes")?;
        Ok(s.volumes
            .values()
            .filter(|v| v.tags.contains_all(tags))
            .cloned()
            .collect())
    }

    async fn describe_volume(&self, volume_id: &str) -> Result<Volume> {
        let s = self.enter("DescribeVolumes")?;
        s.volumes.get(volume_id).cloned().ok_or_else(|| Error::NotFound {
            what: "volume",
            detail: volume_id.into(),
        })
    }

    async fn attach_volume(&self, volume_id: &str, instance_id: &str, device: &str) -> Result<()> {
        let mut s = self.enter("AttachVolume")?;
        let v = s.volumes.get_mut(volume_id).ok_or_else(|| Error::NotFound {
            what: "volume",
            detail: volume_id.into(),
        })?;
        if v.active_attachments().next().is_some() {
            return Err(aws_error("ec2", "AttachVolume", "VolumeInUse", false));
        }
        v.attachments = vec![Attachment {
            instance_id: instance_id.into(),
            state: AttachmentState::Attached,
            device: Some(device.into()),
        }];
        v.state = VolumeState::InUse;
        Ok(())
    }

    async fn detach_volume(&self, volume_id: &str, instance_id: &str, _force: bool) -> Result<()> {
        let mut s = self.enter("DetachVolume")?;
        if let Some(v) = s.volumes.get_mut(volume_id) {
            v.attachments.retain(|a| a.instance_id != instance_id);
            if v.attachments.is_empty() {
                v.state = VolumeState::Available;
            }
        }
        Ok(())
    }

    async fn tag_volume(&self, volume_id: &str, key: &str, value: &str) -> Result<()> {
        let mut s = self.enter("CreateTags")?;
        if let Some(v) = s.volumes.get_mut(volume_id) {
            v.tags.set(key, value);
        }
        Ok(())
    }

    async fn untag_volume(&self, volume_id: &str, key: &str) -> Result<()> {
        let mut s = self.enter("DeleteTags")?;
        if let Some(v) = s.volumes.get_mut(volume_id) {
            v.tags.remove(key);
        }
        Ok(())
    }
}

impl FakeCloud {
    /// An object's body, if the bucket holds it.
    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        self.state().objects.get(key).map(|(b, _)| b.clone())
    }

    /// An object's metadata, if the bucket holds it.
    pub fn object_metadata(&self, key: &str) -> Option<Vec<(String, String)>> {
        self.state().objects.get(key).map(|(_, m)| m.clone())
    }

    /// Puts an object directly (a test's setup).
    pub fn put_object(&self, key: &str, body: &[u8]) {
        self.state().objects.insert(key.into(), (body.to_vec(), vec![]));
    }

    /// The part sizes a completed multipart upload of `key` was made of.
    pub fn part_sizes(&self, key: &str) -> Vec<usize> {
        self.state().part_sizes.get(key).cloned().unwrap_or_default()
    }

    /// Multipart uploads neither completed nor aborted.
    pub fn open_uploads(&self) -> usize {
        self.state().uploads.len()
    }
}

fn no_such_key(operation: &'static str, key: &str) -> Error {
    Error::Aws {
        service: "s3",
        operation,
        code: Some("NoSuchKey".into()),
        message: format!("{key}: no such key (fake)"),
        retryable: false,
    }
}

impl Objects for FakeCloud {
    fn bucket(&self) -> &str {
        "fake-bucket"
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let s = self.enter("ListObjectsV2")?;
        Ok(s.objects
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, (b, _))| ObjectInfo {
                key: k.clone(),
                size: b.len() as u64,
            })
            .collect())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>> {
        let s = self.enter("GetObject")?;
        s.objects
            .get(key)
            .map(|(b, _)| b.clone())
            .ok_or_else(|| no_such_key("GetObject", key))
    }

    async fn read_into<W>(&self, key: &str, sink: &mut W) -> Result<u64>
    where
        W: tokio::io::AsyncWrite + Unpin + Send,
    {
        use tokio::io::AsyncWriteExt;
        let body = {
            let s = self.enter("GetObject")?;
            s.objects
                .get(key)
                .map(|(b, _)| b.clone())
                .ok_or_else(|| no_such_key("GetObject", key))?
        };
        let io = |source| Error::Io {
            what: format!("writing {key} where it is read to"),
            source,
        };
        for c in body.chunks(64 << 10) {
            sink.write_all(c).await.map_err(io)?;
        }
        sink.flush().await.map_err(io)?;
        Ok(body.len() as u64)
    }

    async fn put(&self, key: &str, body: bytes::Bytes, if_absent: bool) -> Result<PutOutcome> {
        let mut s = self.enter("PutObject")?;
        if if_absent && s.objects.contains_key(key) {
            return Ok(PutOutcome::Exists);
        }
        s.objects.insert(key.into(), (body.to_vec(), vec![]));
        Ok(PutOutcome::Created)
    }

    async fn delete(&self, keys: &[String]) -> Result<()> {
        let mut s = self.enter("DeleteObjects")?;
        for k in keys {
            s.objects.remove(k);
        }
        Ok(())
    }

    async fn create_upload(&self, key: &str, metadata: &[(&str, String)]) -> Result<String> {
        let mut s = self.enter("CreateMultipartUpload")?;
        s.next_upload += 1;
        let id = format!("upload-{}", s.next_upload);
        let meta = metadata.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        s.uploads.insert(id.clone(), (key.into(), meta, BTreeMap::new()));
        Ok(id)
    }

    async fn upload_part(&self, key: &str, upload_id: &str, number: i32, body: bytes::Bytes) -> Result<String> {
        let mut s = self.enter("UploadPart")?;
        let u = s
            .uploads
            .get_mut(upload_id)
            .filter(|u| u.0 == key)
            .ok_or_else(|| no_such_key("UploadPart", upload_id))?;
        u.2.insert(number, body.to_vec());
        Ok(format!("etag-{number}"))
    }

    async fn complete_upload(&self, key: &str, upload_id: &str, parts: &[(i32, String)]) -> Result<()> {
        let mut s = self.enter("CompleteMultipartUpload")?;
        let (k, meta, stored) = s
            .uploads
            .remove(upload_id)
            .filter(|u| u.0 == key)
            .ok_or_else(|| no_such_key("CompleteMultipartUpload", upload_id))?;
        let mut body = Vec::new();
        let mut sizes = Vec::new();
        for (n, _) in parts {
            let p = stored
                .get(n)
                .ok_or_else(|| no_such_key("CompleteMultipartUpload", &format!("part {n}")))?;
            sizes.push(p.len());
            body.extend_from_slice(p);
        }
        s.part_sizes.insert(k.clone(), sizes);
        s.objects.insert(k, (body, meta));
        Ok(())
    }

    async fn abort_upload(&self, _key: &str, upload_id: &str) -> Result<()> {
        let mut s = self.enter("AbortMultipartUpload")?;
        s.uploads.remove(upload_id);
        Ok(())
    }
}

impl FakeCloud {
    /// A secret's value and its KMS key, as stored.
    pub fn secret(&self, name: &str) -> Option<(String, Option<String>)> {
        self.state().secrets.get(name).cloned()
    }
}

impl Secrets for FakeCloud {
    async fn get_secret(&self, name: &str) -> Result<Option<String>> {
        let s = self.enter("GetSecretValue")?;
        Ok(s.secrets.get(name).map(|(v, _)| v.clone()))
    }

    async fn create_secret(&self, name: &str, value: &str, kms_key: Option<&str>, _tags: &Tags) -> Result<PutOutcome> {
        let mut s = self.enter("CreateSecret")?;
        if s.secrets.contains_key(name) {
            return Ok(PutOutcome::Exists);
        }
        s.secrets
            .insert(name.to_string(), (value.to_string(), kms_key.map(str::to_string)));
        Ok(PutOutcome::Created)
    }

    async fn put_secret(&self, name: &str, value: &str) -> Result<()> {
        let mut s = self.enter("PutSecretValue")?;
        match s.secrets.get_mut(name) {
            Some(v) => {
                v.0 = value.to_string();
                Ok(())
            }
            None => Err(aws_error(
                "secretsmanager",
                "PutSecretValue",
                "ResourceNotFoundException",
                false,
            )),
        }
    }
}

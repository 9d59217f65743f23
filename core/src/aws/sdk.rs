//! Adapters from the [`super`] traits to the AWS SDK crates.
//!
//! The SDK's own retries are turned off ([`client_config`]): each call is retried by our
//! [`Retry`] policy, so one deadline bounds the whole operation and the error keeps AWS's code.

use std::net::Ipv4Addr;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;

use super::{Attachment, Compute, Dns, Group, GroupInstance, Groups, Instance, LifecycleResult, Volume};
use crate::error::{Error, Result};
use crate::records::{CurrentRecord, RecordChange};
use crate::retry::Retry;
use crate::vocab::{ClusterName, TAG_CLUSTER};

/// Per-attempt and connect timeouts applied to every SDK client.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub attempt: Duration,
    pub connect: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            attempt: Duration::from_secs(5),
            connect: Duration::from_secs(2),
        }
    }
}

fn retry_off() -> RetryConfig {
    RetryConfig::disabled()
}

fn timeouts(t: Timeouts) -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_attempt_timeout(t.attempt)
        .connect_timeout(t.connect)
        .build()
}

/// Builds the three SDK clients from one loaded `SdkConfig` (which honours `AWS_ENDPOINT_URL`).
pub fn client_config(conf: &SdkConfig, t: Timeouts) -> SdkClients {
    SdkClients {
        route53: aws_sdk_route53::Client::from_conf(
            aws_sdk_route53::config::Builder::from(conf)
                .retry_config(retry_off())
                .timeout_config(timeouts(t))
                .build(),
        ),
        autoscaling: aws_sdk_autoscaling::Client::from_conf(
            aws_sdk_autoscaling::config::Builder::from(conf)
                .retry_config(retry_off())
                .timeout_config(timeouts(t))
                .build(),
        ),
        ec2: aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(conf)
                .retry_config(retry_off())
                .timeout_config(timeouts(t))
                .build(),
        ),
    }
}

#[derive(Debug, Clone)]
pub struct SdkClients {
    pub route53: aws_sdk_route53::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub ec2: aws_sdk_ec2::Client,
}

// ---------------------------------------------------------------- Route 53

#[derive(Debug, Clone)]
pub struct Route53 {
    client: aws_sdk_route53::Client,
    retry: Retry,
}

impl Route53 {
    pub fn new(client: aws_sdk_route53::Client, retry: Retry) -> Self {
        Self { client, retry }
    }

    /// The same client with another retry policy (e.g. one shortened to an invocation's deadline).
    pub fn with_retry(self, retry: Retry) -> Self {
        Self { retry, ..self }
    }
}

impl Dns for Route53 {
    async fn list_a_records(&self, zone_id: &str, suffix: &str) -> Result<Vec<CurrentRecord>> {
        use aws_sdk_route53::types::RrType;
        let suffix = suffix.trim_end_matches('.').to_ascii_lowercase();
        let mut out = Vec::new();
        let mut start: Option<(String, RrType)> = None;
        loop {
            let page = self
                .retry
                .run("route53:ListResourceRecordSets", || {
                    let mut req = self.client.list_resource_record_sets().hosted_zone_id(zone_id);
                    if let Some((name, ty)) = &start {
                        req = req.start_record_name(name).start_record_type(ty.clone());
                    }
                    async move {
                        req.send()
                            .await
                            .map_err(|e| Error::from_sdk("route53", "ListResourceRecordSets", e))
                    }
                })
                .await?;
            for rr in page.resource_record_sets() {
                if *rr.r#type() != RrType::A {
                    continue;
                }
                let name = rr.name().to_ascii_lowercase();
                let bare = name.trim_end_matches('.');
                if bare == suffix || bare.ends_with(&format!(".{suffix}")) {
                    out.push(CurrentRecord {
                        name: rr.name().to_string(),
                        values: rr.resource_records().iter().map(|r| r.value().to_string()).collect(),
                        ttl: rr.ttl(),
                    });
                }
            }
            match (page.is_truncated(), page.next_record_name(), page.next_record_type()) {
                (true, Some(name), Some(ty)) => start = Some((name.to_string(), ty.clone())),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn upsert_a_records(&self, zone_id: &str, changes: &[RecordChange], comment: &str) -> Result<String> {
        use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
        let build = |what: &'static str, e: aws_sdk_route53::error::BuildError| Error::Invalid {
            what,
            value: String::new(),
            reason: e.to_string(),
        };
        let mut batch = ChangeBatch::builder().comment(comment);
        for ch in changes {
            let rrset = ResourceRecordSet::builder()
                .name(&ch.name)
                .r#type(RrType::A)
                .ttl(ch.ttl)
                .resource_records(
                    ResourceRecord::builder()
                        .value(ch.ip.to_string())
                        .build()
                        .map_err(|e| build("resource record", e))?,
                )
                .build()
                .map_err(|e| build("record set", e))?;
            batch = batch.changes(
                Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(rrset)
                    .build()
                    .map_err(|e| build("change", e))?,
            );
        }
        let batch = batch.build().map_err(|e| build("change batch", e))?;
        let out = self
            .retry
            .run("route53:ChangeResourceRecordSets", || {
                let req = self
                    .client
                    .change_resource_record_sets()
                    .hosted_zone_id(zone_id)
                    .change_batch(batch.clone());
                async move {
                    req.send()
                        .await
                        .map_err(|e| Error::from_sdk("route53", "ChangeResourceRecordSets", e))
                }
            })
            .await?;
        Ok(out.change_info().map(|c| c.id().to_string()).unwrap_or_default())
    }
}

// ---------------------------------------------------------------- Auto Scaling

#[derive(Debug, Clone)]
pub struct AutoScaling {
    client: aws_sdk_autoscaling::Client,
    retry: Retry,
}

impl AutoScaling {
    pub fn new(client: aws_sdk_autoscaling::Client, retry: Retry) -> Self {
        Self { client, retry }
    }

    /// The same client with another retry policy (e.g. one shortened to an invocation's deadline).
    pub fn with_retry(self, retry: Retry) -> Self {
        Self { retry, ..self }
    }

    async fn describe(&self, names: &[String], tag_filter: Option<(&str, &str)>) -> Result<Vec<Group>> {
        use aws_sdk_autoscaling::types::Filter;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .retry
                .run("autoscaling:DescribeAutoScalingGroups", || {
                    let mut req = self.client.describe_auto_scaling_groups();
                    for n in names {
                        req = req.auto_scaling_group_names(n);
                    }
                    if let Some((k, v)) = tag_filter {
                        req = req.filters(Filter::builder().name(format!("tag:{k}")).values(v).build());
                    }
                    if let Some(t) = &token {
                        req = req.next_token(t);
                    }
                    async move {
                        req.send()
                            .await
                            .map_err(|e| Error::from_sdk("autoscaling", "DescribeAutoScalingGroups", e))
                    }
                })
                .await?;
            for g in page.auto_scaling_groups() {
                let Some(name) = g.auto_scaling_group_name() else {
                    return Err(Error::Incomplete {
                        operation: "DescribeAutoScalingGroups",
                        field: "AutoScalingGroupName",
                    });
                };
                out.push(Group {
                    name: name.to_string(),
                    tags: g
                        .tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
                        .collect(),
                    instances: g
                        .instances()
                        .iter()
                        .filter_map(|i| {
                            Some(GroupInstance {
                                instance_id: i.instance_id()?.to_string(),
                                lifecycle_state: i
                                    .lifecycle_state()
                                    .map(|s| s.as_str().to_string())
                                    .unwrap_or_default(),
                                availability_zone: i.availability_zone().map(str::to_string),
                            })
                        })
                        .collect(),
                });
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }
}

impl Groups for AutoScaling {
    async fn describe_groups(&self, names: &[String]) -> Result<Vec<Group>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        self.describe(names, None).await
    }

    async fn cluster_groups(&self, cluster: &ClusterName) -> Result<Vec<Group>> {
        let groups = self.describe(&[], Some((TAG_CLUSTER, cluster.as_str()))).await?;
        // The filter is applied by AWS; check again so a lax emulator cannot widen the sweep.
        Ok(groups
            .into_iter()
            .filter(|g| g.tags.iter().any(|(k, v)| k == TAG_CLUSTER && v == cluster.as_str()))
            .collect())
    }

    async fn complete_lifecycle_action(
        &self,
        group: &str,
        hook: &str,
        instance_id: &str,
        result: LifecycleResult,
    ) -> Result<()> {
        self.retry
            .run("autoscaling:CompleteLifecycleAction", || {
                let req = self
                    .client
                    .complete_lifecycle_action()
                    .auto_scaling_group_name(group)
                    .lifecycle_hook_name(hook)
                    .instance_id(instance_id)
                    .lifecycle_action_result(result.as_str());
                async move {
                    req.send()
                        .await
                        .map_err(|e| Error::from_sdk("autoscaling", "CompleteLifecycleAction", e))
                }
            })
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------- EC2

#[derive(Debug, Clone)]
pub struct Ec2 {
    client: aws_sdk_ec2::Client,
    retry: Retry,
}

impl Ec2 {
    pub fn new(client: aws_sdk_ec2::Client, retry: Retry) -> Self {
        Self { client, retry }
    }

    /// The same client with another retry policy (e.g. one shortened to an invocation's deadline).
    pub fn with_retry(self, retry: Retry) -> Self {
        Self { retry, ..self }
    }

    async fn describe_volumes(&self, filters: Vec<aws_sdk_ec2::types::Filter>, ids: &[&str]) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .retry
                .run("ec2:DescribeVolumes", || {
                    let mut req = self.client.describe_volumes().set_filters(Some(filters.clone()));
                    if filters.is_empty() {
                        req = req.set_filters(None);
                    }
                    for id in ids {
                        req = req.volume_ids(*id);
                    }
                    if let Some(t) = &token {
                        req = req.next_token(t);
                    }
                    async move {
                        req.send()
                            .await
                            .map_err(|e| Error::from_sdk("ec2", "DescribeVolumes", e))
                    }
                })
                .await?;
            for v in page.volumes() {
                let (Some(id), Some(az)) = (v.volume_id(), v.availability_zone()) else {
                    return Err(Error::Incomplete {
                        operation: "DescribeVolumes",
                        field: "VolumeId/AvailabilityZone",
                    });
                };
                out.push(Volume {
                    volume_id: id.to_string(),
                    availability_zone: az.to_string(),
                    size_gib: v.size().unwrap_or_default(),
                    state: v.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
                    tags: v
                        .tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
                        .collect(),
                    attachments: v
                        .attachments()
                        .iter()
                        .filter_map(|a| {
                            Some(Attachment {
                                instance_id: a.instance_id()?.to_string(),
                                state: a.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
                                device: a.device().map(str::to_string),
                            })
                        })
                        .collect(),
                });
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }
}

impl Compute for Ec2 {
    async fn describe_instances(&self, ids: &[String]) -> Result<Vec<Instance>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let page = self
            .retry
            .run("ec2:DescribeInstances", || {
                let req = self.client.describe_instances().set_instance_ids(Some(ids.to_vec()));
                async move {
                    req.send()
                        .await
                        .map_err(|e| Error::from_sdk("ec2", "DescribeInstances", e))
                }
            })
            .await?;
        let mut out = Vec::new();
        for r in page.reservations() {
            for i in r.instances() {
                let Some(id) = i.instance_id() else {
                    return Err(Error::Incomplete {
                        operation: "DescribeInstances",
                        field: "InstanceId",
                    });
                };
                let private_ip = match i.private_ip_address() {
                    Some(s) if !s.is_empty() => Some(s.parse::<Ipv4Addr>().map_err(|_| Error::Invalid {
                        what: "private IP address",
                        value: s.to_string(),
                        reason: format!("EC2 returned it for {id}; it is not an IPv4 address"),
                    })?),
                    _ => None,
                };
                out.push(Instance {
                    instance_id: id.to_string(),
                    state: i
                        .state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str().to_string())
                        .unwrap_or_default(),
                    private_ip,
                    availability_zone: i.placement().and_then(|p| p.availability_zone()).map(str::to_string),
                    tags: i
                        .tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
                        .collect(),
                });
            }
        }
        Ok(out)
    }

    async fn volumes_tagged(&self, tags: &[(String, String)]) -> Result<Vec<Volume>> {
        use aws_sdk_ec2::types::Filter;
        let filters = tags
            .iter()
            .map(|(k, v)| Filter::builder().name(format!("tag:{k}")).values(v).build())
            .collect();
        let vols = self.describe_volumes(filters, &[]).await?;
        // Check the tags ourselves too: a lax filter must never hand us a foreign volume.
        Ok(vols
            .into_iter()
            .filter(|v| tags.iter().all(|(k, val)| v.tag(k) == Some(val.as_str())))
            .collect())
    }

    async fn describe_volume(&self, volume_id: &str) -> Result<Volume> {
        self.describe_volumes(Vec::new(), &[volume_id])
            .await?
            .into_iter()
            .find(|v| v.volume_id == volume_id)
            .ok_or_else(|| Error::NotFound {
                what: "volume",
                detail: volume_id.to_string(),
            })
    }

    async fn attach_volume(&self, volume_id: &str, instance_id: &str, device: &str) -> Result<()> {
        self.retry
            .run("ec2:AttachVolume", || {
                let req = self
                    .client
                    .attach_volume()
                    .volume_id(volume_id)
                    .instance_id(instance_id)
                    .device(device);
                async move { req.send().await.map_err(|e| Error::from_sdk("ec2", "AttachVolume", e)) }
            })
            .await?;
        Ok(())
    }

    async fn detach_volume(&self, volume_id: &str, instance_id: &str, force: bool) -> Result<()> {
        self.retry
            .run("ec2:DetachVolume", || {
                let req = self
                    .client
                    .detach_volume()
                    .volume_id(volume_id)
                    .instance_id(instance_id)
                    .force(force);
                async move { req.send().await.map_err(|e| Error::from_sdk("ec2", "DetachVolume", e)) }
            })
            .await?;
        Ok(())
    }

    async fn tag_volume(&self, volume_id: &str, key: &str, value: &str) -> Result<()> {
        use aws_sdk_ec2::types::Tag;
        self.retry
            .run("ec2:CreateTags", || {
                let req = self
                    .client
                    .create_tags()
                    .resources(volume_id)
                    .tags(Tag::builder().key(key).value(value).build());
                async move { req.send().await.map_err(|e| Error::from_sdk("ec2", "CreateTags", e)) }
            })
            .await?;
        Ok(())
    }
}

//! Auto Scaling: [`Groups`] over `DescribeAutoScalingGroups` and `CompleteLifecycleAction`.

use aws_sdk_autoscaling::types::{Filter, TagDescription};

use super::{call, tags};
use crate::aws::{Group, GroupInstance, Groups, LifecycleResult, LifecycleState};
use crate::error::{Error, Result};
use crate::retry::Retry;
use crate::vocab::{ClusterName, TAG_CLUSTER};

const SERVICE: &str = "autoscaling";
/// The one operation this adapter pages through, named once for its calls and its errors.
const DESCRIBE_GROUPS: &str = "DescribeAutoScalingGroups";

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
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = call(&self.retry, SERVICE, DESCRIBE_GROUPS, || {
                let mut req = self
                    .client
                    .describe_auto_scaling_groups()
                    .set_auto_scaling_group_names((!names.is_empty()).then(|| names.to_vec()));
                if let Some((k, v)) = tag_filter {
                    req = req.filters(Filter::builder().name(format!("tag:{k}")).values(v).build());
                }
                req.set_next_token(token.clone()).send()
            })
            .await?;
            for g in page.auto_scaling_groups() {
                out.push(group(g)?);
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }
}

fn group(g: &aws_sdk_autoscaling::types::AutoScalingGroup) -> Result<Group> {
    let name = g.auto_scaling_group_name().ok_or(Error::Incomplete {
        operation: DESCRIBE_GROUPS,
        field: "AutoScalingGroupName",
    })?;
    Ok(Group {
        name: name.to_string(),
        tags: tags(g.tags(), TagDescription::key, TagDescription::value),
        instances: g
            .instances()
            .iter()
            .filter_map(|i| {
                Some(GroupInstance {
                    instance_id: i.instance_id()?.to_string(),
                    lifecycle_state: LifecycleState::from_aws(
                        i.lifecycle_state().map(|s| s.as_str()).unwrap_or_default(),
                    ),
                    availability_zone: i.availability_zone().map(str::to_string),
                })
            })
            .collect(),
    })
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
            .filter(|g| g.tags.cluster() == Some(cluster.as_str()))
            .collect())
    }

    async fn complete_lifecycle_action(
        &self,
        group: &str,
        hook: &str,
        instance_id: &str,
        result: LifecycleResult,
    ) -> Result<()> {
        call(&self.retry, SERVICE, "CompleteLifecycleAction", || {
            self.client
                .complete_lifecycle_action()
                .auto_scaling_group_name(group)
                .lifecycle_hook_name(hook)
                .instance_id(instance_id)
                .lifecycle_action_result(result.as_str())
                .send()
        })
        .await?;
        Ok(())
    }

    async fn record_lifecycle_heartbeat(&self, group: &str, hook: &str, instance_id: &str) -> Result<()> {
        call(&self.retry, SERVICE, "RecordLifecycleActionHeartbeat", || {
            self.client
                .record_lifecycle_action_heartbeat()
                .auto_scaling_group_name(group)
                .lifecycle_hook_name(hook)
                .instance_id(instance_id)
                .send()
        })
        .await?;
        Ok(())
    }

    async fn terminate_in_group(&self, instance_id: &str) -> Result<()> {
        call(&self.retry, SERVICE, "TerminateInstanceInAutoScalingGroup", || {
            self.client
                .terminate_instance_in_auto_scaling_group()
                .instance_id(instance_id)
                .should_decrement_desired_capacity(false)
                .send()
        })
        .await?;
        Ok(())
    }
}

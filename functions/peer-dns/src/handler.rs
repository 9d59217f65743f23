//! The handler: gather (through the `Records`/`Groups`/`Instances` ports) -> plan (pure,
//! `steadfast_core::records::plan_peer_records`) -> apply (one change batch). `launch` and
//! `sweep` differ only in what they gather. It never completes a lifecycle action and never
//! touches SRV records: it only ever writes `peer-N` A records.

use serde::Serialize;
use serde_json::Value;
use steadfast_core::aws::{Group, Groups, Instances, Records};
use steadfast_core::records::{plan_peer_records, PeerRecordPlan, World};
use tracing::{info, warn, Instrument};

use crate::config::Config;
use crate::event::{self, Event, LaunchKind, Malformed};

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Malformed(#[from] Malformed),
    #[error(transparent)]
    Aws(#[from] steadfast_core::Error),
}

impl HandlerError {
    pub fn is_retryable(&self) -> bool {
        match self {
            HandlerError::Malformed(_) => false,
            HandlerError::Aws(e) => e.is_retryable(),
        }
    }

    /// The Lambda error type: `NonRetryable.<What>` or `Retryable.<AwsCode>`.
    pub fn error_type(&self) -> String {
        match self {
            HandlerError::Malformed(_) => "NonRetryable.MalformedEvent".into(),
            HandlerError::Aws(e) => {
                let code = e.aws_code().unwrap_or("Unavailable");
                if e.is_retryable() {
                    format!("Retryable.{code}")
                } else {
                    format!("NonRetryable.{code}")
                }
            }
        }
    }
}

/// What an invocation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Launch,
    Sweep,
    #[default]
    Ignored,
}

/// What one invocation did; returned as the Lambda's response (and logged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub action: Action,
    /// Why the event was ignored, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    pub upserted: Vec<UpsertedRecord>,
    pub unchanged: u32,
    /// `peer-N: group: reason`, `group: reason` or `peer-N: reason`.
    pub skipped: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpsertedRecord {
    pub name: String,
    pub ip: String,
    pub instance_id: String,
}

#[derive(Debug)]
pub struct PeerDns<R, G, I> {
    pub config: Config,
    pub records: R,
    pub groups: G,
    pub instances: I,
}

impl<R: Records, G: Groups, I: Instances> PeerDns<R, G, I> {
    pub fn new(config: Config, records: R, groups: G, instances: I) -> Self {
        Self {
            config,
            records,
            groups,
            instances,
        }
    }

    pub async fn handle(&self, raw: &Value) -> Result<Outcome, HandlerError> {
        let cluster = self.config.cluster.name().to_string();
        let ev = match event::parse(raw) {
            Ok(ev) => ev,
            Err(e) => {
                warn!(cluster, error = %e, "rejecting malformed event");
                return Err(e.into());
            }
        };
        match ev {
            Event::Unhandled { source, detail_type } => {
                info!(cluster, source, detail_type, "event not handled by peer-dns; ignored");
                Ok(ignored(format!(
                    "{source} / {detail_type} is not an event peer-dns acts on"
                )))
            }
            Event::Sweep => {
                let span = tracing::info_span!("sweep", cluster);
                self.sweep().instrument(span).await
            }
            Event::Launch {
                kind,
                group,
                instance_id,
            } => {
                let span =
                    tracing::info_span!("launch", cluster, group = %group, instance = %instance_id, kind = ?kind);
                self.launch(kind, &group, &instance_id).instrument(span).await
            }
        }
    }

    async fn launch(&self, kind: LaunchKind, group: &str, instance_id: &str) -> Result<Outcome, HandlerError> {
        let cluster = &self.config.cluster;
        // gather: the event's group, and the event's instance as the preferred one.
        let groups = self.groups.describe_groups(&[group.to_string()]).await?;
        if groups.is_empty() {
            info!(group, instance = instance_id, "auto scaling group not found; ignored");
            return Ok(ignored(format!("auto scaling group {group} not found")));
        }
        if groups
            .iter()
            .all(|g| matches!(cluster.peer_from_tags(&g.tags), Ok(None)))
        {
            info!(
                group,
                instance = instance_id,
                "auto scaling group does not carry this cluster's tags; ignored"
            );
            return Ok(ignored(format!(
                "auto scaling group {group} is not tagged for cluster {}",
                cluster.name()
            )));
        }
        let world = self.gather(groups, Some(instance_id)).await?;
        // plan
        let plan = plan_peer_records(cluster, &world, Some(instance_id), self.config.ttl);
        for d in plan.desired.iter().filter(|d| d.instance_id != instance_id) {
            warn!(group, event_instance = instance_id, instance = %d.instance_id, peer = d.peer.get(),
                "event's instance is no longer live in its group; using the group's live instance");
        }
        // apply
        let comment = format!("steadfast peer-dns: {kind:?} of {instance_id} in {group}");
        self.apply(Action::Launch, plan, &comment).await
    }

    async fn sweep(&self) -> Result<Outcome, HandlerError> {
        let cluster = &self.config.cluster;
        // gather: every group of the cluster.
        let groups = self.groups.cluster_groups(cluster.name()).await?;
        let world = self.gather(groups, None).await?;
        // plan
        let plan = plan_peer_records(cluster, &world, None, self.config.ttl);
        if !plan.uncovered.is_empty() {
            let missing: Vec<String> = plan.uncovered.iter().map(|p| cluster.member_name(*p)).collect();
            warn!(missing = ?missing, "peers with no live instance in any group; their records are left as they are");
        }
        // apply
        self.apply(Action::Sweep, plan, "steadfast peer-dns: sweep").await
    }

    /// EC2's view of the groups' live instances (and `extra`), and the cluster's records.
    async fn gather(&self, groups: Vec<Group>, extra: Option<&str>) -> Result<World, HandlerError> {
        let mut ids: Vec<String> = groups
            .iter()
            .flat_map(|g| g.live_instances().map(|i| i.instance_id.clone()))
            .collect();
        if let Some(e) = extra.filter(|e| !ids.iter().any(|i| i == e)) {
            ids.push(e.to_string());
        }
        let instances = self.instances.describe_instances(&ids).await?;
        let suffix = format!("{}.", self.config.cluster.cluster_domain());
        let records = self.records.list_a_records(&self.config.zone_id, &suffix).await?;
        Ok(World {
            groups,
            instances,
            records,
        })
    }

    async fn apply(&self, action: Action, plan: PeerRecordPlan, comment: &str) -> Result<Outcome, HandlerError> {
        let cluster = &self.config.cluster;
        for s in &plan.skipped {
            warn!(peer = s.peer.map(|p| p.get()), group = s.group.as_deref(), reason = %s.reason, "skipped");
        }
        let mut out = Outcome {
            action,
            unchanged: plan.unchanged.len() as u32,
            skipped: plan.skipped.iter().map(|s| s.describe(cluster)).collect(),
            ..Outcome::default()
        };
        if plan.changes.is_empty() {
            info!(unchanged = out.unchanged, "records already up to date; nothing written");
            return Ok(out);
        }
        let change_id = self
            .records
            .change_a_records(&self.config.zone_id, &plan.changes, comment)
            .await?;
        for ch in &plan.changes {
            let instance_id = plan
                .desired
                .iter()
                .find(|d| d.peer == ch.peer)
                .map(|d| d.instance_id.clone())
                .unwrap_or_default();
            info!(peer = ch.peer.get(), instance = %instance_id, record = %ch.name, ip = %ch.ip, previous = ?ch.previous,
                ttl = ch.ttl, change_id = %change_id, "A record upserted");
            out.upserted.push(UpsertedRecord {
                name: ch.name.clone(),
                ip: ch.ip.to_string(),
                instance_id,
            });
        }
        out.change_id = Some(change_id);
        Ok(out)
    }
}

fn ignored(why: String) -> Outcome {
    Outcome {
        action: Action::Ignored,
        ignored: Some(why),
        ..Outcome::default()
    }
}

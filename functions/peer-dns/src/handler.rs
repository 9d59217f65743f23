//! The handler: gather (through the `Dns`/`Groups`/`Compute` traits) -> plan (pure, in
//! `steadfast_core`) -> apply (one UPSERT batch). It never completes a lifecycle action and
//! never touches SRV records: it only ever writes `peer-N` A records.

use serde::Serialize;
use serde_json::Value;
use steadfast_core::aws::{Compute, Dns, Groups};
use steadfast_core::records::{plan_records, RecordPlan};
use steadfast_core::slots::plan_slots;
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

/// What one invocation did; returned as the Lambda's response (and logged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// `launch`, `sweep` or `ignored`.
    pub action: String,
    /// Why the event was ignored, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    pub upserted: Vec<UpsertedRecord>,
    pub unchanged: u32,
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
pub struct PeerDns<D, G, C> {
    pub config: Config,
    pub dns: D,
    pub groups: G,
    pub compute: C,
}

impl<D: Dns, G: Groups, C: Compute> PeerDns<D, G, C> {
    pub fn new(config: Config, dns: D, groups: G, compute: C) -> Self {
        Self {
            config,
            dns,
            groups,
            compute,
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
                Ok(Outcome {
                    action: "ignored".into(),
                    ignored: Some(format!("{source} / {detail_type} is not an event peer-dns acts on")),
                    ..Outcome::default()
                })
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
        // gather
        let groups = self.groups.describe_groups(&[group.to_string()]).await?;
        if groups.is_empty() {
            info!(group, instance = instance_id, "auto scaling group not found; ignored");
            return Ok(ignored(format!("auto scaling group {group} not found")));
        }
        let mut ids = live_instance_ids(&groups);
        let ours = groups.iter().any(|g| {
            !matches!(
                cluster.peer_from_tags(g.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                Ok(None)
            )
        });
        if !ours {
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
        if !ids.iter().any(|i| i == instance_id) {
            ids.push(instance_id.to_string());
        }
        let instances = self.compute.describe_instances(&ids).await?;
        let slots = plan_slots(cluster, &groups, &instances, Some(instance_id));
        for d in &slots.desired {
            if d.instance_id != instance_id {
                warn!(group, event_instance = instance_id, instance = %d.instance_id, peer = d.peer.get(),
                    "event's instance is no longer live in its group; using the group's live instance");
            }
        }
        let current = self
            .dns
            .list_a_records(&self.config.zone_id, &format!("{}.", cluster.cluster_domain()))
            .await?;
        // plan
        let mut plan = plan_records(cluster, &slots.desired, &current, self.config.ttl);
        plan.skipped.extend(slots.skipped());
        // apply
        let comment = format!("steadfast peer-dns: {kind:?} of {instance_id} in {group}");
        self.apply("launch", plan, &comment, &slots.desired).await
    }

    async fn sweep(&self) -> Result<Outcome, HandlerError> {
        let cluster = &self.config.cluster;
        // gather
        let groups = self.groups.cluster_groups(cluster.name()).await?;
        let ids = live_instance_ids(&groups);
        let instances = self.compute.describe_instances(&ids).await?;
        let current = self
            .dns
            .list_a_records(&self.config.zone_id, &format!("{}.", cluster.cluster_domain()))
            .await?;
        // plan
        let slots = plan_slots(cluster, &groups, &instances, None);
        let mut plan = plan_records(cluster, &slots.desired, &current, self.config.ttl);
        plan.skipped.extend(slots.skipped());
        for issue in slots.issues.iter().filter(|i| i.peer.is_none()) {
            warn!(group = %issue.group, reason = %issue.reason, "group skipped");
            plan.skipped.push(steadfast_core::records::Skipped {
                peer: cluster.peer(0).map_err(HandlerError::Aws)?,
                reason: format!("{}: {}", issue.group, issue.reason),
            });
        }
        let covered: Vec<u32> = slots.desired.iter().map(|d| d.peer.get()).collect();
        let missing: Vec<String> = cluster
            .peers()
            .filter(|p| !covered.contains(&p.get()))
            .map(|p| cluster.member_name(p))
            .collect();
        if !missing.is_empty() {
            warn!(missing = ?missing, "peers with no live instance in any group; their records are left as they are");
        }
        // apply
        self.apply("sweep", plan, "steadfast peer-dns: sweep", &slots.desired)
            .await
    }

    async fn apply(
        &self,
        action: &str,
        plan: RecordPlan,
        comment: &str,
        desired: &[steadfast_core::records::DesiredRecord],
    ) -> Result<Outcome, HandlerError> {
        let cluster = &self.config.cluster;
        for s in &plan.skipped {
            warn!(peer = s.peer.get(), reason = %s.reason, "peer skipped");
        }
        let mut out = Outcome {
            action: action.into(),
            unchanged: (desired.len() - plan.changes.len().min(desired.len())) as u32,
            skipped: plan
                .skipped
                .iter()
                .map(|s| format!("{}: {}", cluster.member_name(s.peer), s.reason))
                .collect(),
            ..Outcome::default()
        };
        if plan.changes.is_empty() {
            info!(unchanged = out.unchanged, "records already up to date; nothing written");
            return Ok(out);
        }
        let change_id = self
            .dns
            .upsert_a_records(&self.config.zone_id, &plan.changes, comment)
            .await?;
        for ch in &plan.changes {
            let instance_id = desired
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

/// The ids of every pending or in-service instance of `groups`.
fn live_instance_ids(groups: &[steadfast_core::aws::Group]) -> Vec<String> {
    groups
        .iter()
        .flat_map(|g| {
            g.instances
                .iter()
                .filter(|i| i.is_live())
                .map(|i| i.instance_id.clone())
        })
        .collect()
}

fn ignored(why: String) -> Outcome {
    Outcome {
        action: "ignored".into(),
        ignored: Some(why),
        ..Outcome::default()
    }
}

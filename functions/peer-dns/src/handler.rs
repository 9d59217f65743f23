//! The handler: gather (through the `Records`/`Groups`/`Instances` ports) -> plan (pure,
//! `steadfast_core::records::plan_peer_records`) -> apply (one conditional change batch).
//! Every event reads every group of the cluster (one tag-filtered call) and the cluster's
//! records, together. Core decides what the plan is made from (`event_scope`): a sweep every
//! group; a launch the groups that decide its own peer (every group claiming that peer), with
//! its instance as the preferred one, or nothing when its group is not the cluster's. The
//! instances of that scope are described and planned; only when core says the plan must be made
//! again from the whole cluster (`widened`: it moves another peer's record to its placeholder
//! while that peer has a live instance) is everything described and planned. A batch that
//! Route 53 rejects because a record changed since it was
//! read, or that could not be sent within [`FRESH_FOR`] of its gathering, is never resent: the
//! handler gathers again and re-plans, at most [`ROUNDS`] times. It never completes a lifecycle
//! action and never touches SRV records: it only ever writes `peer-N` A records.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use steadfast_core::aws::{Group, Groups, Instances, Records};
use steadfast_core::records::{event_scope, plan_peer_records, widened, CurrentRecord, PeerRecordPlan, Scope, World};

/// How long a plan stays good enough to send: a batch computed from a view older than this is
/// never sent (throttling can hold a write that long; another invocation may have moved on).
pub const FRESH_FOR: Duration = Duration::from_secs(5);
/// Gather-plan-apply rounds per invocation when Route 53 refuses a batch as stale.
pub const ROUNDS: u32 = 3;
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
    /// The instance holding `ip`; empty when the record went back to its placeholder.
    pub instance_id: String,
    /// The record went back to its peer's placeholder (its address now belongs to another peer).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub placeholder: bool,
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
        let comment = format!("steadfast peer-dns: {kind:?} of {instance_id} in {group}");
        self.reconcile(Action::Launch, Some((group, instance_id)), &comment)
            .await
    }

    async fn sweep(&self) -> Result<Outcome, HandlerError> {
        self.reconcile(Action::Sweep, None, "steadfast peer-dns: sweep").await
    }

    /// Gather -> plan -> apply, again when Route 53 refuses the batch as stale or it could not be
    /// sent while fresh. `event`: the launch's (group, instance).
    async fn reconcile(
        &self,
        action: Action,
        event: Option<(&str, &str)>,
        comment: &str,
    ) -> Result<Outcome, HandlerError> {
        let cluster = &self.config.cluster;
        let domain = format!("{}.", cluster.cluster_domain());
        let mut round = 0;
        loop {
            round += 1;
            // gather: every group of the cluster and the cluster's records, together; then the
            // instances the plan needs.
            let gathered_at = Instant::now();
            let (groups, records) = tokio::try_join!(
                self.groups.cluster_groups(cluster.name()),
                self.records.list_a_records(&self.config.zone_id, &domain)
            )?;
            let preferred = event.map(|(_, i)| i);
            let scope = match event_scope(cluster, &groups, event.map(|(g, _)| g)) {
                Scope::Groups(scope) => scope,
                Scope::Ignore(why) => {
                    info!(instance = preferred, reason = %why, "ignored");
                    return Ok(ignored(why));
                }
            };
            let mut plan = self
                .describe_and_plan(scope.clone(), records.clone(), preferred)
                .await?;
            if let Some(whole) = widened(cluster, &groups, &scope, &plan) {
                info!(
                    instance = preferred,
                    "the launch's address is held by the record of a peer with a live instance; planning from the whole cluster"
                );
                plan = self.describe_and_plan(whole, records, preferred).await?;
            }
            self.log_plan(&plan, event);
            // apply
            match self.apply(action, plan, comment, gathered_at + FRESH_FOR).await {
                Err(HandlerError::Aws(e)) if round < ROUNDS && (e.is_stale_write() || e.is_deadline()) => {
                    warn!(round, error = %e, "the batch was refused as stale, or could not be sent while fresh; gathering again");
                }
                other => return other,
            }
        }
    }

    fn log_plan(&self, plan: &PeerRecordPlan, event: Option<(&str, &str)>) {
        let cluster = &self.config.cluster;
        if let Some((group, instance_id)) = event {
            for d in plan
                .desired
                .iter()
                .filter(|d| d.group == group && d.instance_id != instance_id)
            {
                warn!(group, event_instance = instance_id, instance = %d.instance_id, peer = d.peer.get(),
                    "event's instance is not the one holding its group's slot; using the group's live instance");
            }
        } else if !plan.uncovered.is_empty() {
            let missing: Vec<String> = plan.uncovered.iter().map(|p| cluster.member_name(*p)).collect();
            warn!(missing = ?missing, "peers with no live instance in any group; their records are left as they are unless another peer now has their address");
        }
        for s in &plan.skipped {
            warn!(peer = s.peer.map(|p| p.get()), group = s.group.as_deref(), reason = %s.reason, "skipped");
        }
        if !plan.foreign.is_empty() {
            info!(groups = ?plan.foreign, "groups that are not this cluster's; never touched");
        }
    }

    /// EC2's view of the groups' live instances (and `preferred`, the event's), then the plan
    /// of every peer those groups claim.
    async fn describe_and_plan(
        &self,
        groups: Vec<Group>,
        records: Vec<CurrentRecord>,
        preferred: Option<&str>,
    ) -> Result<PeerRecordPlan, HandlerError> {
        let mut ids: Vec<String> = groups
            .iter()
            .flat_map(|g| g.live_instances().map(|i| i.instance_id.clone()))
            .collect();
        if let Some(e) = preferred.filter(|e| !ids.iter().any(|i| i == e)) {
            ids.push(e.to_string());
        }
        let instances = self.instances.describe_instances(&ids).await?;
        let world = World {
            groups,
            instances,
            records,
        };
        let c = &self.config;
        Ok(plan_peer_records(&c.cluster, &world, preferred, c.ttl, &c.placeholders))
    }

    async fn apply(
        &self,
        action: Action,
        plan: PeerRecordPlan,
        comment: &str,
        fresh_until: Instant,
    ) -> Result<Outcome, HandlerError> {
        let cluster = &self.config.cluster;
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
            .change_a_records(&self.config.zone_id, &plan.changes, comment, fresh_until)
            .await?;
        for ch in &plan.changes {
            let instance_id = ch.instance_id.clone().unwrap_or_default();
            info!(peer = ch.peer.get(), instance = %instance_id, record = %ch.name, ip = %ch.ip,
                previous = ?ch.previous.as_ref().map(|r| &r.values), placeholder = ch.instance_id.is_none(),
                ttl = ch.ttl, change_id = %change_id, "A record upserted");
            out.upserted.push(UpsertedRecord {
                name: ch.name.clone(),
                ip: ch.ip.to_string(),
                instance_id,
                placeholder: ch.instance_id.is_none(),
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

//! The EventBridge events peer-dns handles, parsed strictly from raw JSON.

use aws_lambda_events::event::autoscaling::AutoScalingEvent;
use serde_json::Value;

use steadfast_core::vocab::events::{
    LAUNCH_LIFECYCLE_ACTION as LIFECYCLE_LAUNCH, LAUNCH_SUCCESSFUL, SCHEDULED, SOURCE_AUTOSCALING,
    SOURCE_SCHEDULE as SOURCE_EVENTS, TRANSITION_LAUNCHING,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchKind {
    /// The launching hook: the instance is in Pending:Wait.
    LifecycleAction,
    LaunchSuccessful,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Launch {
        kind: LaunchKind,
        group: String,
        instance_id: String,
    },
    Sweep,
    /// A well-formed event of a kind peer-dns does not act on (e.g. a terminate action).
    Unhandled {
        source: String,
        detail_type: String,
    },
}

/// Why an event could not be parsed. Never retryable: the same bytes will fail again.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("malformed event: {0}")]
pub struct Malformed(pub String);

pub fn parse(raw: &Value) -> Result<Event, Malformed> {
    if !raw.is_object() {
        return Err(Malformed(format!("expected a JSON object, got {}", kind_of(raw))));
    }
    let env: AutoScalingEvent =
        serde_json::from_value(raw.clone()).map_err(|e| Malformed(format!("not an EventBridge event: {e}")))?;
    let source = env.source.as_deref().ok_or_else(|| Malformed("no \"source\"".into()))?;
    let detail_type = env
        .detail_type
        .as_deref()
        .ok_or_else(|| Malformed("no \"detail-type\"".into()))?;
    match (source, detail_type) {
        (SOURCE_EVENTS, SCHEDULED) => Ok(Event::Sweep),
        (SOURCE_AUTOSCALING, LIFECYCLE_LAUNCH | LAUNCH_SUCCESSFUL) => {
            let field = |name: &str| -> Result<String, Malformed> {
                match env.detail.get(name) {
                    Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
                    Some(other) => Err(Malformed(format!(
                        "detail.{name} must be a non-empty string, got {}",
                        kind_of(other)
                    ))),
                    None => Err(Malformed(format!("{detail_type} event has no detail.{name}"))),
                }
            };
            let group = field("AutoScalingGroupName")?;
            let instance_id = field("EC2InstanceId")?;
            if !instance_id.starts_with("i-") || !instance_id[2..].bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(Malformed(format!(
                    "detail.EC2InstanceId {instance_id:?} is not an instance id"
                )));
            }
            let kind = if detail_type == LIFECYCLE_LAUNCH {
                let transition = field("LifecycleTransition")?;
                if transition != TRANSITION_LAUNCHING {
                    return Ok(Event::Unhandled {
                        source: source.into(),
                        detail_type: format!("{detail_type} ({transition})"),
                    });
                }
                LaunchKind::LifecycleAction
            } else {
                LaunchKind::LaunchSuccessful
            };
            Ok(Event::Launch {
                kind,
                group,
                instance_id,
            })
        }
        _ => Ok(Event::Unhandled {
            source: source.into(),
            detail_type: detail_type.into(),
        }),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

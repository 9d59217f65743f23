//! The EventBridge events peer-dns acts on, built in one place: the sandbox's EventBridge
//! stand-in, the tests and the bench all deliver events made here, shaped as AWS sends them.

use serde_json::{json, Value};

use super::events::{
    LAUNCH_LIFECYCLE_ACTION, LAUNCH_SUCCESSFUL, SCHEDULED, SOURCE_AUTOSCALING, SOURCE_SCHEDULE, TRANSITION_LAUNCHING,
};

/// Where an event claims to come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub region: String,
    pub account: String,
    /// The event's `time` (RFC 3339).
    pub time: String,
}

impl Default for Origin {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account: "123456789012".into(),
            time: "2026-11-21T00:00:00Z".into(),
        }
    }
}

fn envelope(o: &Origin, id: String, source: &str, detail_type: &str, resources: Vec<String>, detail: Value) -> Value {
    json!({"version": "0", "id": id, "detail-type": detail_type, "source": source, "account": o.account,
           "time": o.time, "region": o.region, "resources": resources, "detail": detail})
}

/// `EC2 Instance-launch Lifecycle Action`: the LAUNCHING hook holds `instance` in Pending:Wait.
pub fn launch_lifecycle_action(o: &Origin, group: &str, instance: &str, hook: &str) -> Value {
    envelope(
        o,
        format!("lifecycle-{instance}"),
        SOURCE_AUTOSCALING,
        LAUNCH_LIFECYCLE_ACTION,
        vec![],
        json!({"LifecycleActionToken": format!("token-{instance}"), "AutoScalingGroupName": group,
               "LifecycleHookName": hook, "EC2InstanceId": instance,
               "LifecycleTransition": TRANSITION_LAUNCHING}),
    )
}

/// `EC2 Instance Launch Successful`: `instance` of `group` launched.
pub fn launch_successful(o: &Origin, group: &str, instance: &str) -> Value {
    envelope(
        o,
        format!("launched-{instance}"),
        SOURCE_AUTOSCALING,
        LAUNCH_SUCCESSFUL,
        vec![],
        json!({"StatusCode": "InProgress", "AutoScalingGroupName": group, "EC2InstanceId": instance,
               "Description": format!("Launching a new EC2 instance: {instance}")}),
    )
}

/// `Scheduled Event` from the sweep rule.
pub fn scheduled(o: &Origin, rule: &str) -> Value {
    envelope(
        o,
        format!("sweep-{}", o.time),
        SOURCE_SCHEDULE,
        SCHEDULED,
        vec![format!("arn:aws:events:{}:{}:rule/{rule}", o.region, o.account)],
        json!({}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let o = Origin::default();
        let e = launch_lifecycle_action(&o, "main-peer-1", "i-0abc", "main-launching");
        assert_eq!(e["source"], "aws.autoscaling");
        assert_eq!(e["detail-type"], "EC2 Instance-launch Lifecycle Action");
        assert_eq!(e["detail"]["LifecycleTransition"], "autoscaling:EC2_INSTANCE_LAUNCHING");
        assert_eq!(e["detail"]["EC2InstanceId"], "i-0abc");
        let e = launch_successful(&o, "g", "i-1");
        assert_eq!(e["detail"]["AutoScalingGroupName"], "g");
        let e = scheduled(&o, "sweep");
        assert_eq!(
            (e["source"].as_str(), e["detail-type"].as_str()),
            (Some("aws.events"), Some("Scheduled Event"))
        );
    }
}

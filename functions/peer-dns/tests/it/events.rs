//! Event parsing against AWS's own sample events (shipped by the `aws_lambda_events` crate,
//! read from its source in the cargo registry) and against malformed ones.

use std::path::PathBuf;

use peer_dns::event::{parse, Event, LaunchKind};
use serde_json::{json, Value};

/// The `src/fixtures` directory of the `aws_lambda_events` version in Cargo.lock.
fn fixtures_dir() -> PathBuf {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).expect("Cargo.lock");
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"aws_lambda_events\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .expect("aws_lambda_events in Cargo.lock");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cargo"));
    let src = cargo_home.join("registry").join("src");
    for index in std::fs::read_dir(&src).expect("cargo registry src") {
        let dir = index
            .expect("entry")
            .path()
            .join(format!("aws_lambda_events-{version}"))
            .join("src/fixtures");
        if dir.is_dir() {
            return dir;
        }
    }
    panic!("aws_lambda_events-{version} sources not found under {}", src.display());
}

fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .expect("fixture is JSON")
}

#[test]
fn aws_sample_lifecycle_action() {
    let ev = parse(&fixture("example-autoscaling-event-lifecycle-action.json")).unwrap();
    assert_eq!(
        ev,
        Event::Launch {
            kind: LaunchKind::LifecycleAction,
            group: "my-asg".into(),
            instance_id: "i-1234567890abcdef0".into()
        }
    );
}

#[test]
fn aws_sample_launch_successful() {
    let ev = parse(&fixture("example-autoscaling-event-launch-successful.json")).unwrap();
    assert_eq!(
        ev,
        Event::Launch {
            kind: LaunchKind::LaunchSuccessful,
            group: "my-auto-scaling-group".into(),
            instance_id: "i-1234567890abcdef0".into()
        }
    );
}

#[test]
fn aws_sample_schedule() {
    assert_eq!(
        parse(&fixture("example-eventbridge-schedule.json")).unwrap(),
        Event::Sweep
    );
}

#[test]
fn aws_samples_we_do_not_act_on_are_unhandled_not_errors() {
    for f in [
        "example-autoscaling-event-terminate-action.json",
        "example-autoscaling-event-terminate-successful.json",
        "example-autoscaling-event-launch-unsuccessful.json",
    ] {
        let ev = parse(&fixture(f)).unwrap();
        assert!(matches!(ev, Event::Unhandled { .. }), "{f}: {ev:?}");
    }
}

#[test]
fn malformed_events_are_rejected_with_a_reason() {
    let base = fixture("example-autoscaling-event-lifecycle-action.json");
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        v
    };
    let cases: Vec<(Value, &str)> = vec![
        (json!("just a string"), "JSON object"),
        (json!([1, 2]), "JSON object"),
        (json!({}), "not an EventBridge event"),
        (
            with(&|v| {
                v.as_object_mut().unwrap().remove("source");
            }),
            "source",
        ),
        (
            with(&|v| {
                v.as_object_mut().unwrap().remove("detail-type");
            }),
            "detail-type",
        ),
        (
            with(&|v| {
                v["detail"].as_object_mut().unwrap().remove("EC2InstanceId");
            }),
            "EC2InstanceId",
        ),
        (
            with(&|v| {
                v["detail"].as_object_mut().unwrap().remove("AutoScalingGroupName");
            }),
            "AutoScalingGroupName",
        ),
        (with(&|v| v["detail"]["EC2InstanceId"] = json!(42)), "EC2InstanceId"),
        (with(&|v| v["detail"]["EC2InstanceId"] = json!("")), "EC2InstanceId"),
        (
            with(&|v| v["detail"]["EC2InstanceId"] = json!("i-../../etc")),
            "not an instance id",
        ),
        (
            with(&|v| v["detail"]["EC2InstanceId"] = json!("vol-123")),
            "not an instance id",
        ),
        (
            with(&|v| {
                v["detail"].as_object_mut().unwrap().remove("LifecycleTransition");
            }),
            "LifecycleTransition",
        ),
        (with(&|v| v["time"] = json!("yesterday")), "not an EventBridge event"),
    ];
    for (ev, want) in cases {
        let err = parse(&ev).unwrap_err().to_string();
        assert!(err.contains("malformed event") && err.contains(want), "{ev}: {err}");
    }
}

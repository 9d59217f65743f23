//! `ready`: real health against a real etcd 3.5.1, and CompleteLifecycleAction through SDK
//! mocks (moto does not implement it).
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_autoscaling::operation::complete_lifecycle_action::CompleteLifecycleActionOutput;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use node_bootstrap::ready::{complete_lifecycle, wait_ready};
use node_bootstrap::BootstrapError;
use steadfast_core::aws::fake::FakeCloud;
use steadfast_core::aws::sdk::AutoScaling;
use steadfast_core::aws::{Instance, InstanceState};
use steadfast_core::retry::Retry;
use steadfast_core::vocab::{Tags, TAG_ASG_NAME};
use steadfast_sandbox::paths;

/// The etcd process and its data dir (removed when the test ends).
struct Etcd(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_etcd(ip: Ipv4Addr) -> Etcd {
    let bin = paths::etcd_bin_dir().expect("etcd (make deps)").join("etcd");
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(bin)
        .env("ETCD_NAME", "solo")
        .env("ETCD_DATA_DIR", dir.path().join("data"))
        .env("ETCD_LISTEN_CLIENT_URLS", format!("http://{ip}:2379"))
        .env("ETCD_ADVERTISE_CLIENT_URLS", format!("http://{ip}:2379"))
        .env("ETCD_LISTEN_PEER_URLS", format!("http://{ip}:2380"))
        .env("ETCD_INITIAL_ADVERTISE_PEER_URLS", format!("http://{ip}:2380"))
        .env("ETCD_INITIAL_CLUSTER", format!("solo=http://{ip}:2380"))
        .env("ETCD_INITIAL_CLUSTER_TOKEN", "ready-test")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Etcd(child, dir)
}

#[tokio::test]
async fn ready_waits_for_a_real_healthy_member() {
    let ip: Ipv4Addr = "127.0.91.1".parse().unwrap();
    let _etcd = start_etcd(ip);
    let r = wait_ready(ip, Duration::from_secs(30)).await.unwrap();
    assert_ne!(r.member_id, 0);
    assert_eq!(r.leader, r.member_id, "a single member leads itself");
    assert!(r.applied_index >= r.target_index);
}

#[tokio::test]
async fn ready_gives_up_at_its_deadline_when_etcd_is_not_there() {
    let err = wait_ready("127.0.91.2".parse().unwrap(), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(err, BootstrapError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("etcd becoming healthy"), "{err}");
}

/// EC2 holding one running instance with `tags`.
fn ec2_with(tags: Tags) -> FakeCloud {
    let cloud = FakeCloud::new();
    cloud.add_instance(Instance {
        instance_id: "i-0abc".into(),
        state: InstanceState::Running,
        private_ip: None,
        availability_zone: None,
        tags,
    });
    cloud
}

fn fast() -> Retry {
    Retry {
        deadline: Duration::from_secs(5),
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
        max_attempts: 5,
        until: None,
    }
}

#[tokio::test]
async fn completes_the_lifecycle_action_with_continue_by_instance_id() {
    let rule = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action)
        .match_requests(|r| {
            r.auto_scaling_group_name() == Some("main-peer-4")
                && r.lifecycle_hook_name() == Some("steadfast-launch")
                && r.instance_id() == Some("i-0abc")
                && r.lifecycle_action_result() == Some("CONTINUE")
                && r.lifecycle_action_token().is_none()
        })
        .sequence()
        .http_status(
            400,
            Some(
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"
                    .into(),
            ),
        )
        .output(|| CompleteLifecycleActionOutput::builder().build())
        .build();
    let client = mock_client!(aws_sdk_autoscaling, RuleMode::Sequential, [&rule], |c| c
        .retry_config(aws_sdk_autoscaling::config::retry::RetryConfig::disabled()));
    let ec2 = ec2_with(Tags::from_pairs([(TAG_ASG_NAME, "main-peer-4")]));
    let group = complete_lifecycle(&ec2, &AutoScaling::new(client, fast()), "i-0abc", "steadfast-launch")
        .await
        .unwrap();
    assert_eq!(group, "main-peer-4");
    assert_eq!(rule.num_calls(), 2, "throttled once, then completed");
}

#[tokio::test]
async fn lifecycle_errors_are_clear() {
    // No ASG tag on the instance: named in the error, nothing called.
    let rule = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action)
        .then_output(|| CompleteLifecycleActionOutput::builder().build());
    let client = mock_client!(aws_sdk_autoscaling, RuleMode::MatchAny, [&rule], |c| c
        .retry_config(aws_sdk_autoscaling::config::retry::RetryConfig::disabled()));
    let err = complete_lifecycle(
        &ec2_with(Tags::default()),
        &AutoScaling::new(client, fast()),
        "i-0abc",
        "h",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains(TAG_ASG_NAME), "{err}");
    assert_eq!(rule.num_calls(), 0);

    // A hook that does not exist: AWS's ValidationError comes through with its code.
    let rule = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
            aws_smithy_types::body::SdkBody::from(
                "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>No active Lifecycle Action found with instance ID i-0abc</Message></Error></ErrorResponse>",
            ),
        )
    });
    let client = mock_client!(aws_sdk_autoscaling, RuleMode::MatchAny, [&rule], |c| c
        .retry_config(aws_sdk_autoscaling::config::retry::RetryConfig::disabled()));
    let ec2 = ec2_with(Tags::from_pairs([(TAG_ASG_NAME, "main-peer-4")]));
    let err = complete_lifecycle(&ec2, &AutoScaling::new(client, fast()), "i-0abc", "h")
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("ValidationError") && msg.contains("No active Lifecycle Action"),
        "{msg}"
    );
    assert_eq!(rule.num_calls(), 1, "a validation error is not retried");
}

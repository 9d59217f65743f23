//! `ready`: real health against a real etcd 3.5.16, and CompleteLifecycleAction through SDK
//! mocks (moto does not implement it).
use std::net::Ipv4Addr;
use std::time::Duration;

use aws_sdk_autoscaling::operation::complete_lifecycle_action::CompleteLifecycleActionOutput;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use clap::Parser;
use node_bootstrap::config::{Cli, Command as NbCommand, NodeConfig};
use node_bootstrap::identity::Identity;
use node_bootstrap::lifecycle::{self, Hook};
use node_bootstrap::ready::wait_ready;
use node_bootstrap::BootstrapError;
use steadfast_core::etcd::Access;

use crate::{start_etcd, start_etcd_with};
use steadfast_core::aws::fake::FakeCloud;
use steadfast_core::aws::sdk::AutoScaling;
use steadfast_core::aws::{Instance, InstanceState, LifecycleResult, LifecycleState};
use steadfast_core::retry::Retry;
use steadfast_core::vocab::{Tags, TAG_ASG_NAME};

#[tokio::test]
async fn ready_waits_for_a_real_healthy_member() {
    let ip: Ipv4Addr = "127.0.91.1".parse().unwrap();
    let _etcd = start_etcd(ip);
    let r = wait_ready(&Access::plain(), ip, Duration::from_secs(30)).await.unwrap();
    assert_ne!(r.member_id, 0);
    assert_eq!(r.leader, r.member_id, "a single member leads itself");
    assert!(r.applied_index >= r.target_index);
}

#[tokio::test]
async fn ready_gives_up_at_its_deadline_when_etcd_is_not_there() {
    let err = wait_ready(&Access::plain(), "127.0.91.2".parse().unwrap(), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(err, BootstrapError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("etcd becoming healthy"), "{err}");
}

/// A cluster alarm (NOSPACE, from a tiny backend quota filled up) does not block readiness: it
/// is the cluster's, and refusing would ABANDON every replacement during the incident.
#[tokio::test]
async fn a_cluster_alarm_does_not_block_readiness() {
    let ip: Ipv4Addr = "127.0.91.3".parse().unwrap();
    let _etcd = start_etcd_with(ip, &["--quota-backend-bytes=1048576"]);
    wait_ready(&Access::plain(), ip, Duration::from_secs(30)).await.unwrap();
    let mut c = etcd_client::Client::connect([format!("http://{ip}:2379")], None)
        .await
        .unwrap();
    let big = "x".repeat(64 * 1024);
    let mut filled = false;
    for i in 0..200 {
        if let Err(e) = c.put(format!("fill/{i}"), big.clone(), None).await {
            assert!(e.to_string().contains("space exceeded"), "{e}");
            filled = true;
            break;
        }
    }
    assert!(filled, "the quota was never reached");
    let st = c.status().await.unwrap();
    assert!(
        st.errors().iter().any(|e| e.contains("NOSPACE")),
        "the premise: a NOSPACE alarm is raised: {:?}",
        st.errors()
    );
    let r = wait_ready(&Access::plain(), ip, Duration::from_secs(10)).await.unwrap();
    assert_ne!(r.member_id, 0);
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

fn hook() -> Hook {
    Hook {
        name: "main-launching".into(),
        group: "main-peer-4".into(),
        instance_id: "i-0abc".into(),
    }
}

#[tokio::test]
async fn completes_the_lifecycle_action_with_continue_by_instance_id() {
    let rule = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action)
        .match_requests(|r| {
            r.auto_scaling_group_name() == Some("main-peer-4")
                && r.lifecycle_hook_name() == Some("main-launching")
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
    hook()
        .complete(&AutoScaling::new(client, fast()), LifecycleResult::Continue)
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 2, "throttled once, then completed");
}

#[tokio::test]
async fn an_action_that_is_gone_is_nothing_to_complete() {
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
    hook()
        .complete(&AutoScaling::new(client, fast()), LifecycleResult::Continue)
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1, "a validation error is not retried");
}

fn config(hook: Option<&str>) -> NodeConfig {
    let mut argv = vec![
        "node-bootstrap",
        "ready",
        "--domain",
        "etcd.internal",
        "--ready-timeout-secs",
        "30",
    ];
    if let Some(h) = hook {
        argv.extend(["--lifecycle-hook", h]);
    }
    match Cli::try_parse_from(argv).unwrap().command {
        NbCommand::Ready(o) => NodeConfig::from_opts(&o).unwrap(),
        _ => unreachable!(),
    }
}

/// EC2 and Auto Scaling holding instance i-0abc of group main-peer-4 in `state`, tagged `tags`.
fn cloud(state: LifecycleState, tags: Tags) -> FakeCloud {
    let cloud = FakeCloud::new();
    cloud.add_instance(Instance {
        instance_id: "i-0abc".into(),
        state: InstanceState::Running,
        private_ip: None,
        availability_zone: None,
        tags,
    });
    cloud.add_group("main-peer-4", Tags::default(), &[("i-0abc", state)]);
    cloud
}

fn identity(ip: &str) -> Identity {
    Identity {
        instance_id: "i-0abc".into(),
        availability_zone: "us-east-1b".into(),
        region: "us-east-1".into(),
        private_ip: ip.parse().unwrap(),
    }
}

#[tokio::test]
async fn the_hook_needs_the_asg_tag_and_says_so() {
    let c = cloud(LifecycleState::PendingWait, Tags::default());
    let err = Hook::pending(&c, &c, &config(Some("main-launching")), &identity("127.0.91.4"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains(TAG_ASG_NAME), "{err}");
    assert!(c.completed_actions().is_empty());
}

/// A waiting instance is completed with CONTINUE once ready; after a reboot of an instance in
/// service there is nothing to complete, and ready must not fail (under `run` that would kill
/// a healthy etcd).
#[tokio::test]
async fn ready_completes_a_waiting_action_and_a_reboot_completes_nothing() {
    let ip = "127.0.91.5";
    let _etcd = start_etcd(ip.parse().unwrap());
    let tags = Tags::from_pairs([(TAG_ASG_NAME, "main-peer-4")]);
    let cfg = config(Some("main-launching"));

    let waiting = cloud(LifecycleState::PendingWait, tags.clone());
    lifecycle::ready(&waiting, &waiting, &waiting, &identity(ip), &cfg)
        .await
        .unwrap();
    assert_eq!(
        waiting.completed_actions(),
        vec![(
            "main-peer-4".into(),
            "main-launching".into(),
            "i-0abc".into(),
            LifecycleResult::Continue
        )]
    );

    let rebooted = cloud(LifecycleState::InService, tags);
    lifecycle::ready(&rebooted, &rebooted, &rebooted, &identity(ip), &cfg)
        .await
        .unwrap();
    assert!(rebooted.completed_actions().is_empty());
    assert!(
        !rebooted.calls().contains(&"CompleteLifecycleAction"),
        "{:?}",
        rebooted.calls()
    );
}

/// A first bootstrap's late member, as a real etcd lists it: two of a three-member initial
/// cluster run, the third never started. It is listed with its name from the initial cluster
/// but no client URL, and must be seen as unstarted (so its node bootstraps with the others'
/// cluster instead of removing itself as a member whose data was lost). The started ones are
/// started.
#[tokio::test]
async fn a_first_bootstraps_late_member_is_seen_as_unstarted() {
    let ips = ["127.0.92.1", "127.0.92.2", "127.0.92.3"];
    let initial = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| format!("m{i}=http://{ip}:2380"))
        .collect::<Vec<_>>()
        .join(",");
    let dir = tempfile::tempdir().unwrap();
    let _running: Vec<_> = ips[..2]
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            crate::start_member(
                ip.parse().unwrap(),
                &format!("m{i}"),
                &dir.path().join(format!("m{i}")),
                &initial,
                &[],
            )
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let members = loop {
        let listed = async {
            let mut c = etcd_client::Client::connect(["http://127.0.92.1:2379"], None)
                .await
                .ok()?;
            c.member_list().await.ok().map(|l| l.members().to_vec())
        }
        .await;
        match listed {
            Some(m) if m.len() == 3 && m.iter().filter(|m| !m.client_urls().is_empty()).count() == 2 => break m,
            _ if std::time::Instant::now() > deadline => panic!("two of three members never came up: {listed:?}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let late = members
        .iter()
        .find(|m| m.peer_urls().iter().any(|u| u.contains("127.0.92.3")))
        .unwrap();
    assert_eq!(
        late.name(),
        "m2",
        "etcd lists the late member with its initial-cluster name"
    );
    assert!(matches!(
        node_bootstrap::recovery::cluster::seen(&members, "http://127.0.92.3:2380"),
        steadfast_core::backup::MemberSeen::Unstarted { .. }
    ));
    assert!(matches!(
        node_bootstrap::recovery::cluster::seen(&members, "http://127.0.92.1:2380"),
        steadfast_core::backup::MemberSeen::Started { .. }
    ));
}

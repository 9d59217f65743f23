//! The handler over SDK-level mocks (`aws-smithy-mocks`) of Route 53 and Auto Scaling (the real
//! SDK clients, serialisation and error parsing, with canned HTTP answers) and core's in-memory
//! EC2. The Route 53 adapter's own throttling tests live with core.

use std::time::Duration;

use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
use aws_sdk_autoscaling::types::{AutoScalingGroup, Instance as AsgInstance, LifecycleState, TagDescription};
use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsOutput;
use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
use aws_sdk_route53::primitives::DateTime;
use aws_sdk_route53::types::{ChangeInfo, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use peer_dns::{Config, PeerDns};
use serde_json::json;
use steadfast_core::aws::fake::FakeCloud;
use steadfast_core::aws::sdk::{AutoScaling, Route53};
use steadfast_core::aws::{Instance, InstanceState};
use steadfast_core::retry::Retry;
use steadfast_core::vocab::eventbridge::{self, Origin};
use steadfast_core::vocab::{env, Tags, TAG_CLUSTER, TAG_PEER};

fn retry() -> Retry {
    Retry {
        deadline: Duration::from_secs(5),
        base: Duration::from_millis(1),
        cap: Duration::from_millis(10),
        max_attempts: 6,
        until: None,
    }
}

fn config() -> Config {
    Config::from_lookup(|k| match k {
        k if k == env::CLUSTER => Some("main".into()),
        k if k == env::HOSTED_ZONE_ID => Some("Z0123456789".into()),
        k if k == env::DOMAIN => Some("etcd.internal".into()),
        _ => None,
    })
    .unwrap()
}

fn route53_error(code: &str, message: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>8b2b2d8c</RequestId></ErrorResponse>"#
    )
}

fn change_ok() -> ChangeResourceRecordSetsOutput {
    ChangeResourceRecordSetsOutput::builder()
        .change_info(
            ChangeInfo::builder()
                .id("/change/C123")
                .status(ChangeStatus::Pending)
                .submitted_at(DateTime::from_secs(0))
                .build()
                .unwrap(),
        )
        .build()
}

fn group_rule() -> Rule {
    mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_output(|| {
        DescribeAutoScalingGroupsOutput::builder()
            .auto_scaling_groups(
                AutoScalingGroup::builder()
                    .auto_scaling_group_name("main-peer-0")
                    .min_size(1)
                    .max_size(1)
                    .desired_capacity(1)
                    .tags(TagDescription::builder().key(TAG_CLUSTER).value("main").build())
                    .tags(TagDescription::builder().key(TAG_PEER).value("0").build())
                    .instances(
                        AsgInstance::builder()
                            .instance_id("i-0aaa")
                            .lifecycle_state(LifecycleState::InService)
                            .availability_zone("us-east-1a")
                            .build(),
                    )
                    .build(),
            )
            .build()
    })
}

/// EC2 is not mocked at the SDK level (its crate is the heaviest to build with test-util): core's
/// in-memory cloud stands in for it, and the moto tests cover the real adapter.
fn ec2() -> FakeCloud {
    let cloud = FakeCloud::new();
    cloud.add_instance(Instance {
        instance_id: "i-0aaa".into(),
        state: InstanceState::Running,
        private_ip: Some("127.0.1.4".parse().unwrap()),
        availability_zone: Some("us-east-1a".into()),
        tags: Tags::default(),
    });
    cloud
}

fn list_rule(ip: &'static str) -> Rule {
    mock!(aws_sdk_route53::Client::list_resource_record_sets).then_output(move || {
        ListResourceRecordSetsOutput::builder()
            .resource_record_sets(
                ResourceRecordSet::builder()
                    .name("_etcd-server-ssl._tcp.main.etcd.internal.")
                    .r#type(RrType::Srv)
                    .ttl(300)
                    .resource_records(
                        ResourceRecord::builder()
                            .value("0 0 2380 peer-0.main.etcd.internal.")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .resource_record_sets(
                ResourceRecordSet::builder()
                    .name("peer-0.main.etcd.internal.")
                    .r#type(RrType::A)
                    .ttl(5)
                    .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
                    .build()
                    .unwrap(),
            )
            .is_truncated(false)
            .max_items(300)
            .build()
            .unwrap()
    })
}

fn handler(route53_rules: &[&Rule]) -> PeerDns<Route53, AutoScaling, FakeCloud> {
    let asg = mock_client!(aws_sdk_autoscaling, RuleMode::MatchAny, [&group_rule()], |c| c
        .retry_config(aws_sdk_autoscaling::config::retry::RetryConfig::disabled()));
    let r53 = mock_client!(aws_sdk_route53, RuleMode::MatchAny, route53_rules, |c| c
        .retry_config(aws_sdk_route53::config::retry::RetryConfig::disabled()));
    PeerDns::new(
        config(),
        Route53::new(r53, retry()),
        AutoScaling::new(asg, retry()),
        ec2(),
    )
}

fn schedule() -> serde_json::Value {
    eventbridge::scheduled(&Origin::default(), "sweep")
}

#[tokio::test]
async fn sweep_with_nothing_to_change_makes_no_write_call() {
    let list = list_rule("127.0.1.4");
    let change = mock!(aws_sdk_route53::Client::change_resource_record_sets).then_output(change_ok);
    let h = handler(&[&list, &change]);
    let out = h.handle(&schedule()).await.unwrap();
    assert_eq!(list.num_calls(), 1);
    assert_eq!(change.num_calls(), 0, "nothing differs, so nothing may be written");
    assert!(out.upserted.is_empty());
    assert_eq!(out.unchanged, 1);
}

#[tokio::test]
async fn sweep_with_a_stale_record_writes_one_batch_and_never_the_srv() {
    let list = list_rule("192.0.2.1");
    let change = mock!(aws_sdk_route53::Client::change_resource_record_sets)
        .match_requests(|r| {
            // Conditional: DELETE of exactly what was read, then CREATE; A records only.
            let changes = r.change_batch().map(|b| b.changes()).unwrap_or_default();
            let value = |i: usize| {
                changes[i]
                    .resource_record_set()
                    .map(|s| s.resource_records()[0].value())
            };
            changes.len() == 2
                && changes.iter().all(|c| {
                    c.resource_record_set().map(|s| s.r#type().as_str()) == Some("A")
                        && c.resource_record_set().map(|s| s.ttl()) == Some(Some(5))
                })
                && changes[0].action().as_str() == "DELETE"
                && value(0) == Some("192.0.2.1")
                && changes[1].action().as_str() == "CREATE"
                && value(1) == Some("127.0.1.4")
        })
        .then_output(change_ok);
    let h = handler(&[&list, &change]);
    let out = h.handle(&schedule()).await.unwrap();
    assert_eq!(change.num_calls(), 1);
    assert_eq!(out.upserted.len(), 1);
    assert_eq!(out.upserted[0].ip, "127.0.1.4");
    assert_eq!(out.upserted[0].instance_id, "i-0aaa");
}

#[tokio::test]
async fn malformed_event_is_non_retryable_and_calls_nothing() {
    let list = list_rule("127.0.1.4");
    let h = handler(&[&list]);
    let err = h.handle(&json!({"source": "aws.autoscaling"})).await.unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(err.error_type(), "NonRetryable.MalformedEvent");
    assert_eq!(list.num_calls(), 0);
}

#[tokio::test]
async fn access_denied_comes_back_as_a_non_retryable_lambda_error() {
    let list = list_rule("192.0.2.1");
    let denied = mock!(aws_sdk_route53::Client::change_resource_record_sets).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
            aws_smithy_types::body::SdkBody::from(route53_error(
                "AccessDenied",
                "User: arn:aws:sts::1:assumed-role/peer-dns is not authorized to perform: route53:ChangeResourceRecordSets",
            )),
        )
    });
    let h = handler(&[&list, &denied]);
    let err = h.handle(&schedule()).await.unwrap_err();
    assert_eq!(denied.num_calls(), 1, "AccessDenied must not be retried");
    assert!(!err.is_retryable());
    assert_eq!(err.error_type(), "NonRetryable.AccessDenied");
    let diag: lambda_runtime::Diagnostic = err.into();
    assert_eq!(diag.error_type, "NonRetryable.AccessDenied");
    assert!(diag.error_message.contains("not authorized"), "{}", diag.error_message);
}

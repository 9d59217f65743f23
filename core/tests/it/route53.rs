//! Route 53 adapter tests with SDK-level mocks (`aws-smithy-mocks`): the real SDK client,
//! serialisation and error parsing, with canned HTTP answers, including throttling sequences.

use std::time::{Duration, Instant};

use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsOutput;
use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
use aws_sdk_route53::primitives::DateTime;
use aws_sdk_route53::types::{ChangeInfo, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use steadfast_core::aws::sdk::Route53;
use steadfast_core::aws::Records;
use steadfast_core::records::{CurrentRecord, RecordChange};
use steadfast_core::retry::Retry;
use steadfast_core::{Cluster, ClusterName, Domain};

fn retry() -> Retry {
    Retry {
        deadline: Duration::from_secs(5),
        base: Duration::from_millis(1),
        cap: Duration::from_millis(10),
        max_attempts: 6,
        until: None,
    }
}

pub fn route53_error(code: &str, message: &str) -> String {
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

fn route53(rules: &[&Rule]) -> Route53 {
    let client = mock_client!(aws_sdk_route53, RuleMode::Sequential, rules, |c| c
        .retry_config(aws_sdk_route53::config::retry::RetryConfig::disabled()));
    Route53::new(client, retry())
}

fn one_change() -> Vec<RecordChange> {
    let c = Cluster::new(
        ClusterName::new("main").unwrap(),
        Domain::new("etcd.internal").unwrap(),
        9,
        3,
    )
    .unwrap();
    let p = c.peer(3).unwrap();
    vec![RecordChange {
        peer: p,
        name: c.peer_record_name(p),
        ip: "127.0.1.7".parse().unwrap(),
        ttl: 5,
        previous: None,
        instance_id: Some("i-0abc".into()),
    }]
}

/// A freshness bound far enough away not to matter.
fn fresh() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

#[tokio::test]
async fn throttled_twice_then_success() {
    let rule = mock!(aws_sdk_route53::Client::change_resource_record_sets)
        .match_requests(|r| {
            let changes = r.change_batch().map(|b| b.changes()).unwrap_or_default();
            changes.len() == 1
                && changes[0].resource_record_set().map(|s| s.name()) == Some("peer-3.main.etcd.internal.")
                && changes[0].action().as_str() == "CREATE"
        })
        .sequence()
        .http_status(400, Some(route53_error("Throttling", "Rate exceeded")))
        .times(2)
        .output(change_ok)
        .build();
    let dns = route53(&[&rule]);
    let id = dns
        .change_a_records("Z0123456789", &one_change(), "test", fresh())
        .await
        .unwrap();
    assert_eq!(id, "/change/C123");
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn prior_request_not_complete_is_retried() {
    let rule = mock!(aws_sdk_route53::Client::change_resource_record_sets)
        .sequence()
        .http_status(
            400,
            Some(route53_error("PriorRequestNotComplete", "The request was rejected")),
        )
        .output(change_ok)
        .build();
    let dns = route53(&[&rule]);
    dns.change_a_records("Z0123456789", &one_change(), "test", fresh())
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn throttled_past_the_deadline_gives_up_keeping_the_code() {
    let rule = mock!(aws_sdk_route53::Client::change_resource_record_sets)
        .sequence()
        .http_status(400, Some(route53_error("Throttling", "Rate exceeded")))
        .repeatedly()
        .build();
    let dns = route53(&[&rule]);
    let err = dns
        .change_a_records("Z0123456789", &one_change(), "test", fresh())
        .await
        .unwrap_err();
    assert_eq!(err.aws_code(), Some("Throttling"));
    assert!(err.to_string().contains("gave up after 6 attempts"), "{err}");
    assert_eq!(rule.num_calls(), 6);
}

#[tokio::test]
async fn access_denied_is_a_clear_non_retryable_error() {
    let rule = mock!(aws_sdk_route53::Client::change_resource_record_sets)
        .then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
                aws_smithy_types::body::SdkBody::from(route53_error(
                    "AccessDenied",
                    "User: arn:aws:sts::1:assumed-role/peer-dns is not authorized to perform: route53:ChangeResourceRecordSets",
                )),
            )
        });
    let dns = route53(&[&rule]);
    let err = dns
        .change_a_records("Z0123456789", &one_change(), "test", fresh())
        .await
        .unwrap_err();
    assert_eq!(rule.num_calls(), 1, "AccessDenied must not be retried");
    assert_eq!(err.aws_code(), Some("AccessDenied"));
    assert!(!err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.contains("ChangeResourceRecordSets") && msg.contains("AccessDenied") && msg.contains("not authorized"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_existing_record_moves_by_delete_of_what_was_read_plus_create_in_one_batch() {
    let rule = mock!(aws_sdk_route53::Client::change_resource_record_sets)
        .match_requests(|r| {
            let ch = r.change_batch().map(|b| b.changes()).unwrap_or_default();
            let set = |i: usize| ch[i].resource_record_set().unwrap();
            let values = |i: usize| -> Vec<&str> { set(i).resource_records().iter().map(|v| v.value()).collect() };
            ch.len() == 2
                && ch[0].action().as_str() == "DELETE"
                && values(0) == ["192.0.2.4"]
                && set(0).ttl() == Some(30)
                && ch[1].action().as_str() == "CREATE"
                && values(1) == ["127.0.1.7"]
                && set(1).ttl() == Some(5)
        })
        .then_output(change_ok);
    let dns = route53(&[&rule]);
    let mut changes = one_change();
    changes[0].previous = Some(CurrentRecord {
        name: changes[0].name.clone(),
        values: vec!["192.0.2.4".into()],
        ttl: Some(30),
    });
    dns.change_a_records("Z0123456789", &changes, "test", fresh())
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_batch_is_never_resent_once_it_is_no_longer_fresh() {
    let rule = mock!(aws_sdk_route53::Client::change_resource_record_sets)
        .sequence()
        .http_status(400, Some(route53_error("Throttling", "Rate exceeded")))
        .repeatedly()
        .build();
    let client = mock_client!(aws_sdk_route53, RuleMode::Sequential, [&rule], |c| c
        .retry_config(aws_sdk_route53::config::retry::RetryConfig::disabled()));
    let slow = Retry {
        deadline: Duration::from_secs(30),
        base: Duration::from_millis(20),
        cap: Duration::from_millis(20),
        max_attempts: 1000,
        until: None,
    };
    let dns = Route53::new(client, slow);
    let start = Instant::now();
    let err = dns
        .change_a_records(
            "Z0123456789",
            &one_change(),
            "test",
            Instant::now() + Duration::from_millis(150),
        )
        .await
        .unwrap_err();
    assert!(err.is_deadline(), "{err}");
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
}

#[tokio::test]
async fn the_listing_starts_at_the_cluster_domain_and_stops_where_it_ends() {
    let rule = mock!(aws_sdk_route53::Client::list_resource_record_sets)
        .match_requests(|r| r.start_record_name() == Some("main.etcd.internal."))
        .then_output(|| {
            let a = |name: &str, ip: &str| {
                ResourceRecordSet::builder()
                    .name(name)
                    .r#type(RrType::A)
                    .ttl(5)
                    .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
                    .build()
                    .unwrap()
            };
            ListResourceRecordSetsOutput::builder()
                .resource_record_sets(a("peer-0.main.etcd.internal.", "127.0.1.4"))
                .resource_record_sets(a("peer-1.main.etcd.internal.", "127.0.2.4"))
                .resource_record_sets(a("web.other.etcd.internal.", "10.0.0.1"))
                .is_truncated(true)
                .next_record_name("zz.other.etcd.internal.")
                .next_record_type(RrType::A)
                .max_items(3)
                .build()
                .unwrap()
        });
    let dns = route53(&[&rule]);
    let got = dns.list_a_records("Z0123456789", "main.etcd.internal.").await.unwrap();
    let names: Vec<&str> = got.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["peer-0.main.etcd.internal.", "peer-1.main.etcd.internal."]);
    assert_eq!(
        rule.num_calls(),
        1,
        "names past the cluster's domain are never paged through"
    );
}

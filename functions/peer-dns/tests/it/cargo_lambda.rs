//! End to end, once: the built peer-dns binary under `cargo lambda watch` (cargo-lambda's Lambda
//! runtime and invoke APIs), a launch event POSTed to its invocation URL, the record in moto.

use std::time::Duration;

use serde_json::json;
use steadfast_core::vocab::eventbridge::{self, Origin};
use steadfast_core::vocab::Transport;
use steadfast_core::{Cluster, ClusterName, Domain};
use steadfast_sandbox::region::{Region, RegionOptions};
use steadfast_sandbox::standins::lambda::{peer_dns_env, LambdaWatch};
use steadfast_sandbox::standins::moto::Moto;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_event_through_cargo_lambda_watch_updates_the_record() {
    let moto = Moto::start().expect("moto (make deps)");
    let cluster = Cluster::new(
        ClusterName::new("e2e").unwrap(),
        Domain::new("etcd.internal").unwrap(),
        3,
        3,
    )
    .unwrap();
    let region = Region::create(
        &moto.sdk_config().await,
        cluster.clone(),
        Transport::Plain,
        RegionOptions::default(),
    )
    .await
    .unwrap();
    let mut watch = LambdaWatch::start().expect("cargo lambda watch (make deps)");
    let env = peer_dns_env(&moto, &region, "info");
    let log = tempfile::NamedTempFile::new().unwrap();
    watch
        .start_function(env!("CARGO_BIN_EXE_peer-dns").as_ref(), &env, Some(log.path()))
        .unwrap();

    let p = cluster.peer(2).unwrap();
    let instance = region.live_instance(p).await.unwrap().unwrap();
    let ip = region.instance_ip(&instance).await.unwrap();
    let event = eventbridge::launch_lifecycle_action(
        &Origin::default(),
        &region.groups[2],
        &instance,
        &cluster.lifecycle_hook_name(),
    );
    let (status, body) = watch.invoke(&event, Duration::from_secs(60)).await.unwrap();
    let logs = std::fs::read_to_string(log.path()).unwrap_or_default();
    assert_eq!(status, 200, "{body}\n{logs}");
    let out: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(out["action"], "launch", "{body}");
    let mine = out["upserted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == cluster.peer_record_name(p))
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(mine["ip"], ip.to_string(), "{body}");
    assert_eq!(
        region.a_records().await.unwrap()[&cluster.peer_record_name(p)],
        vec![ip.to_string()]
    );

    // JSON logs carry cluster, peer and instance.
    let line = logs
        .lines()
        .filter(|l| l.contains("A record upserted"))
        .find(|l| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["fields"]["instance"] == instance))
        .unwrap_or_else(|| panic!("{logs}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["fields"]["peer"], 2, "{line}");
    assert_eq!(v["fields"]["instance"], instance, "{line}");
    assert!(line.contains("\"cluster\":\"e2e\""), "{line}");

    // A malformed event comes back as a non-retryable error.
    let (status, body) = watch
        .invoke(&json!({"detail-type": 7}), Duration::from_secs(30))
        .await
        .unwrap();
    assert_ne!(status, 200, "{body}");
    assert!(body.contains("NonRetryable.MalformedEvent"), "{status} {body}");
}

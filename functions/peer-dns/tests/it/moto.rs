//! Emulator tests: the handler, with the real SDK adapters, against a moto server started on
//! 127.0.0.1 and a free port, in a region set up the way Terraform does.

use std::collections::BTreeMap;
use std::time::Duration;

use peer_dns::runtime::SdkPeerDns;
use peer_dns::{Action, Config, PeerDns};
use serde_json::Value;
use steadfast_core::aws::sdk::{client_config, AutoScaling, Ec2, Route53, Timeouts};
use steadfast_core::retry::Retry;
use steadfast_core::vocab::eventbridge::{self, Origin};
use steadfast_core::vocab::Transport;
use steadfast_core::{Cluster, ClusterName, Domain};
use steadfast_sandbox::region::{Region, RegionOptions};
use steadfast_sandbox::standins::moto::Moto;

fn cluster() -> Cluster {
    Cluster::new(
        ClusterName::new("main").unwrap(),
        Domain::new("etcd.internal").unwrap(),
        9,
        3,
    )
    .unwrap()
}

async fn setup() -> (Moto, Region, SdkPeerDns) {
    let moto = Moto::start().expect("moto server (run `make deps`)");
    let conf = moto.sdk_config().await;
    let region = Region::create(&conf, cluster(), Transport::Plain, RegionOptions::default())
        .await
        .unwrap();
    let config = Config::from_lookup(|k| match k {
        "STEADFAST_CLUSTER" => Some("main".into()),
        "STEADFAST_HOSTED_ZONE_ID" => Some(region.zone_id.clone()),
        "STEADFAST_DOMAIN" => Some("etcd.internal".into()),
        _ => None,
    })
    .unwrap();
    let clients = client_config(&conf, Timeouts::default());
    let retry = Retry::with_deadline(Duration::from_secs(10));
    let handler = PeerDns::new(
        config,
        Route53::new(clients.route53, retry),
        AutoScaling::new(clients.autoscaling, retry),
        Ec2::new(clients.ec2, retry),
    );
    (moto, region, handler)
}

/// The launch lifecycle action (`lifecycle = true`) or the launch-successful event.
fn launch_event(lifecycle: bool, region: &Region, group: &str, instance: &str) -> Value {
    if lifecycle {
        eventbridge::launch_lifecycle_action(
            &Origin::default(),
            group,
            instance,
            &region.cluster.lifecycle_hook_name(),
        )
    } else {
        eventbridge::launch_successful(&Origin::default(), group, instance)
    }
}

fn schedule() -> Value {
    eventbridge::scheduled(&Origin::default(), "sweep")
}

/// peer record name -> the IP of that peer's live instance.
async fn expected(region: &Region) -> BTreeMap<String, Vec<String>> {
    let mut want = BTreeMap::new();
    for p in region.cluster.peers() {
        let id = region.live_instance(p).await.unwrap().expect("live instance");
        want.insert(
            region.cluster.peer_record_name(p),
            vec![region.instance_ip(&id).await.unwrap().to_string()],
        );
    }
    want
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nine_simultaneous_launches_then_sweep_then_replacement() {
    let (_moto, region, h) = setup().await;
    let c = region.cluster.clone();
    let before = region.all_records().await.unwrap();
    for p in c.peers() {
        assert_eq!(
            before[&(c.peer_record_name(p), "A".into())],
            vec![region.placeholder(p).to_string()]
        );
    }

    // Nine launches at the same moment.
    let mut events = Vec::new();
    for p in c.peers() {
        let id = region
            .live_instance(p)
            .await
            .unwrap()
            .expect("moto launched the ASG's instance");
        events.push(launch_event(true, &region, &region.groups[p.get() as usize], &id));
    }
    let outcomes = futures::future::join_all(events.iter().map(|e| h.handle(e))).await;
    for o in &outcomes {
        let o = o.as_ref().unwrap();
        assert_eq!(o.action, Action::Launch);
        assert_eq!(o.upserted.len(), 1, "{o:?}");
    }
    let want = expected(&region).await;
    assert_eq!(region.a_records().await.unwrap(), want);
    for (name, ips) in &want {
        assert!(ips[0].starts_with("127.0."), "{name} -> {ips:?}");
    }

    // The sweep finds nothing to change.
    let sweep = h.handle(&schedule()).await.unwrap();
    assert_eq!(sweep.action, Action::Sweep);
    assert!(sweep.upserted.is_empty(), "{sweep:?}");
    assert_eq!(sweep.unchanged, 9);

    // SRV records are untouched by all of it.
    let after = region.all_records().await.unwrap();
    let srv = |m: &std::collections::BTreeMap<(String, String), Vec<String>>| -> Vec<_> {
        m.iter()
            .filter(|((_, ty), _)| ty == "SRV")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(srv(&after), srv(&before));
    assert_eq!(srv(&before).len(), 2, "server and client SRV records");

    // Terminate peer 4's instance: moto replaces it; the sweep moves the record.
    let p4 = c.peer(4).unwrap();
    let old = region.live_instance(p4).await.unwrap().unwrap();
    let old_ip = region.instance_ip(&old).await.unwrap();
    region.terminate(&old).await.unwrap();
    let new = region
        .wait_live_instance(p4, Some(&old), Duration::from_secs(20))
        .await
        .unwrap();
    let new_ip = region.instance_ip(&new).await.unwrap();
    assert_ne!(old_ip, new_ip);
    let sweep = h.handle(&schedule()).await.unwrap();
    assert_eq!(sweep.upserted.len(), 1, "{sweep:?}");
    assert_eq!(sweep.upserted[0].instance_id, new);
    assert_eq!(
        region.a_records().await.unwrap()[&c.peer_record_name(p4)],
        vec![new_ip.to_string()]
    );

    // A late event for the dead instance does not move the record back.
    let stale = h
        .handle(&launch_event(false, &region, &region.groups[4], &old))
        .await
        .unwrap();
    assert!(stale.upserted.is_empty(), "{stale:?}");
    assert_eq!(region.a_records().await.unwrap(), expected(&region).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacement_followed_by_its_launch_event() {
    let (_moto, region, h) = setup().await;
    let p = region.cluster.peer(1).unwrap();
    let old = region.live_instance(p).await.unwrap().unwrap();
    h.handle(&launch_event(false, &region, &region.groups[1], &old))
        .await
        .unwrap();
    region.terminate(&old).await.unwrap();
    let new = region
        .wait_live_instance(p, Some(&old), Duration::from_secs(20))
        .await
        .unwrap();
    let out = h
        .handle(&launch_event(true, &region, &region.groups[1], &new))
        .await
        .unwrap();
    assert_eq!(out.upserted.len(), 1);
    let ip = region.instance_ip(&new).await.unwrap();
    assert_eq!(
        region.a_records().await.unwrap()[&region.cluster.peer_record_name(p)],
        vec![ip.to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_groups_change_nothing() {
    let (_moto, region, h) = setup().await;
    region
        .create_foreign_group("other-peer-0", Some("other"))
        .await
        .unwrap();
    region.create_foreign_group("web", None).await.unwrap();
    let before = region.all_records().await.unwrap();
    for group in ["other-peer-0", "web"] {
        let out = region
            .clients
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(group)
            .send()
            .await
            .unwrap();
        let id = out.auto_scaling_groups()[0].instances()[0]
            .instance_id()
            .unwrap()
            .to_string();
        let o = h.handle(&launch_event(false, &region, group, &id)).await.unwrap();
        assert_eq!(o.action, Action::Ignored, "{o:?}");
        assert!(
            o.ignored
                .as_deref()
                .unwrap_or_default()
                .contains("not tagged for cluster main"),
            "{o:?}"
        );
    }
    // A sweep does not pick them up either (records of our peers do change: they were placeholders).
    let sweep = h.handle(&schedule()).await.unwrap();
    assert_eq!(sweep.upserted.len(), 9);
    let after = region.all_records().await.unwrap();
    let names_before: Vec<_> = before.keys().collect();
    let names_after: Vec<_> = after.keys().collect();
    assert_eq!(names_before, names_after, "no record was added for a foreign group");
    // An event for a group that does not exist is ignored too.
    let o = h.handle(&launch_event(false, &region, "nope", "i-0123")).await.unwrap();
    assert_eq!(o.action, Action::Ignored);
}

//! Emulator tests: the handler, with the real SDK adapters, against a moto server started on
//! 127.0.0.1 and a free port, in a region set up the way Terraform does.

use std::collections::BTreeMap;
use std::time::Duration;

use peer_dns::runtime::SdkPeerDns;
use peer_dns::{Action, Config, Outcome, PeerDns};
use serde_json::Value;
use steadfast_core::aws::sdk::Cloud;
use steadfast_core::aws::{Groups, Instances, LifecycleResult, Records};
use steadfast_core::records::{CurrentRecord, RecordChange};
use steadfast_core::retry::Retry;
use steadfast_core::vocab::eventbridge::{self, Origin};
use steadfast_core::vocab::{env, Transport};
use steadfast_core::{Cluster, ClusterName, Domain, PeerIndex};
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
        k if k == env::CLUSTER => Some("main".into()),
        k if k == env::HOSTED_ZONE_ID => Some(region.zone_id.clone()),
        k if k == env::DOMAIN => Some("etcd.internal".into()),
        k if k == env::PLACEHOLDER_NETWORK => Some(region.placeholders.to_string()),
        _ => None,
    })
    .unwrap();
    let cloud = Cloud::from_conf(&conf, Retry::with_deadline(Duration::from_secs(10)));
    let handler = PeerDns::new(config, cloud.records, cloud.groups, cloud.ec2);
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

/// peer record name -> the IP of that peer's live instance; and the client endpoint's record,
/// which peer-dns never touches, as the region made it.
async fn expected(region: &Region) -> BTreeMap<String, Vec<String>> {
    let mut want = BTreeMap::new();
    want.insert(
        format!("{}.", region.cluster.client_endpoint()),
        vec![steadfast_sandbox::config::CLIENT_LB_ADDR.to_string()],
    );
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

    // Nine launches at the same moment. Each gathers the whole cluster and plans every record;
    // their batches race, Route 53 takes one and refuses the stale rest, which gather again and
    // find nothing left to write. Every name is written exactly once.
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
    let mut written = Vec::new();
    for o in &outcomes {
        let o = o.as_ref().unwrap();
        assert_eq!(o.action, Action::Launch);
        written.extend(o.upserted.iter().map(|u| u.name.clone()));
    }
    written.sort();
    let mut all: Vec<String> = c.peers().map(|p| c.peer_record_name(p)).collect();
    all.sort();
    assert_eq!(written, all, "each name written once: {outcomes:?}");
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
    let srv = |m: &std::collections::BTreeMap<(String, aws_sdk_route53::types::RrType), Vec<String>>| -> Vec<_> {
        m.iter()
            .filter(|((_, ty), _)| *ty == aws_sdk_route53::types::RrType::Srv)
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

/// Every AWS call the launcher counted since the last reset, summed.
async fn calls(moto: &Moto) -> (u64, Value) {
    let c = moto.admin("calls", None).await.unwrap();
    (c.as_object().unwrap().values().filter_map(Value::as_u64).sum(), c)
}

/// An instance id EC2 cannot show yet (or at all) is left out, never a failed call: one new
/// instance must not fail a whole sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_instances_leaves_out_ids_ec2_cannot_see() {
    let (_moto, region, h) = setup().await;
    let real = region
        .live_instance(region.cluster.peer(0).unwrap())
        .await
        .unwrap()
        .unwrap();
    let found = h
        .instances
        .describe_instances(&["i-0123456789abcdef0".to_string(), real.clone()])
        .await
        .unwrap();
    let ids: Vec<&str> = found.iter().map(|i| i.instance_id.as_str()).collect();
    assert_eq!(ids, vec![real.as_str()]);
}

/// EC2 gives peer 1's new instance the address peer 4's stale record still holds while peer 4
/// has no instance: in the same batch, peer 4's record goes back to its placeholder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_address_moves_the_stale_record_to_its_placeholder() {
    let (moto, region, h) = setup().await;
    let c = region.cluster.clone();
    let (p1, p4) = (c.peer(1).unwrap(), c.peer(4).unwrap());
    // Peer 4 loses its instance and gets none back for a while.
    moto.admin("config", Some(&serde_json::json!({"replacement_delay_secs": 600})))
        .await
        .unwrap();
    let old4 = region.live_instance(p4).await.unwrap().unwrap();
    region.terminate(&old4).await.unwrap();
    let one = region.live_instance(p1).await.unwrap().unwrap();
    let ip1 = region.instance_ip(&one).await.unwrap().to_string();
    // Peer 4's record still holds an address; EC2 hands that address to peer 1's instance.
    let (out, n, counted, records) = reuse_then_launch(&moto, &region, &h, (p4, &ip1), (p1, &one)).await;
    assert_eq!(records[&c.peer_record_name(p1)], vec![ip1.clone()]);
    assert_eq!(
        records[&c.peer_record_name(p4)],
        vec![region.placeholder(p4).to_string()],
        "{out:?}"
    );
    assert!(
        out.upserted
            .iter()
            .any(|u| u.placeholder && u.name == c.peer_record_name(p4)),
        "{out:?}"
    );
    assert_eq!(counted["route53:ChangeResourceRecordSets"], 1, "one batch: {counted}");
    // Peer 4 has no live instance, so the launch's own view was enough: no second describe.
    assert_eq!(counted["ec2:DescribeInstances"], 1, "{counted}");
    assert!(n <= 4, "a launch made {n} calls: {counted}");
}

/// The same reuse, but peer 4's record is stale while peer 4 does have a live instance (its
/// own launch event was lost): the launch plans again from the whole cluster and points peer
/// 4's name at its instance, not at the placeholder, in the same batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_address_whose_old_peer_is_alive_points_that_peer_home() {
    let (moto, region, h) = setup().await;
    let c = region.cluster.clone();
    let (p1, p4) = (c.peer(1).unwrap(), c.peer(4).unwrap());
    let one = region.live_instance(p1).await.unwrap().unwrap();
    let ip1 = region.instance_ip(&one).await.unwrap().to_string();
    let four = region.live_instance(p4).await.unwrap().unwrap();
    let ip4 = region.instance_ip(&four).await.unwrap().to_string();
    let (out, _, counted, records) = reuse_then_launch(&moto, &region, &h, (p4, &ip1), (p1, &one)).await;
    assert_eq!(records[&c.peer_record_name(p1)], vec![ip1]);
    assert_eq!(records[&c.peer_record_name(p4)], vec![ip4], "{out:?}");
    assert!(out.upserted.iter().all(|u| !u.placeholder), "{out:?}");
    assert_eq!(counted["route53:ChangeResourceRecordSets"], 1, "one batch: {counted}");
    assert_eq!(
        counted["ec2:DescribeInstances"], 2,
        "the launch's own instances, then the whole cluster: {counted}"
    );
}

/// Points `stale`'s record at `ip` (what an earlier write left), then handles the launch event
/// of `launch`'s instance, counting its calls: the outcome, the calls (total and by name) and
/// the records after.
async fn reuse_then_launch(
    moto: &Moto,
    region: &Region,
    h: &SdkPeerDns,
    stale: (PeerIndex, &str),
    launch: (PeerIndex, &str),
) -> (Outcome, u64, Value, BTreeMap<String, Vec<String>>) {
    set_record(region, &region.cluster.peer_record_name(stale.0), stale.1).await;
    moto.admin("calls/reset", Some(&serde_json::json!({}))).await.unwrap();
    let group = &region.groups[launch.0.get() as usize];
    let out = h.handle(&launch_event(true, region, group, launch.1)).await.unwrap();
    let (n, counted) = calls(moto).await;
    (out, n, counted, region.a_records().await.unwrap())
}

/// UPSERTs a record directly (what an earlier, now stale, write left).
async fn set_record(region: &Region, name: &str, ip: &str) {
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
    let rr = ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::A)
        .ttl(5)
        .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
        .build()
        .unwrap();
    region
        .clients
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(&region.zone_id)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(rr)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Holds the first write back until the test lets it go: the slow invocation of an
/// interleaving.
struct Gate<R> {
    inner: R,
    paused: tokio::sync::Notify,
    release: tokio::sync::Semaphore,
    first: std::sync::atomic::AtomicBool,
}

impl<R: Records> Records for Gate<R> {
    async fn list_a_records(&self, zone_id: &str, domain: &str) -> steadfast_core::Result<Vec<CurrentRecord>> {
        self.inner.list_a_records(zone_id, domain).await
    }

    async fn change_a_records(
        &self,
        zone_id: &str,
        changes: &[RecordChange],
        comment: &str,
        _fresh_until: std::time::Instant,
    ) -> steadfast_core::Result<String> {
        if self.first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.paused.notify_one();
            let _ = self.release.acquire().await;
        }
        // The hold stands for a slow network, not a stale plan: the freshness bound is the
        // test's to move out of the way here, so that Route 53's own check is what is tested.
        let later = std::time::Instant::now() + Duration::from_secs(30);
        self.inner.change_a_records(zone_id, changes, comment, later).await
    }
}

/// Two invocations interleave: A plans from the old instance, then stalls; meanwhile the
/// instance is replaced and B points the name at the new one. A's late batch must not move the
/// record back: Route 53 refuses it (the record is not what A read), A gathers again, and finds
/// nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_invocation_never_moves_a_record_backwards() {
    let (moto, region, h) = setup().await;
    let c = region.cluster.clone();
    let p2 = c.peer(2).unwrap();
    let old = region.live_instance(p2).await.unwrap().unwrap();
    let conf = moto.sdk_config().await;
    let cloud = Cloud::from_conf(&conf, Retry::with_deadline(Duration::from_secs(10)));
    let slow = std::sync::Arc::new(PeerDns::new(
        h.config.clone(),
        Gate {
            inner: cloud.records,
            paused: tokio::sync::Notify::new(),
            release: tokio::sync::Semaphore::new(0),
            first: std::sync::atomic::AtomicBool::new(true),
        },
        cloud.groups,
        cloud.ec2,
    ));
    let a = {
        let (slow, ev) = (slow.clone(), launch_event(true, &region, &region.groups[2], &old));
        tokio::spawn(async move { slow.handle(&ev).await })
    };
    slow.records.paused.notified().await;
    // A holds a batch that would write the old address. Meanwhile the instance is replaced.
    region.terminate(&old).await.unwrap();
    let new = region
        .wait_live_instance(p2, Some(&old), Duration::from_secs(20))
        .await
        .unwrap();
    let new_ip = region.instance_ip(&new).await.unwrap().to_string();
    h.handle(&launch_event(true, &region, &region.groups[2], &new))
        .await
        .unwrap();
    assert_eq!(
        region.a_records().await.unwrap()[&c.peer_record_name(p2)],
        vec![new_ip.clone()]
    );
    // A goes on.
    slow.records.release.add_permits(1);
    let out_a = a.await.unwrap().unwrap();
    assert!(
        out_a.upserted.is_empty(),
        "A re-planned and found nothing to write: {out_a:?}"
    );
    assert_eq!(
        region.a_records().await.unwrap()[&c.peer_record_name(p2)],
        vec![new_ip],
        "never moved backwards"
    );
}

/// A launch makes at most 4 API calls and a sweep of nine groups at most 5, however much else
/// the zone holds: the listing starts at the cluster's domain and stops where it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_and_sweep_stay_within_their_api_budget_in_a_shared_zone() {
    let (moto, region, h) = setup().await;
    // A company zone: 400 other names, some sorting right next to the cluster's.
    for i in 0..400 {
        let name = match i % 4 {
            0 => format!("svc-{i}.etcd.internal."),
            1 => format!("peer-{i}.other.etcd.internal."),
            2 => format!("main-{i}.etcd.internal."),
            _ => format!("z{i}.etcd.internal."),
        };
        set_record(&region, &name, "10.9.9.9").await;
    }
    let c = region.cluster.clone();
    h.handle(&schedule()).await.unwrap();
    // A replacement's launch event: one record to move.
    let p3 = c.peer(3).unwrap();
    let old = region.live_instance(p3).await.unwrap().unwrap();
    region.terminate(&old).await.unwrap();
    let new = region
        .wait_live_instance(p3, Some(&old), Duration::from_secs(20))
        .await
        .unwrap();
    moto.admin("calls/reset", Some(&serde_json::json!({}))).await.unwrap();
    let out = h
        .handle(&launch_event(true, &region, &region.groups[3], &new))
        .await
        .unwrap();
    assert_eq!(out.upserted.len(), 1, "{out:?}");
    let (n, counted) = calls(&moto).await;
    assert!(n <= 4, "a launch made {n} calls: {counted}");
    assert_eq!(counted["ec2:DescribeInstances"], 1, "{counted}");
    // A sweep after another replacement.
    let p5 = c.peer(5).unwrap();
    let old = region.live_instance(p5).await.unwrap().unwrap();
    region.terminate(&old).await.unwrap();
    region
        .wait_live_instance(p5, Some(&old), Duration::from_secs(20))
        .await
        .unwrap();
    moto.admin("calls/reset", Some(&serde_json::json!({}))).await.unwrap();
    let out = h.handle(&schedule()).await.unwrap();
    assert_eq!(out.upserted.len(), 1, "{out:?}");
    let (n, counted) = calls(&moto).await;
    assert!(n <= 5, "a sweep made {n} calls: {counted}");
}

/// A second group that claims a peer whose name an in-service instance holds never takes it:
/// the conflict is reported, the name stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_group_claiming_a_served_peer_never_takes_its_name() {
    let (_moto, region, h) = setup().await;
    let c = region.cluster.clone();
    let p0 = c.peer(0).unwrap();
    let serving = region.live_instance(p0).await.unwrap().unwrap();
    region
        .cloud
        .groups
        .complete_lifecycle_action(
            &region.groups[0],
            &c.lifecycle_hook_name(),
            &serving,
            LifecycleResult::Continue,
        )
        .await
        .unwrap();
    let serving_ip = region.instance_ip(&serving).await.unwrap().to_string();
    h.handle(&schedule()).await.unwrap();
    region
        .create_extra_group("main-peer-0-copy", Some(("main", "0")), true)
        .await
        .unwrap();
    let copy = region
        .clients
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("main-peer-0-copy")
        .send()
        .await
        .unwrap();
    let intruder = copy.auto_scaling_groups()[0].instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    let out = h
        .handle(&launch_event(true, &region, "main-peer-0-copy", &intruder))
        .await
        .unwrap();
    assert!(out.upserted.is_empty(), "{out:?}");
    assert!(
        out.skipped
            .iter()
            .any(|s| s.starts_with("peer-0: main-peer-0-copy:") && s.contains("never takes the name")),
        "{out:?}"
    );
    assert_eq!(
        region.a_records().await.unwrap()[&c.peer_record_name(p0)],
        vec![serving_ip]
    );
}

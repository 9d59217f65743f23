//! The failure review's node-side fixes, against moto with the lifecycle-hook stand-in (the
//! moto launcher holds each new instance in `Pending:Wait` until its action is completed, a
//! heartbeat arrives, or the timeout applies the default result), loop devices and the real
//! binary. Root only: skips loudly without it (fails under CI).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use steadfast_core::aws::{Groups, LifecycleResult};
use steadfast_core::vocab::{env, metrics, TAG_INITIALIZED};
use steadfast_core::{Cluster, PeerIndex};
use steadfast_sandbox::harness::{Node, Stage};
use steadfast_sandbox::privileges::skip_unless_block_devices;
use steadfast_sandbox::region::{zone_name, RegionOptions};

use crate::{cluster, NB};

async fn stage(hook_secs: i32, default: LifecycleResult) -> Stage {
    let opts = RegionOptions {
        hook_timeout_secs: hook_secs,
        hook_default_result: default,
        ..RegionOptions::default()
    };
    Stage::with_region(Path::new(NB), cluster(), opts)
        .await
        .expect("stage: moto and the region (make deps)")
}

/// The node's settings for a run under the hook.
fn hooked(stage: &Stage, hook_secs: u64, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v = vec![
        (
            env::LIFECYCLE_HOOK.to_string(),
            stage.region.cluster.lifecycle_hook_name(),
        ),
        (env::HOOK_TIMEOUT_SECS.to_string(), hook_secs.to_string()),
    ];
    v.extend(extra.iter().map(|(k, val)| (k.to_string(), val.to_string())));
    v
}

/// The instance's lifecycle state in its group, as the hook stand-in reports it.
async fn lifecycle_state(stage: &Stage, peer: u32) -> Vec<(String, String)> {
    let groups = stage
        .region
        .cloud
        .groups
        .describe_groups(&[stage.region.groups[peer as usize].clone()])
        .await
        .unwrap();
    groups
        .iter()
        .flat_map(|g| g.instances.iter())
        .map(|i| (i.instance_id.clone(), i.lifecycle_state.to_string()))
        .collect()
}

async fn calls(stage: &Stage, name: &str) -> u64 {
    let c = stage.moto.admin("calls", None).await.unwrap();
    c[name].as_u64().unwrap_or(0)
}

fn ec2_tags(c: &Cluster, p: PeerIndex) -> Vec<aws_sdk_ec2::types::Tag> {
    c.peer_tags(p)
        .iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// An instance of `peer` outside its group (an old instance that held the volume).
async fn old_instance(stage: &Stage, peer: PeerIndex) -> String {
    // From the peers' launch template: listing moto's images takes seconds, and the new
    // instance's 3 s hold must not run out while the test sets the scene.
    let run = stage
        .region
        .clients
        .ec2
        .run_instances()
        .launch_template(
            aws_sdk_ec2::types::LaunchTemplateSpecification::builder()
                .launch_template_name(&stage.region.launch_template)
                .build(),
        )
        .min_count(1)
        .max_count(1)
        .subnet_id(&stage.region.subnets[stage.region.cluster.zone_of(peer) as usize])
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                .set_tags(Some(ec2_tags(&stage.region.cluster, peer)))
                .build(),
        )
        .send()
        .await
        .unwrap();
    run.instances()[0].instance_id().unwrap().to_string()
}

/// Boots `node` on a thread (so the test can change the world while it runs).
fn boot_in_background(
    stage: &Stage,
    node: &Node,
    env: Vec<(String, String)>,
) -> std::thread::JoinHandle<(bool, String)> {
    let mut cmd = {
        let mut spec = node.spec.clone();
        for (k, v) in &env {
            spec.set(k, v.clone());
        }
        spec.command(&format!("{} prepare", stage.nb.display()))
    };
    std::thread::spawn(move || match cmd.output() {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    })
}

/// A region whose peer 1 has a new instance while its volume is still attached to the old one,
/// which is terminated and stays shutting down for `secs`: the stage, the new instance and its
/// node.
async fn held_by_a_holder_shutting_down(secs: u64) -> (Stage, String, Node) {
    let st = stage(3, LifecycleResult::Abandon).await;
    let p1 = st.region.cluster.peer(1).unwrap();
    let new = st.region.live_instance(p1).await.unwrap().unwrap();
    let old = old_instance(&st, p1).await;
    st.region
        .clients
        .ec2
        .attach_volume()
        .volume_id(&st.region.volumes[1])
        .instance_id(&old)
        .device("/dev/sdf")
        .send()
        .await
        .unwrap();
    st.moto
        .admin("config", Some(&json!({"shutting_down_secs": secs})))
        .await
        .unwrap();
    st.region
        .clients
        .ec2
        .terminate_instances()
        .instance_ids(&old)
        .send()
        .await
        .unwrap();
    let node = st.node(&new, &zone_name(1), Some(p1)).await.unwrap();
    (st, new, node)
}

/// A holder that is shutting down lets go of the volume only after twice the attach deadline.
/// The node waits for it (retrying past the attach deadline, a heartbeat keeping its launch
/// alive: the hook's default here is ABANDON after 3 s) and never yanks the disk from the clean
/// shutdown. Waiting within the holder's shutdown grace is no stall, though it outlasts the
/// stall bound (2 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_lets_go_late_is_waited_for_with_heartbeats_and_never_yanked() {
    if skip_unless_block_devices("a_holder_that_lets_go_late_is_waited_for_with_heartbeats_and_never_yanked") {
        return;
    }
    let (st, new, node) = held_by_a_holder_shutting_down(6).await;
    let env = hooked(
        &st,
        3,
        &[
            (env::ATTACH_TIMEOUT_SECS, "3"),
            (env::DETACH_GRACE_SECS, "1"),
            (env::PREPARE_DEADLINE_SECS, "40"),
        ],
    );
    let (ok, log) = boot_in_background(&st, &node, env).join().unwrap();
    assert!(ok, "prepare must outlast the holder:\n{log}");
    assert!(log.contains("transient failure; trying again"), "{log}");
    assert!(log.contains("wait-for-detach"), "{log}");
    assert!(
        !log.contains("force-detach"),
        "a clean shutdown must not be yanked:\n{log}"
    );
    assert!(
        calls(&st, "autoscaling:RecordLifecycleActionHeartbeat").await >= 1,
        "{log}"
    );
    assert_eq!(
        lifecycle_state(&st, 1).await,
        vec![(new.clone(), "Pending:Wait".to_string())],
        "kept alive by heartbeats, not abandoned"
    );
    assert_eq!(st.attachment(1).await.unwrap().map(|a| a.0), Some(new));
}

/// A holder stuck shutting down past its grace is force-detached, though each of prepare's
/// attempts (3 s) is shorter than the grace (5 s): the grace is counted from the first sighting,
/// not restarted by every attempt (it was, and a stuck host was then never forced).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_stuck_shutting_down_is_forced_once_its_grace_runs_out_across_attempts() {
    if skip_unless_block_devices("a_holder_stuck_shutting_down_is_forced_once_its_grace_runs_out_across_attempts") {
        return;
    }
    let (st, new, node) = held_by_a_holder_shutting_down(120).await;
    let env = hooked(
        &st,
        3,
        &[
            (env::ATTACH_TIMEOUT_SECS, "3"),
            (env::SHUTDOWN_GRACE_SECS, "5"),
            (env::PREPARE_DEADLINE_SECS, "40"),
        ],
    );
    let t0 = Instant::now();
    let (ok, log) = boot_in_background(&st, &node, env).join().unwrap();
    assert!(ok, "prepare must force the stuck holder once its grace is over:\n{log}");
    assert!(
        log.contains("transient failure; trying again"),
        "several attempts: {log}"
    );
    assert!(log.contains("force-detach"), "{log}");
    assert!(
        t0.elapsed() >= Duration::from_secs(5),
        "not before the grace: {:?}",
        t0.elapsed()
    );
    assert_eq!(st.attachment(1).await.unwrap().map(|a| a.0), Some(new));
}

/// DNS that converges after twice the DNS deadline: the node keeps trying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_that_converges_late_is_waited_for() {
    if skip_unless_block_devices("dns_that_converges_late_is_waited_for") {
        return;
    }
    let st = stage(3, LifecycleResult::Abandon).await;
    let c = st.region.cluster.clone();
    let p2 = c.peer(2).unwrap();
    let id = st.region.live_instance(p2).await.unwrap().unwrap();
    // Its own name still points at the placeholder.
    let node = st.node(&id, &zone_name(2), None).await.unwrap();
    let env = hooked(
        &st,
        3,
        // A name that converges late is an open-ended wait: the stall bound (two thirds of
        // the hook's 3 s by default) is raised past it, as an operator whose DNS is slow would.
        &[
            (env::DNS_TIMEOUT_SECS, "2"),
            (env::PREPARE_DEADLINE_SECS, "40"),
            (env::STALL_SECS, "20"),
        ],
    );
    let t0 = Instant::now();
    let booting = boot_in_background(&st, &node, env);
    tokio::time::sleep(Duration::from_secs(5)).await;
    // The record converges: rewritten in place (the node's /etc/hosts is a bind mount of it).
    let text = std::fs::read_to_string(&node.hosts).unwrap().replace(
        &format!("{} {}", st.region.placeholder(p2), c.peer_host(p2)),
        &format!("{} {}", node.id.private_ip, c.peer_host(p2)),
    );
    std::fs::write(&node.hosts, text).unwrap();
    let (ok, log) = booting.join().unwrap();
    assert!(ok, "prepare must wait for DNS:\n{log}");
    assert!(t0.elapsed() >= Duration::from_secs(5));
    assert!(log.contains("transient failure; trying again"), "{log}");
    assert!(
        calls(&st, "autoscaling:RecordLifecycleActionHeartbeat").await >= 1,
        "{log}"
    );
    assert_eq!(lifecycle_state(&st, 2).await, vec![(id, "Pending:Wait".to_string())]);
}

/// Data loss detected is a refusal a new instance would only repeat: no retry, no ABANDON, no
/// heartbeat; the metric is raised; the hook times out once (CONTINUE, as the module) and the
/// instance stays, in service, with no replacement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_keeps_the_instance_raises_the_metric_and_never_churns() {
    if skip_unless_block_devices("a_refusal_keeps_the_instance_raises_the_metric_and_never_churns") {
        return;
    }
    let st = stage(6, LifecycleResult::Continue).await;
    st.region
        .clients
        .ec2
        .create_tags()
        .resources(&st.region.volumes[0])
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key(TAG_INITIALIZED)
                .value("peer-0")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let node = st.peer_node(0).await.unwrap();
    let t0 = Instant::now();
    let (ok, log) = st.boot(&node, "true", &hooked(&st, 6, &[]));
    assert!(!ok && log.contains("DATA LOSS DETECTED"), "{log}");
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "a refusal is not retried: {:?}",
        t0.elapsed()
    );
    assert!(log.contains("\"refused\":true"), "{log}");
    assert!(!log.contains("trying again"), "{log}");
    assert_eq!(
        calls(&st, "autoscaling:CompleteLifecycleAction").await,
        0,
        "never ABANDONed"
    );
    assert_eq!(calls(&st, "autoscaling:RecordLifecycleActionHeartbeat").await, 0);

    let cw = aws_sdk_cloudwatch::Client::new(&st.moto.sdk_config().await);
    let listed = cw
        .list_metrics()
        .namespace(steadfast_core::vocab::metric_namespace("main"))
        .metric_name(metrics::BOOTSTRAP_REFUSED)
        .send()
        .await
        .unwrap();
    let dims: Vec<(String, String)> = listed
        .metrics()
        .iter()
        .flat_map(|m| m.dimensions())
        .map(|d| {
            (
                d.name().unwrap_or_default().into(),
                d.value().unwrap_or_default().into(),
            )
        })
        .collect();
    assert_eq!(dims, vec![(metrics::DIMENSION_CLUSTER.to_string(), "main".to_string())]);

    // The hook times out once: the instance goes in service, and stays.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        lifecycle_state(&st, 0).await,
        vec![(node.id.instance_id.clone(), "InService".to_string())],
        "kept, not replaced"
    );
}

/// Files on the volume keep the uid of the instance that wrote them; a replacement whose etcd
/// user has another uid re-owns the whole tree, or etcd could not open `member/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_whose_etcd_user_has_another_uid_re_owns_the_data() {
    if skip_unless_block_devices("a_replacement_whose_etcd_user_has_another_uid_re_owns_the_data") {
        return;
    }
    let st = stage(300, LifecycleResult::Continue).await;
    let c = st.region.cluster.clone();
    let p0 = c.peer(0).unwrap();
    let a = st.peer_node(0).await.unwrap();
    let first = [(env::ETCD_USER.to_string(), "nobody".to_string())];
    let (ok, log) = st.boot(
        &a,
        "mkdir -p $DATA/member/wal && echo x > $DATA/member/wal/0.wal && chown -R nobody $DATA/member && stat -c owner=%U $DATA/member/wal/0.wal",
        &first,
    );
    assert!(ok && log.contains("owner=nobody"), "{log}");
    st.region.terminate(&a.id.instance_id).await.unwrap();
    let next = st
        .region
        .wait_live_instance(p0, Some(&a.id.instance_id), Duration::from_secs(20))
        .await
        .unwrap();
    let b = st.node(&next, &zone_name(0), Some(p0)).await.unwrap();
    let second = [(env::ETCD_USER.to_string(), "daemon".to_string())];
    let (ok, log) = st.boot(
        &b,
        "stat -c owner=%U $DATA/member/wal/0.wal $DATA/member $DATA",
        &second,
    );
    assert!(ok, "{log}");
    assert!(log.contains("re-owning it"), "{log}");
    assert_eq!(log.matches("owner=daemon").count(), 3, "the whole tree:\n{log}");
    assert!(!log.contains("owner=nobody"), "{log}");
}

/// The size of a filesystem image in blocks.
fn fs_blocks(img: &Path) -> u64 {
    let out = Command::new("dumpe2fs").arg("-h").arg(img).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Block count:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// An enlarged volume is grown online after mounting where the capability exists; without it
/// only when offline growth is explicitly allowed, and otherwise left as it is, loudly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enlarged_volume_grows_only_the_way_this_machine_allows() {
    if skip_unless_block_devices("an_enlarged_volume_grows_only_the_way_this_machine_allows") {
        return;
    }
    let st = stage(300, LifecycleResult::Continue).await;
    let a = st.peer_node(0).await.unwrap();
    let (ok, log) = st.boot(&a, "echo kept > $DATA/marker", &[]);
    assert!(ok, "{log}");
    let before = fs_blocks(&st.image(0));
    std::fs::OpenOptions::new()
        .write(true)
        .open(st.image(0))
        .unwrap()
        .set_len(96 * 1024 * 1024)
        .unwrap();
    // The attached device sees its new size, as a Nitro instance sees a modified EBS volume.
    let loop_dev = st.hv.lock().unwrap().presented[&st.region.volumes[0]]
        .loop_device
        .clone();
    let out = Command::new("losetup").args(["-c", &loop_dev]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let online = node_bootstrap::volume::tools::can_grow_online();
    let (ok, log) = st.boot(&a, "cat $DATA/marker", &[]);
    assert!(ok && log.contains("kept"), "{log}");
    if online {
        assert!(log.contains("filesystem grown online"), "{log}");
        assert!(fs_blocks(&st.image(0)) > before);
        return;
    }
    assert!(log.contains("cannot grow its filesystem"), "{log}");
    assert_eq!(
        fs_blocks(&st.image(0)),
        before,
        "nothing touched without the capability"
    );
    let allow = [(env::GROW_OFFLINE.to_string(), "true".to_string())];
    let (ok, log) = st.boot(&a, "cat $DATA/marker", &allow);
    assert!(ok && log.contains("kept"), "{log}");
    assert!(
        log.contains("filesystem grown to the enlarged volume (offline, as allowed)"),
        "{log}"
    );
    assert!(fs_blocks(&st.image(0)) > before);
}

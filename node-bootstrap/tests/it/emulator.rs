//! node-bootstrap `prepare` against a real moto server, an IMDSv2 stand-in per instance, and
//! real loop devices + mkfs.ext4 + mount. Each boot runs the real binary in its own mount
//! namespace (`unshare -m`) whose /etc/hosts names the peers, as the sandbox's nodes do.
//! Needs root and loop devices: skips loudly without them (fails under CI).
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use steadfast_core::vocab::{env, TAG_INITIALIZED};

use steadfast_sandbox::harness::Stage;
use steadfast_sandbox::privileges::skip_unless_block_devices;
use steadfast_sandbox::region::zone_name;

use crate::{cluster, NB};

async fn setup() -> Stage {
    Stage::new(Path::new(NB), cluster())
        .await
        .expect("stage: moto and the region (make deps)")
}

fn sha(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn blkid(path: &Path) -> String {
    let out = Command::new("blkid")
        .args(["-p", "-o", "export"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn assert_ok(ok: bool, log: &str) {
    assert!(ok, "node-bootstrap failed:\n{log}");
}

fn assert_refused(ok: bool, log: &str, want: &str) {
    assert!(!ok, "node-bootstrap should have refused ({want}):\n{log}");
    assert!(log.contains(want), "expected {want:?} in:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_boot_formats_reboot_is_idempotent_replacement_finds_the_data() {
    if skip_unless_block_devices("first_boot_formats_reboot_is_idempotent_replacement_finds_the_data") {
        return;
    }
    let env = setup().await;
    let c = env.region.cluster.clone();
    let p0 = c.peer(0).unwrap();

    // First boot: blank, never-initialized volume -> formatted, tagged, mounted; a reboot on the
    // same instance (prepare again) is idempotent; then some data is written.
    let a = env.peer_node(0).await.unwrap();
    let (ok, log) = env.boot(&a, "true", &[]);
    assert_ok(ok, &log);
    let (ok, log) = env.boot(
        &a,
        &format!("{NB} prepare; grep -q \" $DATA \" /proc/self/mountinfo; echo precious > $DATA/marker; sync"),
        &[],
    );
    assert_ok(ok, &log);
    assert!(
        log.contains("already mounted") && log.contains("\"step\":\"filesystem\""),
        "{log}"
    );
    let tags = env.volume_tags(0).await.unwrap();
    assert!(
        tags.iter().any(|(k, v)| k == TAG_INITIALIZED && v == "peer-0"),
        "{tags:?}"
    );
    let probe = blkid(&env.image(0));
    assert!(
        probe.contains("TYPE=ext4") && probe.contains("LABEL=steadfast-0"),
        "{probe}"
    );
    let envtext = std::fs::read_to_string(&a.env_file).unwrap();
    assert!(
        envtext.contains("ETCD_NAME=peer-0") && envtext.contains("ETCD_INITIAL_CLUSTER_STATE=new"),
        "{envtext}"
    );
    assert!(
        envtext.contains(&format!("ETCD_LISTEN_PEER_URLS=http://{}:2380", a.id.private_ip)),
        "{envtext}"
    );
    assert!(log.contains("formatted: false") || tags.iter().any(|(k, _)| k == TAG_INITIALIZED));

    // The instance dies; the ASG launches a replacement (moto detaches the dead instance's
    // volume itself). Meanwhile the volume was enlarged from 64 to 96 MiB: the replacement must
    // grow the filesystem, and hand the data dir to the etcd user.
    env.region.terminate(&a.id.instance_id).await.unwrap();
    let fs_blocks = |img: &Path| -> u64 {
        let out = Command::new("dumpe2fs").arg("-h").arg(img).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        text.lines()
            .find_map(|l| l.strip_prefix("Block count:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    let blocks_before = fs_blocks(&env.image(0));
    std::fs::OpenOptions::new()
        .write(true)
        .open(env.image(0))
        .unwrap()
        .set_len(96 * 1024 * 1024)
        .unwrap();
    let new_id = env
        .region
        .wait_live_instance(p0, Some(&a.id.instance_id), Duration::from_secs(20))
        .await
        .unwrap();
    let b = env.node(&new_id, &zone_name(0), Some(p0)).await.unwrap();
    let (ok, log) = env.boot(
        &b,
        "cat $DATA/marker; mkdir -p $DATA/member/wal; echo owner=$(stat -c %U:%a $DATA)",
        &[
            (env::ETCD_USER.into(), "nobody".into()),
            // No CAP_SYS_RESOURCE on some test machines: growth offline, explicitly allowed.
            (env::GROW_OFFLINE.into(), "true".into()),
        ],
    );
    assert_ok(ok, &log);
    assert!(log.contains("precious"), "the replacement must find the data:\n{log}");
    assert!(
        log.contains("owner=nobody:700"),
        "data dir owned by the etcd user, mode 0700:\n{log}"
    );
    assert!(
        log.contains("filesystem grown"),
        "the enlarged volume must be grown:\n{log}"
    );
    let blocks_after = fs_blocks(&env.image(0));
    assert!(
        blocks_after > blocks_before,
        "filesystem grew: {blocks_before} -> {blocks_after} blocks"
    );
    assert!(
        log.contains("formatted: false") && !log.contains("formatted: true"),
        "a volume with data must never be formatted:\n{log}"
    );
    assert_eq!(env.attachment(0).await.unwrap().map(|a| a.0), Some(new_id.clone()));
    let probe = blkid(&env.image(0));
    assert!(probe.contains("LABEL=steadfast-0"), "{probe}");

    // Booting it again now sees an existing member: state "existing".
    let (ok, log) = env.boot(&b, "true", &[]);
    assert_ok(ok, &log);
    let envtext = std::fs::read_to_string(&b.env_file).unwrap();
    assert!(envtext.contains("ETCD_INITIAL_CLUSTER_STATE=existing"), "{envtext}");
}

/// moto detaches a terminated instance's volumes at once, so the "volume left on a dead
/// instance" case is staged with a stopped holder (also dead for fencing): the new node must
/// wait out the grace period, then force-detach. The planner's table covers terminated and
/// shutting-down holders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_left_on_a_dead_instance_is_force_detached_after_the_grace_period() {
    if skip_unless_block_devices("volume_left_on_a_dead_instance_is_force_detached_after_the_grace_period") {
        return;
    }
    let env = setup().await;
    let c = env.region.cluster.clone();
    let p1 = c.peer(1).unwrap();
    let old = env.region.live_instance(p1).await.unwrap().unwrap();
    // The old instance held the volume, then lost power (stopped, volume still attached).
    env.region
        .clients
        .ec2
        .attach_volume()
        .volume_id(&env.region.volumes[1])
        .instance_id(&old)
        .device("/dev/sdf")
        .send()
        .await
        .unwrap();
    env.region
        .clients
        .ec2
        .stop_instances()
        .instance_ids(&old)
        .force(true)
        .send()
        .await
        .unwrap();
    assert_eq!(env.attachment(1).await.unwrap().map(|a| a.0), Some(old.clone()));
    // Its replacement: a new instance of peer 1 in zone 1.
    let image = env.region.clients.ec2.describe_images().send().await.unwrap().images()[0]
        .image_id()
        .unwrap()
        .to_string();
    let run = env
        .region
        .clients
        .ec2
        .run_instances()
        .image_id(image)
        .min_count(1)
        .max_count(1)
        .subnet_id(&env.region.subnets[1])
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                .set_tags(Some(
                    c.peer_tags(p1).iter().map(|(k, v)| aws_sdk_ec2_tag(k, v)).collect(),
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let new_id = run.instances()[0].instance_id().unwrap().to_string();
    let b = env.node(&new_id, &zone_name(1), Some(p1)).await.unwrap();
    let started = std::time::Instant::now();
    let (ok, log) = env.boot(&b, "true", &[]);
    assert_ok(ok, &log);
    assert!(log.contains("wait-for-detach"), "must wait before forcing:\n{log}");
    assert!(log.contains("force-detach"), "{log}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the 1 s grace period must be waited out"
    );
    assert_eq!(env.attachment(1).await.unwrap().map(|a| a.0), Some(new_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_leave_the_volume_untouched() {
    if skip_unless_block_devices("refusals_leave_the_volume_untouched") {
        return;
    }
    let env = setup().await;
    let c = env.region.cluster.clone();

    // 1. Blank but tagged initialized: data loss, never formatted.
    env.region
        .clients
        .ec2
        .create_tags()
        .resources(&env.region.volumes[0])
        .tags(aws_sdk_ec2_tag(TAG_INITIALIZED, "peer-0"))
        .send()
        .await
        .unwrap();
    let before = sha(&env.image(0));
    let n0 = env.peer_node(0).await.unwrap();
    let (ok, log) = env.boot(&n0, "true", &[]);
    assert_refused(ok, &log, "DATA LOSS DETECTED");
    assert_eq!(sha(&env.image(0)), before, "the volume must be left untouched");
    assert!(blkid(&env.image(0)).is_empty());
    assert!(!n0.env_file.exists(), "no etcd environment may be written");

    // 2. A foreign filesystem: ext4 with somebody else's label.
    let img1 = env.image(1);
    let st = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "payroll"])
        .arg(&img1)
        .status()
        .unwrap();
    assert!(st.success());
    let before = sha(&img1);
    let n1 = env.peer_node(1).await.unwrap();
    let (ok, log) = env.boot(&n1, "true", &[]);
    assert_refused(ok, &log, "ext4 labelled \\\"payroll\\\"");
    assert_eq!(sha(&img1), before);
    assert!(!n1.env_file.exists());

    // 3. Attached to a running instance: refused, attachment unchanged.
    env.region.create_foreign_group("web", None).await.unwrap();
    let web = env
        .region
        .clients
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("web")
        .send()
        .await
        .unwrap();
    let web_id = web.auto_scaling_groups()[0].instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    env.region
        .clients
        .ec2
        .attach_volume()
        .volume_id(&env.region.volumes[2])
        .instance_id(&web_id)
        .device("/dev/sdg")
        .send()
        .await
        .unwrap();
    let before = sha(&env.image(2));
    let n2 = env.peer_node(2).await.unwrap();
    let (ok, log) = env.boot(&n2, "true", &[]);
    assert_refused(ok, &log, &format!("attached to {web_id}, which is running"));
    assert_eq!(env.attachment(2).await.unwrap().map(|a| a.0), Some(web_id.clone()));
    assert_eq!(sha(&env.image(2)), before);

    // 4. Missing tags: an instance that is no steadfast peer.
    let nweb = env.node(&web_id, &zone_name(0), None).await.unwrap();
    let (ok, log) = env.boot(&nweb, "true", &[]);
    assert_refused(ok, &log, "has no steadfast:cluster tag");

    // 5. A volume in the wrong zone: peer 0's only volume now lives in zone b.
    let wrong = env
        .region
        .clients
        .ec2
        .create_volume()
        .availability_zone(zone_name(1))
        .size(1)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Volume)
                .set_tags(Some(
                    c.peer_tags(c.peer(0).unwrap())
                        .iter()
                        .map(|(k, v)| aws_sdk_ec2_tag(k, v))
                        .collect(),
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let wrong_id = wrong.volume_id().unwrap().to_string();
    // Peer 0's own volume loses its tags, so the wrong-zone one is the only candidate.
    env.region
        .clients
        .ec2
        .delete_tags()
        .resources(&env.region.volumes[0])
        .set_tags(Some(
            c.peer_tags(c.peer(0).unwrap())
                .iter()
                .map(|(k, v)| aws_sdk_ec2_tag(k, v))
                .collect(),
        ))
        .send()
        .await
        .unwrap();
    let (ok, log) = env.boot(&n0, "true", &[]);
    assert_refused(
        ok,
        &log,
        &format!("volume {wrong_id} is in us-east-1b but this instance is in us-east-1a"),
    );
    let out = env
        .region
        .clients
        .ec2
        .describe_volumes()
        .volume_ids(&wrong_id)
        .send()
        .await
        .unwrap();
    assert!(
        out.volumes()[0].attachments().is_empty(),
        "the wrong-zone volume must not be attached"
    );
}

fn aws_sdk_ec2_tag(k: &str, v: &str) -> aws_sdk_ec2::types::Tag {
    aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()
}

/// A volume with data blkid cannot name (no signature, not zeros) and no initialized tag, e.g.
/// a restored snapshot of something else: never taken for blank, never formatted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrecognized_data_is_never_formatted() {
    if skip_unless_block_devices("unrecognized_data_is_never_formatted") {
        return;
    }
    let env = setup().await;
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(env.image(0)).unwrap();
        f.seek(SeekFrom::Start(64 * 1024)).unwrap();
        f.write_all(&[0xab; 4096]).unwrap();
    }
    assert!(
        blkid(&env.image(0)).is_empty(),
        "blkid must see no signature for this test to mean anything"
    );
    let before = sha(&env.image(0));
    let n0 = env.peer_node(0).await.unwrap();
    let (ok, log) = env.boot(&n0, "true", &[]);
    assert_refused(ok, &log, "data without a recognizable signature");
    assert_eq!(sha(&env.image(0)), before, "the volume must be left untouched");
    assert!(!n0.env_file.exists());
}

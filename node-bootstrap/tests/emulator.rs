//! node-bootstrap `prepare` against a real moto server, an IMDSv2 stand-in per instance, and
//! real loop devices + mkfs.ext4 + mount. Each boot runs the real binary in its own mount
//! namespace (`unshare -m`) whose /etc/hosts names the peers, as the sandbox's nodes do.
//! Needs root and loop devices: skips loudly without them (fails under CI).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast_core::vocab::{Transport, TAG_INITIALIZED};
use steadfast_core::{Cluster, ClusterName, Domain, PeerIndex};
use steadfast_sandbox::hypervisor::{create_image, Hypervisor};
use steadfast_sandbox::imds::{Imds, InstanceIdentity};
use steadfast_sandbox::moto::{Moto, REGION};
use steadfast_sandbox::privileges::skip_unless_block_devices;
use steadfast_sandbox::region::{placeholder_ip, zone_name, Region, RegionOptions};
use tokio::task::JoinHandle;

const NB: &str = env!("CARGO_BIN_EXE_node-bootstrap");

struct Env {
    moto: Moto,
    region: Region,
    dir: tempfile::TempDir,
    hv: Arc<Mutex<Hypervisor>>,
    sync: JoinHandle<()>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.sync.abort();
        if let Ok(mut hv) = self.hv.lock() {
            hv.withdraw_all();
        }
    }
}

struct Node {
    id: InstanceIdentity,
    imds: Imds,
    root: PathBuf,
    data: PathBuf,
    hosts: PathBuf,
    env_file: PathBuf,
}

fn cluster() -> Cluster {
    Cluster::new(
        ClusterName::new("main").unwrap(),
        Domain::new("etcd.internal").unwrap(),
        3,
        3,
    )
    .unwrap()
}

async fn attached_pairs(region: &Region) -> Vec<(String, String)> {
    let Ok(out) = region.clients.ec2.describe_volumes().send().await else {
        return vec![];
    };
    out.volumes()
        .iter()
        .flat_map(|v| {
            v.attachments()
                .iter()
                .filter(|a| a.state().map(|s| s.as_str()) == Some("attached"))
                .filter_map(|a| Some((v.volume_id()?.to_string(), a.instance_id()?.to_string())))
        })
        .collect()
}

async fn setup() -> Env {
    let moto = Moto::start().expect("moto (make deps)");
    let conf = moto.sdk_config().await;
    let region = Region::create(&conf, cluster(), Transport::Plain, RegionOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hv = Arc::new(Mutex::new(Hypervisor::default()));
    for v in &region.volumes {
        let img = dir.path().join(format!("{v}.img"));
        create_image(&img, 64).unwrap();
        hv.lock().unwrap().images.insert(v.clone(), img);
    }
    let (hv2, r2) = (hv.clone(), region.clone());
    let sync = tokio::spawn(async move {
        loop {
            let pairs = attached_pairs(&r2).await;
            if let Ok(mut h) = hv2.lock() {
                if let Err(e) = h.sync(&pairs) {
                    eprintln!("hypervisor: {e}");
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    Env {
        moto,
        region,
        dir,
        hv,
        sync,
    }
}

impl Env {
    fn image(&self, peer: u32) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}.img", self.region.volumes[peer as usize]))
    }

    /// A node for `instance_id` (which must exist in moto) serving `peer`'s address in DNS.
    async fn node(&self, instance_id: &str, az: &str, dns_peer: Option<PeerIndex>) -> Node {
        let ip = self.region.instance_ip(instance_id).await.unwrap();
        let id = InstanceIdentity {
            instance_id: instance_id.into(),
            availability_zone: az.into(),
            region: REGION.into(),
            private_ip: ip,
        };
        let imds = Imds::start(id.clone()).await.unwrap();
        let root = self.dir.path().join(instance_id);
        std::fs::create_dir_all(root.join("dev")).unwrap();
        std::fs::create_dir_all(root.join("sys/block")).unwrap();
        let data = root.join("data");
        let hosts = root.join("hosts");
        let c = &self.region.cluster;
        let mut text = String::from("127.0.0.1 localhost\n");
        for p in c.peers() {
            let addr = if Some(p) == dns_peer { ip } else { placeholder_ip(p) };
            text.push_str(&format!("{addr} {}\n", c.peer_host(p)));
        }
        std::fs::write(&hosts, text).unwrap();
        self.hv.lock().unwrap().roots.insert(instance_id.into(), root.clone());
        let env_file = root.join("etcd.env");
        Node {
            id,
            imds,
            root,
            data,
            hosts,
            env_file,
        }
    }

    async fn peer_node(&self, peer: u32) -> Node {
        let p = self.region.cluster.peer(peer).unwrap();
        let id = self.region.live_instance(p).await.unwrap().unwrap();
        self.node(&id, &zone_name(self.region.cluster.zone_of(p)), Some(p))
            .await
    }

    /// Boots `node`: `node-bootstrap prepare` in a private mount namespace, then `after` (a
    /// shell snippet run in the same namespace, with $DATA set) if prepare succeeded.
    fn boot(&self, node: &Node, after: &str) -> (bool, String) {
        let script = format!(
            "set -e; mount --bind {hosts} /etc/hosts; {nb} prepare; {after}",
            hosts = node.hosts.display(),
            nb = NB
        );
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
        for (k, v) in self.moto.env() {
            if k != "AWS_EC2_METADATA_DISABLED" {
                cmd.env(k, v);
            }
        }
        cmd.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", node.imds.endpoint())
            .env("STEADFAST_DOMAIN", "etcd.internal")
            .env("STEADFAST_PEER_COUNT", "3")
            .env("STEADFAST_DATA_DIR", &node.data)
            .env("STEADFAST_ETCD_ENV_FILE", &node.env_file)
            .env("STEADFAST_DEV_ROOT", &node.root)
            .env("STEADFAST_DETACH_GRACE_SECS", "1")
            .env("STEADFAST_ATTACH_TIMEOUT_SECS", "30")
            .env("STEADFAST_DEVICE_TIMEOUT_SECS", "10")
            .env("STEADFAST_DNS_TIMEOUT_SECS", "5")
            .env("DATA", &node.data)
            .env("RUST_LOG", "info");
        let out = cmd.output().expect("unshare");
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), log)
    }

    async fn volume_tags(&self, peer: u32) -> Vec<(String, String)> {
        let out = self
            .region
            .clients
            .ec2
            .describe_volumes()
            .volume_ids(&self.region.volumes[peer as usize])
            .send()
            .await
            .unwrap();
        out.volumes()[0]
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    async fn attachment(&self, peer: u32) -> Option<(String, String)> {
        let out = self
            .region
            .clients
            .ec2
            .describe_volumes()
            .volume_ids(&self.region.volumes[peer as usize])
            .send()
            .await
            .unwrap();
        out.volumes()[0]
            .attachments()
            .iter()
            .find(|a| a.state().map(|s| s.as_str()) != Some("detached"))
            .map(|a| {
                (
                    a.instance_id().unwrap_or_default().to_string(),
                    a.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
                )
            })
    }
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
    let a = env.peer_node(0).await;
    let (ok, log) = env.boot(&a, "true");
    assert_ok(ok, &log);
    let (ok, log) = env.boot(
        &a,
        &format!("{NB} prepare; grep -q \" $DATA \" /proc/self/mountinfo; echo precious > $DATA/marker; sync"),
    );
    assert_ok(ok, &log);
    assert!(
        log.contains("already mounted") || log.contains("\"step\":\"checked\""),
        "{log}"
    );
    let tags = env.volume_tags(0).await;
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
    assert!(log.contains("\"step\":\"formatted\"") || tags.iter().any(|(k, _)| k == TAG_INITIALIZED));

    // The instance dies; the ASG launches a replacement. moto leaves the volume attached to the
    // terminated instance, so the new node must wait out the grace period and force-detach it.
    env.region.terminate(&a.id.instance_id).await.unwrap();
    let new_id = env
        .region
        .wait_live_instance(p0, Some(&a.id.instance_id), Duration::from_secs(20))
        .await
        .unwrap();
    let b = env.node(&new_id, &zone_name(0), Some(p0)).await;
    let (ok, log) = env.boot(&b, "cat $DATA/marker; mkdir -p $DATA/member/wal");
    assert_ok(ok, &log);
    assert!(log.contains("precious"), "the replacement must find the data:\n{log}");
    assert!(
        !log.contains("\"step\":\"formatted\""),
        "a volume with data must never be formatted:\n{log}"
    );
    assert_eq!(env.attachment(0).await.map(|a| a.0), Some(new_id.clone()));
    let probe = blkid(&env.image(0));
    assert!(probe.contains("LABEL=steadfast-0"), "{probe}");

    // Booting it again now sees an existing member: state "existing".
    let (ok, log) = env.boot(&b, "true");
    assert_ok(ok, &log);
    let envtext = std::fs::read_to_string(&b.env_file).unwrap();
    assert!(envtext.contains("ETCD_INITIAL_CLUSTER_STATE=existing"), "{envtext}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_on_a_terminated_instance_is_force_detached_after_the_grace_period() {
    if skip_unless_block_devices("volume_on_a_terminated_instance_is_force_detached_after_the_grace_period") {
        return;
    }
    let env = setup().await;
    let p1 = env.region.cluster.peer(1).unwrap();
    let old = env.region.live_instance(p1).await.unwrap().unwrap();
    // The old instance held the volume, then died.
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
    env.region.terminate(&old).await.unwrap();
    let new_id = env
        .region
        .wait_live_instance(p1, Some(&old), Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(
        env.attachment(1).await.map(|a| a.0),
        Some(old.clone()),
        "moto keeps the stale attachment"
    );
    let b = env.node(&new_id, &zone_name(1), Some(p1)).await;
    let (ok, log) = env.boot(&b, "true");
    assert_ok(ok, &log);
    assert!(log.contains("wait-for-detach"), "must wait before forcing:\n{log}");
    assert!(log.contains("force-detach"), "{log}");
    assert_eq!(env.attachment(1).await.map(|a| a.0), Some(new_id));
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
    let n0 = env.peer_node(0).await;
    let (ok, log) = env.boot(&n0, "true");
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
    let n1 = env.peer_node(1).await;
    let (ok, log) = env.boot(&n1, "true");
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
    let n2 = env.peer_node(2).await;
    let (ok, log) = env.boot(&n2, "true");
    assert_refused(ok, &log, &format!("attached to {web_id}, which is running"));
    assert_eq!(env.attachment(2).await.map(|a| a.0), Some(web_id.clone()));
    assert_eq!(sha(&env.image(2)), before);

    // 4. Missing tags: an instance that is no steadfast peer.
    let nweb = env.node(&web_id, &zone_name(0), None).await;
    let (ok, log) = env.boot(&nweb, "true");
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
                        .into_iter()
                        .map(|(k, v)| aws_sdk_ec2_tag(&k, &v))
                        .collect(),
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let wrong_id = wrong.volume_id().unwrap().to_string();
    env.region
        .clients
        .ec2
        .delete_volume()
        .volume_id(&env.region.volumes[0])
        .send()
        .await
        .unwrap();
    let (ok, log) = env.boot(&n0, "true");
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

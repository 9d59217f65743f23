//! `node-bootstrap backup` as the timer runs it: the real binary, against a real etcd 3.5.16
//! under write load, moto's S3 (a bucket encrypted with a moto KMS key), an IMDSv2 stand-in and
//! the instance the region's group launched. What it stores must be verified, restorable, and
//! hold every write acknowledged before its revision; its memory must not grow with the
//! database.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_client::{Client, GetOptions};
use serde_json::Value;
use sha2::{Digest, Sha256};
use steadfast_core::aws::sdk::{Cloud, S3};
use steadfast_core::aws::Objects;
use steadfast_core::backup::{Manifest, SnapshotKeys};
use steadfast_core::retry::Retry;
use steadfast_core::vocab::{env, metrics};
use steadfast_sandbox::harness::Stage;
use steadfast_sandbox::node::{Names, NodeEnv, NodeSpec};
use steadfast_sandbox::paths;
use steadfast_sandbox::standins::imds::{Imds, InstanceIdentity};

use crate::{cluster, start_etcd_on, Etcd, NB};

/// The region, an etcd serving as `peer`'s member on its instance's address, and the node's
/// environment for `node-bootstrap backup`.
///
/// Each test gets a region of its own in its own moto, and moto hands the same addresses out in
/// every region (a zone's first instance is `127.0.<zone+1>.4`): tests that run side by side
/// must take peers of different zones, or their etcds would share one address (the second
/// would not bind, and both tests would write into the first).
struct Bench {
    stage: Stage,
    ip: Ipv4Addr,
    spec: NodeSpec,
    _imds: Imds,
    _etcd: Etcd,
    _dir: tempfile::TempDir,
}

async fn setup(peer: u32) -> Bench {
    let stage = Stage::new(Path::new(NB), cluster()).await.unwrap();
    let c = &stage.region.cluster;
    let p = c.peer(peer).unwrap();
    let instance = stage
        .region
        .wait_live_instance(p, None, Duration::from_secs(10))
        .await
        .unwrap();
    let ip = stage.region.instance_ip(&instance).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut etcd = start_etcd_on(ip, &c.member_name(p), &dir.path().join("etcd"), &[]);
    let imds = Imds::start(InstanceIdentity {
        instance_id: instance.clone(),
        availability_zone: steadfast_sandbox::region::zone_name(c.zone_of(p)),
        region: "us-east-1".into(),
        private_ip: ip,
    })
    .await
    .unwrap();
    let root = dir.path().join("node");
    let mut spec = NodeSpec::new(
        &root,
        Names::Hosts(root.join("hosts")),
        NodeEnv::new()
            .cloud(&stage.moto.env())
            .region(&stage.region)
            .node(c, &root, &imds.endpoint()),
    );
    spec.set(env::SCRATCH_DIR, dir.path().join("scratch").to_string_lossy());
    let mut client = connect(ip).await;
    wait_until_serving(&mut client).await;
    // Serving, and it is ours: an etcd that could not bind (the address taken) has exited.
    assert!(
        matches!(etcd.0.try_wait(), Ok(None)),
        "the etcd for {} on {ip} exited: is another test's etcd on that address?",
        c.member_name(p)
    );
    Bench {
        stage,
        ip,
        spec,
        _imds: imds,
        _etcd: etcd,
        _dir: dir,
    }
}

async fn connect(ip: Ipv4Addr) -> Client {
    Client::connect([format!("http://{ip}:2379")], None).await.unwrap()
}

async fn wait_until_serving(c: &mut Client) {
    for _ in 0..100 {
        if c.get("x", None).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("etcd did not serve");
}

impl Bench {
    async fn s3(&self) -> S3 {
        let b = self.stage.region.backups.clone().unwrap();
        let conf = self.stage.moto.sdk_config().await;
        Cloud::from_conf(&conf, Retry::with_deadline(Duration::from_secs(30))).bucket(b.bucket, Some(b.kms_key))
    }

    /// Runs `node-bootstrap backup [args]`; (success, its report, its log, its peak RSS in KiB).
    async fn backup(&self, args: &[&str]) -> (bool, Value, String, u64) {
        let child = tokio::process::Command::new(NB)
            .arg("backup")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // VmHWM is the high-water mark: sampled until the process exits, the last reading is its
        // peak (short of the last few ms).
        let pid = child.id().unwrap();
        let peak = Arc::new(Mutex::new(0u64));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, done) = (peak.clone(), done.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    if let Ok(st) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                        if let Some(kb) = st
                            .lines()
                            .find_map(|l| l.strip_prefix("VmHWM:"))
                            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                        {
                            let mut p = peak.lock().unwrap();
                            *p = (*p).max(kb);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        let out = child.wait_with_output().await.unwrap();
        done.store(true, Ordering::Relaxed);
        sampler.await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let log = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        let report = stdout
            .lines()
            .last()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or(Value::Null);
        let peak = *peak.lock().unwrap();
        (out.status.success(), report, log, peak)
    }
}

/// Writes unique keys until stopped; every acknowledged one with the revision it got.
fn write_load(ip: Ipv4Addr, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<BTreeMap<String, i64>> {
    tokio::spawn(async move {
        let mut c = connect(ip).await;
        let mut acked = BTreeMap::new();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let key = format!("load/{n:08}");
            if let Ok(r) = c.put(key.as_str(), vec![b'x'; 512], None).await {
                acked.insert(key, r.header().map(|h| h.revision()).unwrap_or_default());
            }
        }
        acked
    })
}

/// `etcdutl snapshot restore` of `snapshot` into `dir` as a one-member cluster on `ip`.
fn restore_into(snapshot: &Path, dir: &Path, ip: Ipv4Addr) {
    let etcdutl = paths::etcd_bin_dir().unwrap().join("etcdutl");
    let out = std::process::Command::new(etcdutl)
        .args(["snapshot", "restore"])
        .arg(snapshot)
        .args(["--name", "scratch", "--initial-cluster"])
        .arg(format!("scratch=http://{ip}:2380"))
        .arg("--initial-advertise-peer-urls")
        .arg(format!("http://{ip}:2380"))
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_is_verified_and_restores_every_acknowledged_write() {
    let b = setup(0).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = write_load(b.ip, stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (ok, report, log, _) = b.backup(&["--now"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let acked = load.await.unwrap();
    assert!(ok, "backup --now:\n{log}");
    let m: Manifest = serde_json::from_value(report["taken"].clone()).unwrap_or_else(|e| panic!("{e}: {report}"));

    // Verified: its manifest is in the bucket, and the object reads back with its sha256.
    let s3 = b.s3().await;
    let stored = Manifest::from_json("manifest", &s3.get(&SnapshotKeys::manifest(&m.key)).await.unwrap()).unwrap();
    assert_eq!(stored, m);
    let body = s3.get(&m.key).await.unwrap();
    assert_eq!(format!("{:x}", Sha256::digest(&body)), m.sha256);
    assert_eq!(body.len() as u64, m.size);
    assert!(m.status.total_key > 0 && m.revision > 0, "{m:?}");
    assert_eq!(m.cluster, "main");
    assert_eq!(m.member, "peer-0");

    // Restored in a scratch directory, it holds every write acknowledged at or before its
    // revision; writes went on during the backup, so some came after it.
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("snap.db");
    std::fs::write(&file, &body).unwrap();
    let restored_ip: Ipv4Addr = "127.0.92.1".parse().unwrap();
    restore_into(&file, &scratch.path().join("data"), restored_ip);
    let _restored = start_etcd_on(restored_ip, "scratch", &scratch.path().join("data"), &[]);
    let mut r = connect(restored_ip).await;
    wait_until_serving(&mut r).await;
    let got = r
        .get("load/", Some(GetOptions::new().with_prefix().with_keys_only()))
        .await
        .unwrap();
    let have: std::collections::BTreeSet<String> = got
        .kvs()
        .iter()
        .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
        .collect();
    let before: Vec<&String> = acked
        .iter()
        .filter(|(_, rev)| **rev <= m.revision)
        .map(|(k, _)| k)
        .collect();
    let after = acked.len() - before.len();
    assert!(
        !before.is_empty() && after > 0,
        "{} before, {after} after the snapshot's revision {}",
        before.len(),
        m.revision
    );
    let missing: Vec<&&String> = before.iter().filter(|k| !have.contains(k.as_str())).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes missing from the snapshot, first {:?}",
        missing.len(),
        missing.first()
    );

    // The metrics the alarm reads were published.
    let conf = b.stage.moto.sdk_config().await;
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    let listed = cw
        .list_metrics()
        .namespace(b.stage.region.cluster.metric_namespace())
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = listed.metrics().iter().filter_map(|m| m.metric_name()).collect();
    for want in [
        metrics::BACKUP_NEWEST_AGE,
        metrics::BACKUP_SIZE,
        metrics::BACKUP_DURATION,
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }

    // The timer's own run right after: the leader finds one younger than half an interval.
    let (ok, report, log, _) = b.backup(&[]).await;
    assert!(ok, "{log}");
    assert!(report["taken"].is_null(), "{report}");
    assert!(
        report["skipped"].as_str().is_some_and(|s| s.contains("was taken")),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_s_memory_is_flat_as_the_database_grows() {
    // Peer 1 (zone 1): its address is not the other backup test's.
    let b = setup(1).await;
    let mut c = connect(b.ip).await;
    let value = vec![7u8; 1 << 20];
    let mut peaks = Vec::new();
    let mut written = 0;
    for target_mib in [50, 500] {
        while written < target_mib {
            c.put(format!("big/{written:05}"), value.clone(), None).await.unwrap();
            written += 1;
        }
        let (ok, report, log, peak_kib) = b.backup(&["--now"]).await;
        assert!(ok, "{log}");
        let size = report["taken"]["size"].as_u64().unwrap_or_default();
        assert!(
            size >= target_mib << 20,
            "the snapshot is {size} bytes for a {target_mib} MiB database"
        );
        peaks.push((target_mib, size, peak_kib));
    }
    let (small, large) = (peaks[0].2 as f64, peaks[1].2 as f64);
    eprintln!("peak RSS of node-bootstrap backup: {peaks:?} (MiB of data, snapshot bytes, KiB)");
    assert!(small > 0.0 && large > 0.0, "{peaks:?}");
    assert!(
        (large - small).abs() / small <= 0.10,
        "peak RSS must stay within 10 % as the database grows tenfold: {peaks:?}"
    );
}

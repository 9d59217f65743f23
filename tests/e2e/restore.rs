//! `steadfast restore`'s refusals, with the real binary against moto (EC2 volumes, the S3
//! bucket): each names what is wrong, and none changes anything (no plan, no request, no
//! instance touched). The restore itself, through the nodes, is the chaos scenario
//! `restore-snapshot` (in the CI subset, `chaos.rs`).

use std::process::Command;

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use steadfast_core::aws::sdk::Cloud;
use steadfast_core::aws::Objects;
use steadfast_core::backup::{
    Hashing, Manifest, RestoreRequest, SnapshotKeys, SnapshotStatus, MANIFEST_FORMAT, RESTORE_REQUEST_FORMAT,
};
use steadfast_core::retry::Retry;
use steadfast_core::vocab::{env, ClusterName, TAG_CLUSTER, TAG_JOINED, TAG_PEER};
use steadfast_sandbox::paths::built_bin;
use steadfast_sandbox::standins::moto::Moto;
use tokio::io::AsyncWriteExt;

const BUCKET: &str = "restore-refusals";

async fn sha256(body: &[u8]) -> String {
    let mut h = Hashing::new(tokio::io::sink());
    h.write_all(body).await.unwrap();
    h.finish().0
}

fn manifest(key: &str, sha256: String) -> Manifest {
    Manifest {
        format: MANIFEST_FORMAT,
        key: key.into(),
        cluster: "rt".into(),
        cluster_id: "12bcb86a7b1339c".into(),
        member: "peer-0".into(),
        member_id: "b193a35188cf3960".into(),
        etcd_version: "3.5.16".into(),
        revision: 42,
        size: 5,
        sha256,
        taken_at: 1_800_000_000,
        upload_ms: 1,
        verify_ms: 1,
        verified_at: 1_800_000_001,
        status: SnapshotStatus {
            hash: 1,
            revision: 42,
            total_key: 1,
            total_size: 5,
            version: "3.5.0".into(),
        },
    }
}

/// `steadfast --cluster <cluster> restore <args>` (3 peers in 3 zones); (success, stderr).
fn restore(moto: &Moto, cluster: &str, args: &[&str]) -> (bool, String) {
    let bin = built_bin("steadfast").expect("the steadfast binary (cargo test --workspace builds it)");
    let out = Command::new(bin)
        .args(["restore", "--bucket", BUCKET, "--timeout-secs", "5"])
        .args(args)
        .envs(moto.env())
        .env(env::CLUSTER, cluster)
        .env(env::DOMAIN, "steadfast.internal")
        .env(env::PEER_COUNT, "3")
        .env(env::ZONE_COUNT, "3")
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn restore_refuses_bad_input_and_changes_nothing() {
    let moto = Moto::start().expect("moto (make deps)");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let conf = rt.block_on(moto.sdk_config());
    let s3 = Cloud::from_conf(&conf, Retry::with_deadline(std::time::Duration::from_secs(10))).bucket(BUCKET, None);
    let keys = SnapshotKeys::new("", &ClusterName::new("rt").unwrap()).unwrap();
    let good = keys.snapshot(1_800_000_000, 42);
    let corrupt = keys.snapshot(1_800_000_100, 43);
    let bare = keys.snapshot(1_800_000_200, 44);
    rt.block_on(async {
        let raw =
            aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&conf).force_path_style(true).build());
        raw.create_bucket().bucket(BUCKET).send().await.unwrap();
        // Cluster rt: all three volumes; cluster rt2: two of three.
        let ec2 = aws_sdk_ec2::Client::new(&conf);
        for (cluster, peers) in [("rt", 3), ("rt2", 2)] {
            for p in 0..peers {
                let tags = TagSpecification::builder()
                    .resource_type(ResourceType::Volume)
                    .tags(Tag::builder().key(TAG_CLUSTER).value(cluster).build())
                    .tags(Tag::builder().key(TAG_PEER).value(p.to_string()).build())
                    .tags(Tag::builder().key(TAG_JOINED).value("1700000000").build())
                    .build();
                ec2.create_volume()
                    .availability_zone(format!("us-east-1{}", ['a', 'b', 'c'][p]))
                    .size(1)
                    .tag_specifications(tags)
                    .send()
                    .await
                    .unwrap();
            }
        }
        for key in [&good, &corrupt, &bare] {
            s3.put(key, b"hello".to_vec().into(), false).await.unwrap();
        }
        let ok = manifest(&good, sha256(b"hello").await);
        s3.put(&SnapshotKeys::manifest(&good), ok.to_json().into(), false)
            .await
            .unwrap();
        let bad = manifest(&corrupt, sha256(b"jello").await);
        s3.put(&SnapshotKeys::manifest(&corrupt), bad.to_json().into(), false)
            .await
            .unwrap();
    });
    let listing = |prefix: &str| -> Vec<String> {
        rt.block_on(s3.list(prefix))
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect()
    };
    let nothing_planned = |what: &str| {
        assert!(
            listing(&keys.restore_dir()).is_empty(),
            "{what}: no restore plan written"
        );
    };

    let (ok, err) = restore(&moto, "rt", &["--snapshot", &good]);
    assert!(!ok && err.contains("add --yes"), "without --yes: {err}");
    nothing_planned("without --yes");
    assert!(listing("rt/restore-request.json").is_empty());

    let (ok, err) = restore(
        &moto,
        "rt",
        &["--snapshot", "other/snapshots/1800000000-r2a.db", "--yes"],
    );
    assert!(
        !ok && err.contains("not a snapshot of this cluster"),
        "another cluster's key: {err}"
    );
    nothing_planned("another cluster's key");

    let (ok, err) = restore(&moto, "rt", &["--snapshot", &bare, "--yes"]);
    assert!(
        !ok && err.contains(&format!("no manifest {}", SnapshotKeys::manifest(&bare))),
        "a snapshot without its manifest: {err}"
    );
    nothing_planned("no manifest");

    let (ok, err) = restore(&moto, "rt", &["--snapshot", &corrupt, "--yes"]);
    assert!(
        !ok && err.contains("not a verified snapshot; nothing changed") && err.contains(&sha256_sync(b"hello")),
        "a snapshot that does not read back with its manifest's sha256: {err}"
    );
    nothing_planned("corrupt snapshot");
    assert!(listing("rt/restore-request.json").is_empty());

    let (ok, err) = restore(
        &moto,
        "rt2",
        &["--snapshot", "rt2/snapshots/1800000000-r000000000000002a.db", "--yes"],
    );
    assert!(
        !ok && err.contains("2 volumes") && err.contains("restore only a whole cluster"),
        "a cluster missing a volume: {err}"
    );

    // Another restore under way: refused, naming it; its request is left as it was.
    let theirs = RestoreRequest {
        format: RESTORE_REQUEST_FORMAT,
        snapshot: keys.snapshot(1_799_000_000, 7),
        plan: keys.restore_plan(1_700_000_000),
        created_at: 1_800_000_300,
        created_by: "another operator".into(),
        armed_at: None,
    };
    let rkey = keys.restore_request();
    rt.block_on(s3.put(&rkey, theirs.to_json().into(), false)).unwrap();
    let (ok, err) = restore(&moto, "rt", &["--snapshot", &good, "--yes"]);
    assert!(
        !ok && err.contains(&format!("a restore of {}", theirs.snapshot)) && err.contains("under way"),
        "a restore under way: {err}"
    );
    let now = RestoreRequest::from_json(&rkey, &rt.block_on(s3.get(&rkey)).unwrap()).unwrap();
    assert_eq!(now, theirs, "the request under way is untouched");
    nothing_planned("a restore under way");
}

fn sha256_sync(body: &[u8]) -> String {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(sha256(body))
}

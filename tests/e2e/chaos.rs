//! The chaos suite's CI subset: `sandbox chaos kill-zone-plus-one kill-all wipe-one wipe-all
//! split-brain restore-snapshot cert-renewal ca-rotation` in the sandbox profile, with TLS on
//! (the default), on a region of its own. It fails when an acknowledged write is lost (after a
//! restore: one acknowledged before the restored snapshot), a read is stale, the region does
//! not heal, a second cluster appears, a restore is planned while volumes still hold the data,
//! `steadfast restore` does not roll the cluster back to the chosen snapshot, the
//! certificates are not renewed or the CA rotation does not finish; the targets are reported
//! (see `make chaos`), and so is the TLS cost (plain vs TLS write latency, same run).
//! Needs root, loop devices, namespaces and dnsmasq: skips loudly without them (fails in CI).

use std::process::Command;

use serde_json::Value;
use steadfast_sandbox::paths::built_bin;
use steadfast_sandbox::privileges::skip_unless_block_devices;

/// The scenarios `make test` runs, in this order.
const SUBSET: [&str; 8] = [
    "kill-zone-plus-one",
    "kill-all",
    "wipe-one",
    "wipe-all",
    "split-brain",
    "restore-snapshot",
    "cert-renewal",
    "ca-rotation",
];

#[test]
fn zone_plus_one_all_nine_and_lost_volumes_lose_nothing() {
    if skip_unless_block_devices("zone_plus_one_all_nine_and_lost_volumes_lose_nothing") {
        return;
    }
    let _one = crate::one_region_at_a_time();
    let out_dir = tempfile::tempdir().unwrap();
    let sb = built_bin("sandbox").expect("the sandbox binary (cargo test --workspace builds it)");
    let out = Command::new(&sb)
        .arg("chaos")
        .args(SUBSET)
        .args(["--profile", "sandbox", "--out"])
        .arg(out_dir.path())
        .env("STEADFAST_SANDBOX_NAME", "steadfast-chaos-ci")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("report.json")).unwrap_or_else(|e| panic!("{e}\n{text}")),
    )
    .unwrap();
    assert_eq!(report["profile"], "sandbox");
    let names: Vec<&str> = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, SUBSET, "{text}");
    for s in report["scenarios"].as_array().unwrap() {
        let name = &s["name"];
        assert!(
            s["writes_acked"].as_u64().unwrap() > 100,
            "{name}: a steady load: {s:#}"
        );
        assert_eq!(s["writes_lost"], 0, "{name}: no acknowledged write lost: {s:#}");
        assert_eq!(s["stale_reads"], 0, "{name}: no stale read: {s:#}");
        assert!(s["reads"].as_u64().unwrap() > 50, "{name}: reads were checked: {s:#}");
        assert!(
            s["time_to_healthy_ms"].is_number(),
            "{name}: healed, same members: {s:#}"
        );
        assert_eq!(s["violations"], serde_json::json!([]), "{name}: {s:#}");
        let replaced = s["replacements"].as_array().unwrap().len();
        let want = match name.as_str().unwrap() {
            "kill-all" | "wipe-all" | "split-brain" | "restore-snapshot" => 9,
            "wipe-one" => 1,
            // Certificates renewed, the CA rotated: nothing is replaced.
            "cert-renewal" | "ca-rotation" => 0,
            _ => 4,
        };
        if want == 0 {
            assert_eq!(replaced, 0, "{name}: nothing replaced: {s:#}");
        } else {
            assert!(replaced >= want, "{name}: {replaced} replacements: {s:#}");
        }
        // Only the whole-cluster loss and the operator's restore restore, from one snapshot
        // every peer agreed on; the operator's rolls back the writes after it.
        let restores = name == "wipe-all" || name == "restore-snapshot";
        assert_eq!(s["restored_from"].is_object(), restores, "{name}: {s:#}");
        if name == "restore-snapshot" {
            assert!(
                s["restored_from"]["rolled_back"].as_u64().unwrap_or(0) > 0,
                "writes after the chosen snapshot, rolled back: {s:#}"
            );
        }
        assert!(out_dir.path().join(format!("{}.svg", name.as_str().unwrap())).is_file());
    }
    // The TLS cost, measured in the same run: both sides wrote.
    let cost = &report["tls_cost"];
    for side in ["plain", "tls"] {
        assert!(
            cost[side]["writes"].as_u64().unwrap_or(0) > 100,
            "tls cost, {side}: {cost:#}\n{text}"
        );
        assert!(cost[side]["p99_ms"].as_f64().unwrap_or(0.0) >= cost[side]["p50_ms"].as_f64().unwrap_or(f64::MAX));
    }
    assert!(text.contains("tls cost"), "the TLS cost is printed:\n{text}");
    assert!(out_dir.path().join("index.html").is_file());
    assert!(out.status.success(), "{text}");
    assert!(text.contains("kill-zone-plus-one"), "the table is printed:\n{text}");
}

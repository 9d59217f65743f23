//! The chaos suite's CI subset (every scenario whose spec says `ci`, in the specs' order) in the
//! sandbox profile, with TLS on (the default), on a region of its own. It fails when an
//! acknowledged write is lost (after a restore: one acknowledged before the restored snapshot),
//! a read is stale, the region does not heal, a second cluster appears, a restore is planned
//! while volumes still hold the data, `steadfast restore` does not roll the cluster back to the
//! chosen snapshot, the certificates are not renewed or the CA rotation does not finish; the
//! targets are reported (see `make chaos`), and so is the TLS cost (plain vs TLS write latency,
//! same run). What each scenario must show (how many replacements, whether it restores) is read
//! from its spec, never restated here.
//! Needs root, loop devices, namespaces and dnsmasq: skips loudly without them (fails in CI).

use std::process::Command;

use steadfast_sandbox::chaos::report::Report;
use steadfast_sandbox::chaos::scenarios::{self, ci_subset};
use steadfast_sandbox::paths::built_bin;
use steadfast_sandbox::privileges::skip_unless_block_devices;

#[test]
fn zone_plus_one_all_nine_and_lost_volumes_lose_nothing() {
    if skip_unless_block_devices("zone_plus_one_all_nine_and_lost_volumes_lose_nothing") {
        return;
    }
    let _one = crate::one_region_at_a_time();
    let subset = scenarios::names(ci_subset());
    let cluster = steadfast_sandbox::config::cluster().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let sb = built_bin("sandbox").expect("the sandbox binary (cargo test --workspace builds it)");
    let out = Command::new(&sb)
        .arg("chaos")
        .args(&subset)
        .args(["--profile", "sandbox", "--out"])
        .arg(out_dir.path())
        .env(steadfast_sandbox::config::env_vars::NAME, "steadfast-chaos-ci")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Report = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("report.json")).unwrap_or_else(|e| panic!("{e}\n{text}")),
    )
    .unwrap();
    assert_eq!(report.profile, "sandbox");
    let names: Vec<&str> = report.scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, subset, "{text}");
    for s in &report.scenarios {
        let spec = scenarios::parse(&s.name).unwrap();
        let name = &s.name;
        assert!(s.writes_acked > 100, "{name}: a steady load: {s:#?}");
        assert_eq!(s.writes_lost, 0, "{name}: no acknowledged write lost: {s:#?}");
        assert_eq!(s.stale_reads, 0, "{name}: no stale read: {s:#?}");
        assert!(s.reads > 50, "{name}: reads were checked: {s:#?}");
        assert!(s.time_to_healthy_ms.is_some(), "{name}: healed, same members: {s:#?}");
        assert!(s.violations.is_empty(), "{name}: {s:#?}");
        // The writer through the client endpoint (the load balancer, TLS verifying that name):
        // it wrote, and nothing it was told was written is gone.
        let lb = s
            .client_endpoint
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no client endpoint writer: {s:#?}"));
        assert!(
            lb.writes_acked > 20,
            "{name}: writes through the client endpoint: {lb:#?}"
        );
        assert_eq!(lb.writes_lost, 0, "{name}: {lb:#?}");
        let want = spec.replacements(&cluster) as usize;
        if want == 0 {
            assert!(s.replacements.is_empty(), "{name}: nothing replaced: {s:#?}");
        } else {
            assert!(
                s.replacements.len() >= want,
                "{name}: {} replacements: {s:#?}",
                s.replacements.len()
            );
        }
        // Only a whole-cluster loss and the operator's restore restore, from one snapshot every
        // peer agreed on; the operator's rolls back the writes after it.
        assert_eq!(s.restored_from.is_some(), spec.restores, "{name}: {s:#?}");
        if spec.rolls_back {
            assert!(
                s.restored_from.as_ref().and_then(|r| r.rolled_back).unwrap_or(0) > 0,
                "writes after the chosen snapshot, rolled back: {s:#?}"
            );
        }
        assert!(out_dir.path().join(format!("{name}.svg")).is_file());
    }
    // The TLS cost, measured in the same run: both sides wrote.
    let cost = report
        .tls_cost
        .as_ref()
        .unwrap_or_else(|| panic!("no tls cost\n{text}"));
    for side in [&cost.plain, &cost.tls] {
        assert!(side.writes > 100, "tls cost: {cost:#?}\n{text}");
        assert!(side.p99_ms >= side.p50_ms, "{cost:#?}");
    }
    assert!(text.contains("tls cost"), "the TLS cost is printed:\n{text}");
    // The nodes reached only what the deployment provides endpoints for (the module's
    // required_vpc_endpoints), and every service on that list was really called: the list is
    // what the code needs, no more and no less. The run took backups, renewed certificates,
    // healed a peer and restored the cluster.
    let reach = report
        .reach
        .as_ref()
        .unwrap_or_else(|| panic!("no reach report\n{text}"));
    assert!(
        reach.refused.is_empty(),
        "a node called a service it has no endpoint for: {reach:#?}"
    );
    let called: Vec<&String> = reach.called.keys().collect();
    let mut allowed: Vec<&String> = reach.allowed.iter().collect();
    allowed.sort();
    assert_eq!(called, allowed, "the services nodes call are the list: {reach:#?}");
    assert!(out_dir.path().join("index.html").is_file());
    assert!(out.status.success(), "{text}");
    assert!(text.contains("kill-zone-plus-one"), "the table is printed:\n{text}");
}

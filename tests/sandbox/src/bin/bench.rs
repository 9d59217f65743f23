//! `make bench`: the figures the README quotes, measured here.
//!
//! - `peer-dns`: warm invocation latency (p50/p99 over >= 200 invocations through cargo
//!   lambda's invoke API, against moto), cold start (function process start to its first
//!   answered invocation, median of 10), peak RSS (VmHWM) -> `target/bench/peer-dns.json`.
//! - `node-bootstrap`: `prepare` re-attaching a peer's volume after its instance was replaced,
//!   against moto + a loop device, 20 runs, p50 with a per-step breakdown ->
//!   `target/bench/node-bootstrap.json` (needs root and loop devices).
//!
//! Usage: `bench [peer-dns|node-bootstrap|all]`. Binaries are taken from
//! `$CARGO_TARGET_DIR/release` (the Makefile builds them first).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use steadfast_core::vocab::eventbridge::{self, Origin};
use steadfast_core::vocab::{Step, Transport};
use steadfast_core::{Cluster, ClusterName, Domain};
use steadfast_sandbox::harness::Stage;
use steadfast_sandbox::paths;
use steadfast_sandbox::privileges::missing_for_block_devices;
use steadfast_sandbox::region::{zone_name, Region, RegionOptions};
use steadfast_sandbox::standins::lambda::{peer_dns_env, LambdaWatch};
use steadfast_sandbox::standins::moto::Moto;
use steadfast_sandbox::SandboxError;

type Res<T> = Result<T, SandboxError>;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

fn vm_hwm_mb(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((kb / 1024.0 * 100.0).round() / 100.0)
}

fn release(bin: &str) -> Res<PathBuf> {
    let p = paths::target_dir().join("release").join(bin);
    if p.exists() {
        Ok(p)
    } else {
        Err(SandboxError::Missing(p))
    }
}

fn write_report(name: &str, v: &Value) -> Res<PathBuf> {
    let dir = paths::target_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(SandboxError::io("mkdir target/bench"))?;
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap_or_default())
        .map_err(SandboxError::io("write report"))?;
    Ok(p)
}

async fn bench_peer_dns() -> Res<Value> {
    let bin = release("peer-dns")?;
    let moto = Moto::start()?;
    let cluster = Cluster::new(
        ClusterName::new("bench").map_err(SandboxError::Aws)?,
        Domain::new("etcd.internal")?,
        9,
        3,
    )?;
    let region = Region::create(
        &moto.sdk_config().await,
        cluster.clone(),
        Transport::Plain,
        RegionOptions::default(),
    )
    .await?;
    let env = peer_dns_env(&moto, &region, "warn");
    let mut events = Vec::new();
    for p in cluster.peers() {
        let id = region
            .live_instance(p)
            .await?
            .ok_or_else(|| SandboxError::Setup(format!("peer {p}: no instance")))?;
        events.push(eventbridge::launch_successful(
            &Origin::default(),
            &region.groups[p.get() as usize],
            &id,
        ));
    }
    let mut watch = LambdaWatch::start()?;

    // Cold starts: process start -> first answered invocation.
    let mut cold = Vec::new();
    for i in 0..10 {
        let t0 = Instant::now();
        watch.start_function(&bin, &env, None)?;
        let (status, body) = watch.invoke(&events[i % events.len()], Duration::from_secs(30)).await?;
        if status != 200 {
            return Err(SandboxError::Setup(format!("cold invocation failed: {status} {body}")));
        }
        cold.push(ms(t0.elapsed()));
        watch.stop_function();
    }
    cold.sort_by(f64::total_cmp);

    // Warm: one process, many invocations.
    let pid = watch.start_function(&bin, &env, None)?;
    watch.invoke(&events[0], Duration::from_secs(30)).await?;
    let mut warm = Vec::new();
    for i in 0..270 {
        let t0 = Instant::now();
        let (status, body) = watch.invoke(&events[i % events.len()], Duration::from_secs(30)).await?;
        if status != 200 {
            return Err(SandboxError::Setup(format!("warm invocation failed: {status} {body}")));
        }
        if i >= 20 {
            warm.push(ms(t0.elapsed()));
        }
    }
    // A few sweeps too: the heaviest path (every group, every instance, the whole zone).
    let sweep = eventbridge::scheduled(&Origin::default(), "bench-sweep");
    let mut sweeps = Vec::new();
    for _ in 0..20 {
        let t0 = Instant::now();
        watch.invoke(&sweep, Duration::from_secs(30)).await?;
        sweeps.push(ms(t0.elapsed()));
    }
    sweeps.sort_by(f64::total_cmp);
    let rss = vm_hwm_mb(pid).unwrap_or(f64::NAN);
    warm.sort_by(f64::total_cmp);
    Ok(json!({
        "warm_p50_ms": percentile(&warm, 50.0),
        "warm_p99_ms": percentile(&warm, 99.0),
        "warm_invocations": warm.len(),
        "sweep_p50_ms": percentile(&sweeps, 50.0),
        "cold_start_ms": percentile(&cold, 50.0),
        "cold_start_max_ms": cold.last().copied().unwrap_or(f64::NAN),
        "cold_starts": cold.len(),
        "peak_rss_mb": rss,
        "method": "release binary under `cargo lambda watch --only-lambda-apis` on 127.0.0.1, events POSTed to the invoke URL, moto on 127.0.0.1; latency is the client's round trip through the emulator",
    }))
}

async fn bench_node_bootstrap() -> Res<Value> {
    if let Some(what) = missing_for_block_devices() {
        return Err(SandboxError::Setup(format!("node-bootstrap bench needs {what}")));
    }
    let nb = release("node-bootstrap")?;
    let cluster = Cluster::new(
        ClusterName::new("bench").map_err(SandboxError::Aws)?,
        Domain::new("etcd.internal")?,
        3,
        3,
    )?;
    let stage = Stage::new(&nb, cluster.clone()).await?;
    let p0 = cluster.peer(0)?;
    // First boot formats; mark the data dir as an existing member so later boots are re-attaches.
    let node = stage.peer_node(0).await?;
    let (ok, log) = stage.boot(&node, "mkdir -p $DATA/member/wal", &[]);
    if !ok {
        return Err(SandboxError::Setup(format!("first boot failed:\n{log}")));
    }
    let mut totals = Vec::new();
    let mut walls = Vec::new();
    let mut per_step: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut current = node.id.instance_id.clone();
    for _ in 0..20 {
        stage.region.terminate(&current).await?;
        let next = stage
            .region
            .wait_live_instance(p0, Some(&current), Duration::from_secs(30))
            .await?;
        let node = stage.node(&next, &zone_name(0), Some(p0)).await?;
        let t0 = Instant::now();
        let (ok, log) = stage.boot(&node, "true", &[("RUST_LOG".into(), "info".into())]);
        let wall = ms(t0.elapsed());
        if !ok {
            return Err(SandboxError::Setup(format!("re-attach failed:\n{log}")));
        }
        let report = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["fields"]["step"] == Step::Prepared.as_str())
            .and_then(|v| {
                v["fields"]["report"]
                    .as_str()
                    .and_then(|r| serde_json::from_str::<Value>(r).ok())
            })
            .ok_or_else(|| SandboxError::Setup(format!("no prepare report in:\n{log}")))?;
        totals.push(report["total_ms"].as_f64().unwrap_or(f64::NAN));
        walls.push(wall);
        for s in report["steps"].as_array().into_iter().flatten() {
            if let (Some(name), Some(v)) = (s[0].as_str(), s[1].as_f64()) {
                per_step.entry(name.to_string()).or_default().push(v);
            }
        }
        current = next;
    }
    totals.sort_by(f64::total_cmp);
    walls.sort_by(f64::total_cmp);
    let steps: BTreeMap<String, f64> = per_step
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by(f64::total_cmp);
            (k, (percentile(&v, 50.0) * 100.0).round() / 100.0)
        })
        .collect();
    Ok(json!({
        "prepare_ms_p50": (percentile(&totals, 50.0) * 100.0).round() / 100.0,
        "prepare_ms_p90": (percentile(&totals, 90.0) * 100.0).round() / 100.0,
        "process_wall_ms_p50": percentile(&walls, 50.0),
        "runs": totals.len(),
        "steps_ms_p50": steps,
        "method": "replace the instance in moto, boot its node: `node-bootstrap prepare` (release) in its own mount namespace re-attaching the peer's volume (a loop device presented by the sandbox hypervisor); prepare_ms is node-bootstrap's own total from IMDS identity to the env file, process wall adds process start and IMDS",
    }))
}

fn print_table(title: &str, v: &Value) {
    println!("\n{title}");
    println!("{:-<60}", "");
    if let Some(o) = v.as_object() {
        for (k, val) in o {
            if k == "method" {
                continue;
            }
            println!("{k:<28} {val}");
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let mut failed = false;
    let jobs: Vec<(&str, &str)> = match what.as_str() {
        "peer-dns" => vec![("peer-dns", "peer-dns.json")],
        "node-bootstrap" => vec![("node-bootstrap", "node-bootstrap.json")],
        "all" => vec![("peer-dns", "peer-dns.json"), ("node-bootstrap", "node-bootstrap.json")],
        other => {
            eprintln!("bench: unknown target {other:?}; use peer-dns, node-bootstrap or all");
            return std::process::ExitCode::from(2);
        }
    };
    for (name, file) in jobs {
        let r = match name {
            "peer-dns" => bench_peer_dns().await,
            _ => bench_node_bootstrap().await,
        };
        match r {
            Ok(v) => {
                let path = write_report(file, &v)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                print_table(&format!("{name} ({path})"), &v);
            }
            Err(e) => {
                eprintln!("bench {name}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::ExitCode::from(1)
    } else {
        std::process::ExitCode::SUCCESS
    }
}

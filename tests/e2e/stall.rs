//! A region that stops making progress says why and keeps its evidence (issue 32), shown with a
//! peer whose name the resolver never learns (`--hold-dns peer-3`: a Route 53 change that never
//! propagates). Its name keeps answering its placeholder, a distinct address, so the other eight
//! form the cluster (with peer-3 as a member that has not started); peer-3's node waits for its
//! own name.
//! - interrupted: SIGINT while coming up leaves `bring-up-*/` with the event log and the nine
//!   nodes' logs, and exits 130;
//! - stalled: with nothing changing for the stall bound, `up` names every peer that is not
//!   healthy with what it waits on, keeps the evidence and exits non-zero;
//! - the node's side: with a short hook timeout, a node that gets nowhere abandons its launch
//!   (naming the wait) before the action could run out, and the groups keep replacing.
//!
//! Needs root, loop devices, namespaces and dnsmasq: skips loudly without them (fails in CI).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use steadfast_core::vocab::Step;
use steadfast_sandbox::config::env_vars;
use steadfast_sandbox::paths::built_bin;
use steadfast_sandbox::privileges::skip_unless_block_devices;
use steadfast_sandbox::supervisor::event_log::{Event, Logged};

const NAME: &str = "steadfast-stall";

fn sandbox() -> Command {
    let mut c = Command::new(built_bin("sandbox").expect("the sandbox binary (cargo test --workspace builds it)"));
    c.env(env_vars::NAME, NAME);
    c
}

struct Down;

impl Drop for Down {
    fn drop(&mut self) {
        let _ = sandbox().arg("down").output();
    }
}

/// The one `bring-up-*` folder under `dir`.
fn bring_up_dir(dir: &std::path::Path) -> std::path::PathBuf {
    let found: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("bring-up-"))
        })
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

fn node_logs(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir.join("nodes"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("node.log").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn an_interrupted_bring_up_keeps_its_evidence() {
    if skip_unless_block_devices("an_interrupted_bring_up_keeps_its_evidence") {
        return;
    }
    let _one = crate::one_region_at_a_time();
    let _ = sandbox().arg("down").output();
    let _down = Down;
    let evidence = tempfile::tempdir().unwrap();
    let up = sandbox()
        .args(["up", "--hold-dns", "peer-3", "--evidence"])
        .arg(evidence.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(20));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(up.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = up.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "an interrupted command's exit:\n{err}");
    let kept = bring_up_dir(evidence.path());
    assert!(err.contains(&kept.display().to_string()), "the path is printed:\n{err}");
    assert!(kept.join("events.jsonl").is_file());
    for f in ["supervisor.log", "moto.log", "peer-dns.log", "dnsmasq.log"] {
        assert!(kept.join(f).is_file(), "{f} kept");
    }
    assert_eq!(node_logs(&kept).len(), 9, "every node's log: {:?}", node_logs(&kept));
    assert!(
        !steadfast_sandbox::state::state_dir().exists(),
        "the region is torn down after its evidence is kept"
    );
}

#[test]
fn a_stalled_bring_up_names_who_waits_on_what_and_fails() {
    if skip_unless_block_devices("a_stalled_bring_up_names_who_waits_on_what_and_fails") {
        return;
    }
    let _one = crate::one_region_at_a_time();
    let _ = sandbox().arg("down").output();
    let _down = Down;
    let evidence = tempfile::tempdir().unwrap();
    let stall = 40;
    let t0 = Instant::now();
    let out = sandbox()
        .args([
            "up",
            "--detach",
            "--hold-dns",
            "peer-3",
            "--stall-secs",
            &stall.to_string(),
            "--evidence",
        ])
        .arg(evidence.path())
        .output()
        .unwrap();
    let took = t0.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a stall fails:\n{err}");
    assert!(err.contains("STALLED"), "{err}");
    // Within the bound plus the bring-up's own time (the nodes start within seconds).
    assert!(took < Duration::from_secs(stall + 60), "{took:?}");
    // The held peer is named, with what its node waits on: its own name.
    let line = err
        .lines()
        .find(|l| l.trim_start().starts_with("peer-3:"))
        .unwrap_or_else(|| panic!("peer-3 is named:\n{err}"));
    assert!(line.contains("Pending:Wait"), "its lifecycle state: {line}");
    assert!(
        line.contains("DNS") && line.contains("peer-3."),
        "what it waits on: {line}"
    );
    // Only the peer that is not healthy is named.
    let named: Vec<&str> = err.lines().filter(|l| l.starts_with("  peer-")).collect();
    assert_eq!(named.len(), 1, "{named:?}");
    let kept = bring_up_dir(evidence.path());
    assert_eq!(node_logs(&kept).len(), 9);
}

#[test]
fn a_node_that_gets_nowhere_abandons_and_its_group_replaces_it() {
    if skip_unless_block_devices("a_node_that_gets_nowhere_abandons_and_its_group_replaces_it") {
        return;
    }
    let _one = crate::one_region_at_a_time();
    let _ = sandbox().arg("down").output();
    let _down = Down;
    let evidence = tempfile::tempdir().unwrap();
    let hook = 30u64;
    // Never healthy (peer-3's name never resolves): `up` gives up after its timeout, keeping the
    // evidence; the stall detector stays out of it (the instances keep changing anyway).
    let out = sandbox()
        .args([
            "up",
            "--detach",
            "--hold-dns",
            "peer-3",
            "--timeout-secs",
            "100",
            "--stall-secs",
            "900",
        ])
        .args(["--hook-timeout-secs", &hook.to_string(), "--evidence"])
        .arg(evidence.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "never healthy:\n{err}");
    let kept = bring_up_dir(evidence.path());
    let events = Logged::parse_all(&std::fs::read_to_string(kept.join("events.jsonl")).unwrap());
    // Nodes gave up, each naming the wait.
    let abandoned: Vec<&Logged> = events
        .iter()
        .filter(|e| matches!(&e.event, Event::Node { step: Step::Failed, fields, .. }
            if fields.get("error").and_then(|v| v.as_str()).is_some_and(|m| m.contains("no progress") && m.contains("DNS"))))
        .collect();
    assert!(!abandoned.is_empty(), "a node abandoned, naming its wait:\n{err}");
    // The groups kept replacing: more launches than peers.
    let launched: Vec<(f64, String)> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::InstanceLaunched { instance_id, .. } => Some((e.t_ms, instance_id.clone())),
            _ => None,
        })
        .collect();
    assert!(launched.len() > 9, "{} launches", launched.len());
    // No instance sat in Pending:Wait past the hook's timeout: each one that was replaced was
    // terminated within it (plus the scheduling slack of a busy 2-core machine).
    for (t, id) in &launched {
        let ended = events.iter().find_map(|e| match &e.event {
            Event::InstanceTerminated { instance_id, .. } if instance_id == id => Some(e.t_ms),
            _ => None,
        });
        if let Some(end) = ended {
            assert!(
                end - t <= (hook as f64 + 15.0) * 1000.0,
                "{id} waited {:.0} ms before it was replaced",
                end - t
            );
        }
    }
}

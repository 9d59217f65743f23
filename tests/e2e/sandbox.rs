//! The local region end to end: `sandbox up --detach` comes up healthy; a write and a read go
//! through SRV discovery; a killed peer's replacement re-attaches the same volume and rejoins
//! as the same member with the data; `sandbox down` leaves nothing behind.
//! Needs root, loop devices, namespaces and dnsmasq: skips loudly without them (fails in CI).
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use steadfast_sandbox::paths::built_bin;
use steadfast_sandbox::privileges::{skip_unless_block_devices, which};
use steadfast_sandbox::{state, teardown};

const NAME: &str = "steadfast-test";

fn sb() -> std::path::PathBuf {
    built_bin("sandbox").expect("the sandbox binary (cargo test --workspace builds it)")
}

fn sandbox(args: &[&str]) -> (bool, String, String) {
    sandbox_as(NAME, args)
}

/// `sandbox <args>` on the region named `name`: success, stdout, stderr (the deploy test's
/// region has its own name).
pub(crate) fn sandbox_as(name: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(sb())
        .args(args)
        .env("STEADFAST_SANDBOX_NAME", name)
        .output()
        .expect("run sandbox");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn status() -> Value {
    status_as(NAME)
}

/// `sandbox status --json` of the region named `name`.
pub(crate) fn status_as(name: &str) -> Value {
    let (_, out, err) = sandbox_as(name, &["status", "--json"]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("status --json: {e}\n{out}\n{err}"))
}

fn peer(s: &Value, n: usize) -> &Value {
    &s["peers"][n]
}

/// Tears the named region down when the test ends, however it ends.
pub(crate) struct Down(pub(crate) &'static str);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = sandbox_as(self.0, &["down"]);
    }
}

#[test]
fn region_comes_up_serves_survives_a_replacement_and_tears_down_clean() {
    if skip_unless_block_devices("region_comes_up_serves_survives_a_replacement_and_tears_down_clean") {
        return;
    }
    let _one = crate::one_region_at_a_time();
    for tool in ["ip", "dnsmasq"] {
        if which(tool).is_none() {
            let msg = format!("SKIPPED sandbox test: needs the {tool} command");
            if steadfast_sandbox::privileges::under_ci() {
                panic!("{msg} (CI must run it)");
            }
            eprintln!("\n!!!!!!!!!! {msg} !!!!!!!!!!\n");
            return;
        }
    }
    // SAFETY of intent: this test process reads the same state paths as the CLI.
    std::env::set_var("STEADFAST_SANDBOX_NAME", NAME);
    let _ = sandbox(&["down"]);
    let _guard = Down(NAME);
    // Live processes only: a killed node's etcd may linger a moment as a zombie until PID 1
    // reaps it; it holds nothing.
    let count = |name: &str| -> usize {
        let ps = Command::new("ps").args(["-eo", "stat=,comm="]).output().unwrap();
        String::from_utf8_lossy(&ps.stdout)
            .lines()
            .filter(|l| {
                let mut it = l.split_whitespace();
                matches!((it.next(), it.next()), (Some(st), Some(c)) if !st.starts_with('Z') && c == name)
            })
            .count()
    };
    let (etcd_before, dnsmasq_before) = (count("etcd"), count("dnsmasq"));

    // Up.
    let (ok, out, err) = sandbox(&["up", "--detach", "--timeout-secs", "240"]);
    assert!(ok, "sandbox up --detach failed:\n{out}\n{err}");
    let s = status();
    assert_eq!(s["healthy"], true, "{s:#}");
    assert_eq!(s["peers"].as_array().map(|a| a.len()), Some(9));
    for p in s["peers"].as_array().unwrap() {
        assert_eq!(p["dns"], p["ip"], "DNS must answer each peer's current IP: {p}");
        assert_eq!(p["attached_to"], p["instance_id"], "{p}");
        assert_eq!(
            p["lifecycle"], "InService",
            "the hook held each instance until its node completed the action: {p}"
        );
    }
    assert_eq!(
        s["peers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["leader"] == true)
            .count(),
        1
    );

    // TLS, the default: each member was configured only with the discovery domain and https
    // URLs (it found its peers through _etcd-server-ssl) and demands client certificates.
    let nodes = state::state_dir().join("nodes");
    for entry in std::fs::read_dir(&nodes).unwrap() {
        let env_file = entry.unwrap().path().join("etcd.env");
        let Ok(env) = std::fs::read_to_string(&env_file) else {
            continue;
        };
        for line in [
            "ETCD_DISCOVERY_SRV=local.steadfast.internal",
            "ETCD_CLIENT_CERT_AUTH=true",
            "ETCD_PEER_CLIENT_CERT_AUTH=true",
        ] {
            assert!(
                env.lines().any(|l| l == line),
                "{}: no {line}:\n{env}",
                env_file.display()
            );
        }
        assert!(
            !env.contains("ETCD_INITIAL_CLUSTER="),
            "discovery, not a static list: {env}"
        );
        assert!(env.contains("ETCD_INITIAL_ADVERTISE_PEER_URLS=https://"), "{env}");
        assert!(env.contains("ETCD_ADVERTISE_CLIENT_URLS=https://"), "{env}");
    }

    // A write and a read through SRV discovery (`sandbox exec` gives etcdctl the operator's
    // client certificate).
    let srv = "local.steadfast.internal";
    let (ok, out, err) = sandbox(&[
        "exec",
        "--",
        "etcdctl",
        "--discovery-srv",
        srv,
        "put",
        "steadfast/test",
        "survives",
    ]);
    assert!(ok && out.contains("OK"), "put: {out} {err}");
    let (ok, out, err) = sandbox(&[
        "exec",
        "--",
        "etcdctl",
        "--discovery-srv",
        srv,
        "get",
        "steadfast/test",
        "--print-value-only",
    ]);
    assert!(ok && out.trim() == "survives", "get: {out} {err}");

    // Kill peer-4; its replacement must come back as the same member with the same data.
    let before = peer(&s, 4).clone();
    let (ok, out, err) = sandbox(&["kill", "peer-4"]);
    assert!(ok, "kill: {out} {err}");
    let t0 = Instant::now();
    let after = loop {
        let s = status();
        let p = peer(&s, 4).clone();
        if p["instance_id"] != before["instance_id"]
            && p["instance_id"].is_string()
            && p["healthy"] == true
            && s["healthy"] == true
        {
            break p;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "peer-4 did not come back healthy: {s:#}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(after["member_id"], before["member_id"], "rejoined as the same member");
    assert_eq!(after["lifecycle"], "InService", "{after}");
    assert_eq!(after["volume_id"], before["volume_id"]);
    assert_eq!(
        after["attached_to"], after["instance_id"],
        "the same volume, attached to the new instance"
    );
    assert_eq!(after["dns"], after["ip"]);
    let ip = after["ip"].as_str().unwrap();
    let (ok, out, err) = sandbox(&[
        "exec",
        "--",
        "etcdctl",
        "--endpoints",
        &format!("https://{ip}:2379"),
        "get",
        "steadfast/test",
        "--print-value-only",
        "--consistency=s",
    ]);
    assert!(
        ok && out.trim() == "survives",
        "the replaced member serves the data written before: {out} {err}"
    );
    // Plain http and a client without a certificate are refused.
    for (what, script) in [
        (
            "plain http",
            format!("etcdctl --endpoints http://{ip}:2379 --command-timeout 3s get steadfast/test"),
        ),
        (
            "no client certificate",
            format!("env -u ETCDCTL_CERT -u ETCDCTL_KEY etcdctl --endpoints https://{ip}:2379 --command-timeout 3s get steadfast/test"),
        ),
    ] {
        let (ok, out, err) = sandbox(&["exec", "--", "sh", "-c", &script]);
        assert!(!ok, "{what} was served: {out} {err}");
    }

    // The event log tells every step of the replacement.
    let events = std::fs::read_to_string(state::state_dir().join("events.jsonl")).unwrap();
    for kind in [
        "instance_terminated",
        "instance_launched",
        "event_delivered",
        "record_changed",
        "dns_visible",
        "volume_detached",
        "volume_attached",
        "device_presented",
        "node.mount",
        "node.dns",
        "node.etcd-started",
        "node.ready",
        "node.lifecycle",
    ] {
        assert!(
            events.contains(&format!("\"kind\":\"{kind}\"")),
            "no {kind} event in the log"
        );
    }
    // Every event the EventBridge stand-in delivered was handled (HTTP 200 from peer-dns).
    let failed: Vec<&str> = events
        .lines()
        .filter(|l| {
            l.contains("\"kind\":\"event_failed\"")
                || (l.contains("\"kind\":\"event_delivered\"") && !l.contains("\"status\":200"))
        })
        .collect();
    assert!(failed.is_empty(), "peer-dns failed events: {failed:#?}");
    let new_id = after["instance_id"].as_str().unwrap();
    assert!(
        events
            .lines()
            .any(|l| l.contains("\"kind\":\"node.ready\"") && l.contains(new_id)),
        "the replacement's readiness is logged"
    );

    // Down: nothing left.
    let (ok, out, err) = sandbox(&["down"]);
    assert!(ok, "down: {out} {err}");
    assert_eq!(teardown::leftovers(), Vec::<String>::new());
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    let stray: Vec<&str> = ps
        .lines()
        .filter(|l| l.contains(&format!("/run/steadfast/{NAME}")))
        .collect();
    assert!(stray.is_empty(), "processes left: {stray:?}");
    assert_eq!(count("etcd"), etcd_before, "etcd processes left behind");
    assert_eq!(count("dnsmasq"), dnsmasq_before, "dnsmasq left behind");

    // Foreground `up`, then Ctrl-C once it has said the region is healthy (its own words, not
    // another process's status: that can see health a poll earlier): it tears down from inside
    // the namespace it entered, must not kill itself before it is done, and exits 0.
    let (mut fg, said) = foreground_up();
    said.wait_for("all 9 peers healthy", Duration::from_secs(240));
    interrupt(&fg);
    let st = fg.wait().unwrap();
    assert!(
        st.success(),
        "Ctrl-C on a foreground up must tear down and exit 0: {st}\n{}",
        said.all()
    );
    assert_eq!(teardown::leftovers(), Vec::<String>::new());
    assert_eq!(count("etcd"), etcd_before, "etcd processes left behind after Ctrl-C");

    // Ctrl-C while it is still coming up: not a failed start (no "could not come up"), the
    // region is torn down all the same, and the exit code is an interrupted command's (130).
    let (mut fg, said) = foreground_up();
    said.wait_for("region starting", Duration::from_secs(60));
    interrupt(&fg);
    let st = fg.wait().unwrap();
    let text = said.all();
    assert_eq!(st.code(), Some(130), "{text}");
    assert!(text.contains("interrupted while coming up"), "{text}");
    assert!(!text.contains("could not come up"), "{text}");
    assert_eq!(teardown::leftovers(), Vec::<String>::new());
    assert_eq!(
        count("etcd"),
        etcd_before,
        "etcd processes left behind after an early Ctrl-C"
    );

    // A start that cannot succeed in time says why and cleans up behind itself.
    let out = Command::new(sb())
        .args(["up", "--detach", "--timeout-secs", "1"])
        .env("STEADFAST_SANDBOX_NAME", NAME)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("could not come up") && err.contains("not all peers were healthy"),
        "{err}"
    );
    assert_eq!(teardown::leftovers(), Vec::<String>::new());
}

/// `sandbox up` in the foreground, its stderr collected line by line as it comes.
fn foreground_up() -> (std::process::Child, Said) {
    let mut fg = Command::new(sb())
        .args(["up"])
        .env("STEADFAST_SANDBOX_NAME", NAME)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let said = Said::default();
    let lines = said.0.clone();
    let err = fg.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
    (fg, said)
}

fn interrupt(child: &std::process::Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
}

/// What a foreground `up` has printed on stderr so far.
#[derive(Default)]
struct Said(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Said {
    fn all(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }

    fn wait_for(&self, words: &str, limit: Duration) {
        let t0 = Instant::now();
        while !self.all().contains(words) {
            assert!(
                t0.elapsed() < limit,
                "foreground up never said {words:?} in {limit:?}:\n{}",
                self.all()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

//! The report: per scenario the writes, stale reads, gaps, latencies, the time until all nine
//! are healthy as the same members, and each replacement split into its steps; printed as a
//! table, saved as `target/chaos/report.json`, and checked against the targets.

use serde::{Deserialize, Serialize};

/// One replacement, as milestones after its instance launched (ms), and the cloud's share
/// before it (`launch_ms`: termination until the new instance).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Replacement {
    pub peer: u32,
    pub instance_id: String,
    pub launch_ms: Option<f64>,
    pub dns_ms: Option<f64>,
    pub attach_ms: Option<f64>,
    pub mount_ms: Option<f64>,
    pub dns_wait_ms: Option<f64>,
    pub catch_up_ms: Option<f64>,
    pub hook_ms: Option<f64>,
    /// Within the attach: how long the old instance still held the volume (the cloud's share:
    /// EC2 lets a terminating instance's volumes go once its guest is down).
    pub holder_ms: Option<f64>,
    /// node-bootstrap's own time: its steps' elapsed_ms (attach, device, filesystem, mount, DNS
    /// wait, env file, and ready's catch-up), less `holder_ms`.
    pub bootstrap_ms: Option<f64>,
}

/// A target and whether it was met.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Target {
    pub what: String,
    pub limit: f64,
    pub value: f64,
    pub met: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScenarioReport {
    pub name: String,
    pub writes_attempted: u64,
    pub writes_acked: u64,
    pub writes_failed: u64,
    pub writes_lost: u64,
    pub stale_reads: u64,
    /// Register reads that saw a put which had timed out at the client applied later (etcd's
    /// contract for a request without an answer; not stale, not a failure).
    pub late_writes: u64,
    pub reads: u64,
    pub max_write_gap_ms: f64,
    pub write_p50_ms: f64,
    pub write_p99_ms: f64,
    pub time_to_healthy_ms: Option<f64>,
    /// From the first fault until a member next became leader (etcd's own log); null when no
    /// election followed.
    pub first_election_ms: Option<f64>,
    pub election_timeout_ms: f64,
    pub replacements: Vec<Replacement>,
    pub targets: Vec<Target>,
    /// Why a scenario failed its assertions, and anything else worth reading.
    pub notes: Vec<String>,
    /// Assertions beyond lost writes and stale reads that failed (a second cluster, a restore
    /// while data was held): each fails the scenario.
    pub violations: Vec<String>,
    /// The snapshot a whole-cluster restore came from (`wipe-all`).
    pub restored_from: Option<RestoredFrom>,
    /// From the last replacement's node start until all nine were healthy.
    pub healthy_after_last_start_ms: Option<f64>,
    /// The writer through the client endpoint (the client load balancer): what most users see.
    /// Its writes are not in `writes_*` above, except `writes_lost`, which counts every writer's.
    #[serde(default)]
    pub client_endpoint: Option<ViaEndpoint>,
    #[serde(skip)]
    pub chart: Option<String>,
}

impl ScenarioReport {
    /// Lost writes and stale reads fail a scenario, whatever its targets.
    pub fn passed(&self) -> bool {
        self.writes_lost == 0
            && self.stale_reads == 0
            && self.time_to_healthy_ms.is_some()
            && self.violations.is_empty()
    }
}

/// The writer through the client endpoint, in one scenario.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ViaEndpoint {
    pub writes_attempted: u64,
    pub writes_acked: u64,
    pub writes_failed: u64,
    /// Its acknowledged writes that are gone (also counted in the scenario's `writes_lost`).
    pub writes_lost: u64,
    /// Its longest interval without an acknowledged write, from the fault to the end.
    pub max_write_gap_ms: f64,
    pub write_p50_ms: f64,
    /// Its first failure, explained.
    pub first_failure: Option<String>,
}

/// What a whole-cluster restore came back from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoredFrom {
    pub snapshot: String,
    pub revision: i64,
    /// Writes acknowledged after the snapshot: lost by design (the volumes were gone, or the
    /// operator restored it on purpose).
    pub writes_after: u64,
    /// A restore on purpose: the writes acknowledged after the snapshot and before the operator
    /// ran `steadfast restore`, each checked gone from the restored cluster.
    pub rolled_back: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub profile: String,
    /// etcd's heartbeat interval on the nodes (each scenario carries the election timeout).
    pub heartbeat_interval_ms: f64,
    /// `release` or `debug`: the build of the sandbox, node-bootstrap and peer-dns that ran.
    pub build: String,
    pub scenarios: Vec<ScenarioReport>,
    /// Write latency with and without TLS, measured in the same run (`None`: not measured).
    #[serde(default)]
    pub tls_cost: Option<super::tls_cost::TlsCost>,
    /// The AWS services the nodes called in the whole run, those they may reach, and those they
    /// were refused (`None`: the launcher could not be asked).
    #[serde(default)]
    pub reach: Option<Reach>,
}

/// What the nodes called, against what the deployment provides (the module's
/// `required_vpc_endpoints`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Reach {
    /// The services the nodes may reach.
    pub allowed: Vec<String>,
    /// service -> calls, by the nodes.
    pub called: std::collections::BTreeMap<String, u64>,
    /// service -> calls refused (a service without an endpoint): each one a finding.
    pub refused: std::collections::BTreeMap<String, u64>,
}

/// One line: what the nodes called, against what they may reach.
pub fn reach_line(r: &Reach) -> String {
    let called: Vec<String> = r.called.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let refused: Vec<String> = r.refused.iter().map(|(s, n)| format!("{s} {n}")).collect();
    format!(
        "nodes called: {} (may reach: {}); refused: {}",
        called.join(", "),
        r.allowed.join(" "),
        if refused.is_empty() {
            "none".to_string()
        } else {
            refused.join(", ")
        }
    )
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into())
}

/// The table the command prints (and the HTML page shows).
pub fn table(r: &Report) -> String {
    let mut out = format!(
        "profile {}, {} build, etcd heartbeat {:.0} ms\n{:<20} {:>8} {:>7} {:>7} {:>5} {:>6} {:>9} {:>9} {:>9} {:>8} {:>8} {:>10}  {}\n",
        r.profile,
        r.build,
        r.heartbeat_interval_ms,
        "scenario",
        "attempts",
        "acked",
        "failed",
        "lost",
        "stale",
        "gap ms",
        "lb gap ms",
        "elect ms",
        "p50 ms",
        "p99 ms",
        "healthy ms",
        "result"
    );
    for s in &r.scenarios {
        let missed: Vec<&Target> = s.targets.iter().filter(|t| !t.met).collect();
        let result = if !s.passed() {
            "FAILED".to_string()
        } else if missed.is_empty() {
            "ok".to_string()
        } else {
            format!("ok, {} target(s) MISSED", missed.len())
        };
        out.push_str(&format!(
            "{:<20} {:>8} {:>7} {:>7} {:>5} {:>6} {:>9.0} {:>9} {:>9} {:>8.1} {:>8.1} {:>10}  {}\n",
            s.name,
            s.writes_attempted,
            s.writes_acked,
            s.writes_failed,
            s.writes_lost,
            s.stale_reads,
            s.max_write_gap_ms,
            opt(s.client_endpoint.as_ref().map(|c| c.max_write_gap_ms)),
            opt(s.first_election_ms),
            s.write_p50_ms,
            s.write_p99_ms,
            opt(s.time_to_healthy_ms),
            result
        ));
    }
    out.push_str(
        "\nreplacements (ms after the new instance launched; launch = termination until then; holder = \
         how long the old instance still held the volume; bootstrap = the node's own steps less that)\n",
    );
    out.push_str(&format!(
        "{:<20} {:<7} {:>7} {:>6} {:>7} {:>7} {:>6} {:>9} {:>9} {:>6} {:>10}\n",
        "scenario", "peer", "launch", "dns", "holder", "attach", "mount", "dns wait", "caught up", "hook", "bootstrap"
    ));
    for s in &r.scenarios {
        for p in &s.replacements {
            out.push_str(&format!(
                "{:<20} {:<7} {:>7} {:>6} {:>7} {:>7} {:>6} {:>9} {:>9} {:>6} {:>10}\n",
                s.name,
                format!("peer-{}", p.peer),
                opt(p.launch_ms),
                opt(p.dns_ms),
                opt(p.holder_ms),
                opt(p.attach_ms),
                opt(p.mount_ms),
                opt(p.dns_wait_ms),
                opt(p.catch_up_ms),
                opt(p.hook_ms),
                opt(p.bootstrap_ms)
            ));
        }
    }
    let mut targets = String::new();
    for s in &r.scenarios {
        for t in &s.targets {
            targets.push_str(&format!(
                "{:<20} {:<55} {:>9.0} {:>9.0}  {}\n",
                s.name,
                t.what,
                t.value,
                t.limit,
                if t.met { "met" } else { "MISSED" }
            ));
        }
        for v in &s.violations {
            targets.push_str(&format!("{:<20} FAILED: {v}\n", s.name));
        }
        if let Some(rf) = &s.restored_from {
            let after = match rf.rolled_back {
                Some(n) => {
                    format!("the {n} acknowledged after it and before `steadfast restore` ran are gone, as asked")
                }
                None => format!("the {} acknowledged after it went with the volumes", rf.writes_after),
            };
            targets.push_str(&format!(
                "{:<20} note: restored from {} (revision {}); every write acknowledged at or before it was kept, {after}\n",
                s.name, rf.snapshot, rf.revision
            ));
        }
        if let Some(c) = &s.client_endpoint {
            targets.push_str(&format!(
                "{:<20} note: through the client endpoint: {} acknowledged, {} failed, {} lost, p50 {:.1} ms{}\n",
                s.name,
                c.writes_acked,
                c.writes_failed,
                c.writes_lost,
                c.write_p50_ms,
                c.first_failure
                    .as_ref()
                    .map(|f| format!(", first failure: {f}"))
                    .unwrap_or_default()
            ));
        }
        for n in &s.notes {
            targets.push_str(&format!("{:<20} note: {n}\n", s.name));
        }
    }
    if !targets.is_empty() {
        out.push_str(&format!(
            "\ntargets\n{:<20} {:<55} {:>9} {:>9}\n{targets}",
            "scenario", "target", "value", "limit"
        ));
    }
    if let Some(reach) = &r.reach {
        out.push_str(&format!("\n{}\n", reach_line(reach)));
    }
    if let Some(c) = &r.tls_cost {
        let pct = |tls: f64, plain: f64| if plain > 0.0 { (tls / plain - 1.0) * 100.0 } else { 0.0 };
        out.push_str(&format!(
            "\ntls cost (same run: {} members each, {} writers, {:.0} s each side, in turns)\n",
            c.members, c.writers, c.seconds
        ));
        out.push_str(&format!("{:<8} {:>8} {:>8} {:>8}\n", "", "writes", "p50 ms", "p99 ms"));
        for (name, side) in [("plain", &c.plain), ("tls", &c.tls)] {
            out.push_str(&format!(
                "{:<8} {:>8} {:>8.1} {:>8.1}\n",
                name, side.writes, side.p50_ms, side.p99_ms
            ));
        }
        out.push_str(&format!(
            "TLS adds {:+.0} % at p50, {:+.0} % at p99\n",
            pct(c.tls.p50_ms, c.plain.p50_ms),
            pct(c.tls.p99_ms, c.plain.p99_ms),
        ));
    }
    out
}

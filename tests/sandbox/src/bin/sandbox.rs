//! `sandbox`: the local region. See `sandbox --help` and the README.
#![recursion_limit = "256"]

use std::io::Write;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use steadfast_core::vocab::Step;
use steadfast_sandbox::config;
use steadfast_sandbox::privileges::which;
use steadfast_sandbox::supervisor::event_log::{Event, Logged};
use steadfast_sandbox::SandboxError;
use steadfast_sandbox::{state, status, supervisor, teardown};

#[derive(Debug, Parser)]
#[command(
    name = "sandbox",
    about = "steadfast's local region: the whole system on one machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Bring the region up and show the live view until Ctrl-C, then tear it down.
    Up {
        /// Return 0 once all peers are healthy and leave the region running in the background.
        #[arg(long)]
        detach: bool,
        /// How long to wait for all peers to be healthy.
        #[arg(long, env = "STEADFAST_SANDBOX_UP_TIMEOUT_SECS", default_value_t = 240)]
        timeout_secs: u64,
        /// The sweep schedule (EventBridge stand-in).
        #[arg(long, env = "STEADFAST_SANDBOX_SWEEP_SECS", default_value_t = 60)]
        sweep_secs: u64,
        /// Timing profile: `sandbox` (the stand-ins as fast as they are) or `aws` (a real
        /// region's delays; each a `STEADFAST_AWS_*` knob).
        #[arg(long, env = "STEADFAST_SANDBOX_PROFILE", default_value = "sandbox")]
        profile: String,
        /// Mutual TLS on etcd's ports (the default); `false`: plain http.
        #[arg(long, env = "STEADFAST_SANDBOX_TLS", default_value_t = true, action = clap::ArgAction::Set)]
        tls: bool,
    },
    /// Run chaos scenarios under client load on a fresh region and report (make chaos).
    Chaos {
        /// Scenarios (`kill-leader`, ..., `api-throttle`, `wipe-one`, `wipe-all`, `split-brain`),
        /// or `all`.
        #[arg(default_value = "all")]
        scenarios: Vec<String>,
        /// Timing profile: `sandbox` or `aws`.
        #[arg(long, env = "STEADFAST_SANDBOX_PROFILE", default_value = "sandbox")]
        profile: String,
        /// Where report.json, the charts and index.html go (default: <target dir>/chaos for the
        /// sandbox profile, <target dir>/chaos/<profile> for another).
        #[arg(long, env = "STEADFAST_CHAOS_OUT")]
        out: Option<std::path::PathBuf>,
        /// Leave the region running afterwards.
        #[arg(long)]
        keep: bool,
        /// Mutual TLS on etcd's ports (the default); `false`: plain http.
        #[arg(long, env = "STEADFAST_SANDBOX_TLS", default_value_t = true, action = clap::ArgAction::Set)]
        tls: bool,
    },
    /// The peers' status; `--json` for scripts.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Terminate instances in moto (the ASG replaces them): `peer-N` or `zone-a|b|c` (or `zone-0|1|2`).
    Kill {
        target: String,
        /// SIGKILL the node's processes first, as a power loss would.
        #[arg(long)]
        hard: bool,
    },
    /// The on-demand snapshot: `node-bootstrap backup --now` on a node (default: the leader's),
    /// with that node's environment; prints its report (the verified snapshot's manifest).
    Backup {
        /// `peer-N`; default the leader.
        peer: Option<String>,
    },
    /// Wipe a peer's volume (an EBS failure): the hypervisor zeroes it the next time no instance
    /// has it. `sandbox kill peer-N` then makes its replacement find it blank and heal.
    Wipe { peer: String },
    /// Run a command inside the region's namespaces (etcdctl is on its PATH).
    Exec {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// Tear down processes, loop devices, mounts, namespaces and files, even after a crash.
    Down,
    /// The supervisor itself (started by `up`).
    #[command(hide = true, name = "__supervise")]
    Supervise {
        #[arg(long, default_value_t = 60)]
        sweep_secs: u64,
        #[arg(long, default_value = "sandbox")]
        profile: String,
        /// The nodes' backup timer (s; at least 60, node-bootstrap's own minimum); 0: off.
        #[arg(long, env = "STEADFAST_SANDBOX_BACKUP_SECS", default_value_t = 60)]
        backup_secs: u64,
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        tls: bool,
        /// The nodes' TLS timer (`node-bootstrap tls`: renewal, a CA rotation's restarts; s).
        #[arg(long, env = "STEADFAST_SANDBOX_TLS_SECS", default_value_t = 30)]
        tls_secs: u64,
        /// The peers' certificate validity (s); default node-bootstrap's (30 days).
        #[arg(long, env = "STEADFAST_TLS_CERT_VALIDITY_SECS")]
        cert_validity_secs: Option<i64>,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime, SandboxError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(SandboxError::io("tokio runtime"))
}

fn preflight() -> Result<(), SandboxError> {
    if let Some(what) = steadfast_sandbox::privileges::missing_for_block_devices() {
        return Err(SandboxError::Setup(format!("the sandbox needs {what}")));
    }
    for tool in ["ip", "dnsmasq"] {
        if which(tool).is_none() {
            return Err(SandboxError::Setup(format!(
                "the sandbox needs the {tool} command (make deps)"
            )));
        }
    }
    supervisor::Bins::locate()?;
    steadfast_sandbox::paths::moto_launcher()?;
    steadfast_sandbox::paths::cargo_lambda()?;
    Ok(())
}

/// A signal that stopped `up`: its name and the exit code an interrupted command reports
/// (128 + the signal number).
#[derive(Clone, Copy)]
struct Stopped(&'static str, u8);

/// SIGINT and SIGTERM, for the whole life of `up`: Ctrl-C while coming up tears down too (the
/// supervisor runs in its own process group and would outlive us).
struct Stop {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Stop {
    fn new(rt: &tokio::runtime::Runtime) -> Self {
        rt.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            Self {
                int: signal(SignalKind::interrupt()).ok(),
                term: signal(SignalKind::terminate()).ok(),
            }
        })
    }

    /// Waits for either signal; names it.
    async fn recv(&mut self) -> Stopped {
        async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
            match s.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = one(&mut self.int) => Stopped("interrupted", 130),
            _ = one(&mut self.term) => Stopped("terminated", 143),
        }
    }
}

/// Starts the supervisor (this binary, `__supervise`) in its own process group, logging to the
/// state dir.
fn start_supervisor(
    dir: &std::path::Path,
    sweep_secs: u64,
    profile: &str,
    tls: bool,
) -> Result<std::process::Child, SandboxError> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(SandboxError::io("current_exe"))?;
    let log = std::fs::File::create(dir.join("supervisor.log")).map_err(SandboxError::io("supervisor.log"))?;
    let log2 = log.try_clone().map_err(SandboxError::io("supervisor.log"))?;
    std::process::Command::new(exe)
        .args([
            "__supervise",
            "--sweep-secs",
            &sweep_secs.to_string(),
            "--profile",
            profile,
            "--tls",
            if tls { "true" } else { "false" },
        ])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(SandboxError::io("start supervisor"))
}

/// Why `up` stopped waiting for a healthy region.
enum NotUp {
    /// The region did not come up: the reason.
    Failed(String),
    /// The user stopped it (SIGINT/SIGTERM): which signal.
    Stopped(Stopped),
}

/// Prints progress until every peer is healthy; the reason when it is not within `timeout`.
async fn wait_healthy(
    sup: &mut std::process::Child,
    stop: &mut Stop,
    timeout: Duration,
) -> Result<steadfast_core::status::ClusterStatus, NotUp> {
    let cluster = config::cluster().map_err(|e| NotUp::Failed(e.to_string()))?;
    let t0 = Instant::now();
    let mut last = String::new();
    loop {
        if let Ok(Some(st)) = sup.try_wait() {
            return Err(NotUp::Failed(format!(
                "the supervisor exited ({st}) before the region was healthy"
            )));
        }
        let s = status::gather(&cluster).await;
        let count = |f: fn(&steadfast_core::status::PeerRow) -> bool| s.peers.iter().filter(|p| f(p)).count();
        let counts = format!(
            "instances {}/9, volumes attached {}/9, etcd members healthy {}/9",
            count(|p| p.instance_id.is_some()),
            count(|p| p.attached_to.is_some()),
            count(|p| p.healthy)
        );
        // Print only when the counts change.
        if counts != last {
            eprintln!("[{:>5.1}s] {counts}", t0.elapsed().as_secs_f64());
            last = counts;
        }
        if s.healthy {
            eprintln!("sandbox: all 9 peers healthy after {:.1}s", t0.elapsed().as_secs_f64());
            return Ok(s);
        }
        if t0.elapsed() > timeout {
            return Err(NotUp::Failed(format!(
                "not all peers were healthy after {timeout:?}:\n{}",
                s.table()
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            why = stop.recv() => return Err(NotUp::Stopped(why)),
        }
    }
}

/// The live table every 2 s until a signal, or the supervisor exits; says which.
async fn live_view(sup: &mut std::process::Child, stop: &mut Stop) -> String {
    let Ok(cluster) = config::cluster() else {
        return "no cluster".into();
    };
    loop {
        let s = status::gather(&cluster).await;
        print!("\x1b[2J\x1b[H{}\n(Ctrl-C tears the region down)\n", s.table());
        let _ = std::io::stdout().flush();
        if let Ok(Some(st)) = sup.try_wait() {
            return format!("the supervisor exited ({st})");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            why = stop.recv() => return why.0.to_string(),
        }
    }
}

/// Says why the region did not come up (with the supervisor's last lines and the first node
/// failures), then tears it down.
fn report_failed_start(dir: &std::path::Path, reason: &str) -> Result<(), SandboxError> {
    let tail = std::fs::read_to_string(dir.join("supervisor.log")).unwrap_or_default();
    let tail: Vec<&str> = tail.lines().rev().take(15).collect();
    eprintln!("sandbox: could not come up: {reason}");
    eprintln!(
        "supervisor log (last lines):\n{}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    if let Ok(ev) = std::fs::read_to_string(dir.join("events.jsonl")) {
        let fails: Vec<&str> = ev
            .lines()
            .filter(|l| Logged::parse(l).is_some_and(|e| matches!(e.event, Event::Node { step: Step::Failed, .. })))
            .take(3)
            .collect();
        if !fails.is_empty() {
            eprintln!("node failures:\n{}", fails.join("\n"));
        }
    }
    eprintln!("sandbox: cleaning up after the failed start");
    for line in teardown::down()? {
        eprintln!("  {line}");
    }
    Ok(())
}

fn up(detach: bool, timeout: Duration, sweep_secs: u64, profile: &str, tls: bool) -> Result<ExitCode, SandboxError> {
    preflight()?;
    steadfast_sandbox::profile::Profile::named(profile)?;
    if state::netns_exists() || state::state_dir().exists() {
        eprintln!("sandbox: cleaning up a previous sandbox first");
        teardown::down()?;
    }
    let dir = state::state_dir();
    std::fs::create_dir_all(&dir).map_err(SandboxError::io(format!("mkdir {}", dir.display())))?;
    state::create_netns()?;
    state::enter_netns()?;
    // The runtime's threads must start inside the namespace (setns is per thread). The signal
    // handlers go in before the supervisor starts, so a Ctrl-C from here on always tears down
    // (it waits in the handler until `wait_healthy` looks).
    let rt = runtime()?;
    let mut stop = Stop::new(&rt);
    let mut sup = start_supervisor(&dir, sweep_secs, profile, tls)?;
    eprintln!(
        "sandbox: region starting in network namespace {} (state in {})",
        state::name(),
        dir.display()
    );
    match rt.block_on(wait_healthy(&mut sup, &mut stop, timeout)) {
        Err(NotUp::Failed(reason)) => {
            report_failed_start(&dir, &reason)?;
            Ok(ExitCode::from(1))
        }
        // Asked to stop before the region was up: not a failed start. Tear down and exit the
        // way an interrupted command does (128 + the signal).
        Err(NotUp::Stopped(Stopped(why, code))) => {
            eprintln!("sandbox: {why} while coming up; tearing down");
            for line in teardown::down()? {
                eprintln!("  {line}");
            }
            Ok(ExitCode::from(code))
        }
        Ok(s) => {
            println!("{}", s.table());
            eprintln!("event log: {}", dir.join("events.jsonl").display());
            if detach {
                eprintln!("sandbox: running in the background; `sandbox down` stops it");
                return Ok(ExitCode::SUCCESS);
            }
            eprintln!(
                "talk to it from another terminal: sandbox exec -- etcdctl --discovery-srv {}.{} put k v",
                config::CLUSTER,
                config::DOMAIN
            );
            let why = rt.block_on(live_view(&mut sup, &mut stop));
            eprintln!("sandbox: {why}; tearing down");
            for line in teardown::down()? {
                eprintln!("  {line}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A fresh region, the scenarios in order, the report; then down (unless `keep`). Exit 1 when a
/// scenario lost a write, saw a stale read or never healed.
fn chaos_cmd(
    names: &[String],
    profile: &str,
    out: Option<std::path::PathBuf>,
    keep: bool,
    tls: bool,
) -> Result<ExitCode, SandboxError> {
    use steadfast_sandbox::chaos::{self, scenarios::Scenario};
    let scenarios: Vec<Scenario> = if names.iter().any(|n| n == "all") {
        Scenario::ALL.to_vec()
    } else {
        names.iter().map(|n| Scenario::parse(n)).collect::<Result<_, _>>()?
    };
    let p = steadfast_sandbox::profile::Profile::named(profile)?;
    if let Some(s) = scenarios.iter().find(|s| s.needs_tls() && !tls) {
        return Err(SandboxError::Setup(format!(
            "{} needs TLS (drop --tls false)",
            s.name()
        )));
    }
    if scenarios.contains(&Scenario::CertRenewal) {
        // Renewal within the scenario: 2-minute certificates (renewed with a third left, 40 s)
        // and the nodes' TLS timer every 15 s, unless set. Every scenario of the run then runs
        // with certificates renewing under it.
        for (var, v) in [
            (steadfast_core::vocab::env::TLS_CERT_VALIDITY_SECS, "120"),
            ("STEADFAST_SANDBOX_TLS_SECS", "15"),
        ] {
            if std::env::var_os(var).is_none() {
                eprintln!("sandbox chaos: {var}={v} (cert-renewal)");
                std::env::set_var(var, v);
            }
        }
    }
    let slow = p.name == "aws";
    let up_timeout = Duration::from_secs(if slow { 900 } else { 240 });
    if up(true, up_timeout, 60, profile, tls)? != ExitCode::SUCCESS {
        return Ok(ExitCode::from(1));
    }
    let opts = chaos::Options {
        scenarios,
        out_dir: out.unwrap_or_else(|| {
            // The sandbox profile's report is target/chaos/report.json; another profile's sits
            // beside it, in target/chaos/<profile>/.
            let base = steadfast_sandbox::paths::target_dir().join("chaos");
            if p.name == "sandbox" {
                base
            } else {
                base.join(p.name)
            }
        }),
        events: state::state_dir().join("events.jsonl"),
        heal_timeout: Duration::from_secs(if slow { 1200 } else { 240 }),
        profile: p,
        etcd_timing: config::etcd_timing()?,
    };
    let cluster = config::cluster()?;
    let result = runtime()?.block_on(chaos::run(&cluster, &opts));
    if !keep {
        for line in teardown::down()? {
            eprintln!("  {line}");
        }
    }
    let report = result?;
    println!("{}", chaos::report::table(&report));
    eprintln!("chaos: report in {}", opts.out_dir.display());
    Ok(if report.scenarios.iter().all(|s| s.passed()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn kill_cmd(target: &str, hard: bool) -> Result<ExitCode, SandboxError> {
    use steadfast_sandbox::chaos::faults;
    let cluster = config::cluster()?;
    let peers = config::parse_target(&cluster, target)?;
    let rt = runtime()?;
    rt.block_on(async {
        for p in peers {
            if faults::node(p).is_err() {
                eprintln!("peer-{p}: no running node; skipped");
                continue;
            }
            if hard {
                let node = faults::power_off(p)?;
                eprintln!("peer-{p}: SIGKILLed node processes (group {})", node.pgid);
            }
            let id = faults::terminate(p).await?;
            println!("peer-{p}: terminated {id}");
        }
        Ok::<_, SandboxError>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn one_peer(cluster: &steadfast_core::Cluster, target: &str) -> Result<steadfast_core::PeerIndex, SandboxError> {
    match config::parse_target(cluster, target)?.as_slice() {
        [p] => Ok(*p),
        _ => Err(SandboxError::Setup(format!("{target}: name one peer (peer-N)"))),
    }
}

fn backup_cmd(peer: Option<&str>) -> Result<ExitCode, SandboxError> {
    use steadfast_sandbox::chaos::faults;
    let cluster = config::cluster()?;
    runtime()?.block_on(async {
        let p = match peer {
            Some(t) => one_peer(&cluster, t)?,
            None => faults::leader(&cluster)
                .await
                .ok_or_else(|| SandboxError::Setup("no leader answers; name a peer".into()))?,
        };
        let report = faults::backup_now(p).await?;
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        Ok(ExitCode::SUCCESS)
    })
}

fn wipe_cmd(peer: &str) -> Result<ExitCode, SandboxError> {
    use steadfast_sandbox::chaos::faults;
    let cluster = config::cluster()?;
    let p = one_peer(&cluster, peer)?;
    let v = runtime()?.block_on(faults::wipe(&cluster, p))?;
    println!("peer-{p}: volume {v} will be wiped the next time no instance has it (sandbox kill peer-{p})");
    Ok(ExitCode::SUCCESS)
}

fn exec_cmd(command: &[String]) -> Result<ExitCode, SandboxError> {
    use steadfast_sandbox::chaos::faults;
    let dir = state::state_dir();
    let resolv = dir.join("resolv.conf");
    config::write_resolv_conf(&resolv)?;
    let etcd = steadfast_sandbox::paths::etcd_bin_dir()?;
    // `steadfast` (beside this binary) on the PATH too, with the region's cloud in its
    // environment: `sandbox exec -- steadfast restore ...` acts on the region as an operator.
    let own = faults::steadfast_bin()?
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let path = format!("{}:{own}:{}", etcd.display(), std::env::var("PATH").unwrap_or_default());
    let operator_env = faults::steadfast_env(&config::cluster()?);
    // With TLS, etcdctl gets the operator's client certificate (issued from the cluster's CA,
    // as `steadfast cert issue` issues one) through its ETCDCTL_* variables.
    let creds = runtime()?.block_on(async {
        let op = steadfast_sandbox::operator::current().await?;
        op.write_files(&dir.join("operator")).await
    })?;
    let status = std::process::Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &format!("mount --bind {} /etc/resolv.conf && exec \"$@\"", resolv.display()),
            "sh",
        ])
        .args(command)
        .envs(operator_env)
        .envs(creds)
        .env("PATH", path)
        .status()
        .map_err(SandboxError::io("unshare"))?;
    Ok(ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Cmd::Up {
            detach,
            timeout_secs,
            sweep_secs,
            profile,
            tls,
        } => up(detach, Duration::from_secs(timeout_secs), sweep_secs, &profile, tls),
        Cmd::Chaos {
            scenarios,
            profile,
            out,
            keep,
            tls,
        } => chaos_cmd(&scenarios, &profile, out, keep, tls),
        Cmd::Down => teardown::down().map(|did| {
            for l in &did {
                eprintln!("  {l}");
            }
            eprintln!(
                "sandbox: down{}",
                if did.is_empty() { " (nothing was running)" } else { "" }
            );
            ExitCode::SUCCESS
        }),
        Cmd::Status { json } => state::enter_netns().and_then(|_| {
            let rt = runtime()?;
            let cluster = config::cluster()?;
            let s = rt.block_on(status::gather(&cluster));
            if json {
                println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            } else {
                print!("{}", s.table());
            }
            Ok(if s.healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }),
        Cmd::Kill { target, hard } => state::enter_netns().and_then(|_| kill_cmd(&target, hard)),
        Cmd::Exec { command } => state::enter_netns().and_then(|_| exec_cmd(&command)),
        Cmd::Backup { peer } => state::enter_netns().and_then(|_| backup_cmd(peer.as_deref())),
        Cmd::Wipe { peer } => state::enter_netns().and_then(|_| wipe_cmd(&peer)),
        Cmd::Supervise {
            sweep_secs,
            profile,
            backup_secs,
            tls,
            tls_secs,
            cert_validity_secs,
        } => runtime().and_then(|rt| {
            let backup_every = match backup_secs {
                0 => None,
                60.. => Some(Duration::from_secs(backup_secs)),
                s => {
                    return Err(SandboxError::Setup(format!(
                        "STEADFAST_SANDBOX_BACKUP_SECS={s}: 0 (off) or at least 60"
                    )))
                }
            };
            rt.block_on(supervisor::supervise(supervisor::Options {
                sweep_every: Duration::from_secs(sweep_secs),
                volume_mib: 256,
                profile: steadfast_sandbox::profile::Profile::named(&profile)?,
                backup_every,
                transport: steadfast_core::vocab::Transport::from_flag(tls),
                tls_every: (tls_secs > 0).then(|| Duration::from_secs(tls_secs)),
                cert_validity_secs,
            }))
            .map(|_| ExitCode::SUCCESS)
        }),
    };
    match r {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sandbox: {e}");
            ExitCode::from(1)
        }
    }
}

//! `sandbox up`: the region in the foreground (or `--detach`ed), its progress while it comes
//! up, the live view, and the teardown on Ctrl-C; and `__supervise`, the supervisor process it
//! starts in a process group of its own.

use std::io::Write;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use steadfast_core::status::{ClusterStatus, PeerRow};
use steadfast_core::vocab::Step;

use super::{preflight, runtime};
use crate::config::{self, env_vars};
use crate::error::{Result, SandboxError};
use crate::supervisor::event_log::{Event, Logged};
use crate::{state, supervisor, teardown};

#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Return 0 once all peers are healthy and leave the region running in the background.
    #[arg(long)]
    pub detach: bool,
    /// How long to wait for all peers to be healthy.
    #[arg(long, env = env_vars::UP_TIMEOUT_SECS, default_value_t = 240)]
    pub timeout_secs: u64,
    /// The sweep schedule (EventBridge stand-in).
    #[arg(long, env = env_vars::SWEEP_SECS, default_value_t = 60)]
    pub sweep_secs: u64,
    #[command(flatten)]
    pub region: RegionArgs,
}

/// The region's shape and how its bring-up is watched, for `up` and `chaos` alike.
#[derive(Debug, Clone, clap::Args)]
pub struct RegionArgs {
    /// Timing profile: `sandbox` (the stand-ins as fast as they are) or `aws` (a real
    /// region's delays; each a `STEADFAST_AWS_*` knob).
    #[arg(long, env = env_vars::PROFILE, default_value = "sandbox")]
    pub profile: String,
    /// Mutual TLS on etcd's ports (the default); `false`: plain http.
    #[arg(long, env = env_vars::TLS, default_value_t = true, action = clap::ArgAction::Set)]
    pub tls: bool,
    /// The LAUNCHING hook's heartbeat timeout (s), in the region and on every node (the
    /// module's default: 300).
    #[arg(long, env = env_vars::HOOK_TIMEOUT_SECS, default_value_t = 300)]
    pub hook_timeout_secs: u32,
    /// A bring-up that makes no progress (no change in the healthy count, the instances' states,
    /// the attachments or the records) for this long is a stall: each peer that is not healthy
    /// is named with what it waits on, the evidence is kept, and the command fails. Default:
    /// 120 s in the `sandbox` profile, twice the hook's timeout in another.
    #[arg(long, env = env_vars::STALL_SECS)]
    pub stall_secs: Option<u64>,
    /// Where a failed or interrupted bring-up's evidence goes (`bring-up-<time>/` in it: the
    /// event log, every log, every node's log). Default: `<target dir>/evidence`.
    #[arg(long, env = env_vars::EVIDENCE)]
    pub evidence: Option<std::path::PathBuf>,
    /// `peer-N`: the resolver never learns a new address for that peer's name (a Route 53 change
    /// that never propagates), so its node waits on it: how a stall looks, on purpose.
    #[arg(long, env = env_vars::HOLD_DNS)]
    pub hold_dns: Option<String>,
    /// The region as the Terraform module makes it: `terraform apply` of
    /// terraform/examples/local (TLS on) against the region's moto (scripts/tf-local.sh), the
    /// nodes configured by the launch template's user-data and held to the module's
    /// required_vpc_endpoints. About two minutes longer to come up; `sandbox redeploy` destroys
    /// it and applies it again.
    #[arg(long, env = env_vars::TERRAFORM, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub terraform: bool,
}

impl RegionArgs {
    /// The stall bound in `profile`.
    pub fn stall(&self, profile: &str) -> Duration {
        Duration::from_secs(self.stall_secs.unwrap_or(if profile == "sandbox" {
            120
        } else {
            2 * u64::from(self.hook_timeout_secs)
        }))
    }

    /// Where evidence goes.
    pub fn evidence_dir(&self) -> std::path::PathBuf {
        self.evidence
            .clone()
            .unwrap_or_else(|| crate::paths::target_dir().join("evidence"))
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct SuperviseArgs {
    #[arg(long, default_value_t = 60)]
    pub sweep_secs: u64,
    #[arg(long, default_value = "sandbox")]
    pub profile: String,
    /// The nodes' backup timer (s; at least 60, node-bootstrap's own minimum); 0: off.
    #[arg(long, env = env_vars::BACKUP_SECS, default_value_t = 60)]
    pub backup_secs: u64,
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub tls: bool,
    /// The nodes' TLS timer (`node-bootstrap tls`: renewal, a CA rotation's restarts; s).
    #[arg(long, env = env_vars::TLS_SECS, default_value_t = 30)]
    pub tls_secs: u64,
    /// The peers' certificate validity (s); default node-bootstrap's (30 days).
    #[arg(long, env = steadfast_core::vocab::env::TLS_CERT_VALIDITY_SECS)]
    pub cert_validity_secs: Option<i64>,
    #[arg(long, default_value_t = 300)]
    pub hook_timeout_secs: u32,
    #[arg(long)]
    pub hold_dns: Option<String>,
    #[arg(long)]
    pub terraform: bool,
}

/// `__supervise`: runs the region's supervisor until SIGTERM.
pub fn supervise(a: &SuperviseArgs) -> Result<ExitCode> {
    let backup_every = match a.backup_secs {
        0 => None,
        60.. => Some(Duration::from_secs(a.backup_secs)),
        s => {
            return Err(SandboxError::Setup(format!(
                "{}={s}: 0 (off) or at least 60",
                env_vars::BACKUP_SECS
            )))
        }
    };
    let hold_dns = match &a.hold_dns {
        Some(t) => Some(super::one_peer(&config::cluster()?, t)?),
        None => None,
    };
    runtime()?.block_on(supervisor::supervise(supervisor::Options {
        sweep_every: Duration::from_secs(a.sweep_secs),
        volume_mib: 256,
        profile: crate::profile::Profile::named(&a.profile)?,
        backup_every,
        transport: steadfast_core::vocab::Transport::from_flag(a.tls),
        tls_every: (a.tls_secs > 0).then(|| Duration::from_secs(a.tls_secs)),
        cert_validity_secs: a.cert_validity_secs,
        hook_timeout_secs: a.hook_timeout_secs,
        hold_dns,
        terraform: a.terraform,
    }))?;
    Ok(ExitCode::SUCCESS)
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
fn start_supervisor(dir: &std::path::Path, sweep_secs: u64, region: &RegionArgs) -> Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(SandboxError::io("current_exe"))?;
    let log = std::fs::File::create(dir.join("supervisor.log")).map_err(SandboxError::io("supervisor.log"))?;
    let log2 = log.try_clone().map_err(SandboxError::io("supervisor.log"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "__supervise",
        "--sweep-secs",
        &sweep_secs.to_string(),
        "--profile",
        &region.profile,
        "--tls",
        if region.tls { "true" } else { "false" },
        "--hook-timeout-secs",
        &region.hook_timeout_secs.to_string(),
    ]);
    if let Some(p) = &region.hold_dns {
        cmd.args(["--hold-dns", p]);
    }
    if region.terraform {
        cmd.arg("--terraform");
    }
    cmd.process_group(0)
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
    /// Nothing changed for the stall bound: who waits on what.
    Stalled(String),
    /// The user stopped it (SIGINT/SIGTERM): which signal.
    Stopped(Stopped),
}

/// What a bring-up's progress is judged by: every peer's instance, its lifecycle state, its
/// volume's holder, its name's answer and its member's health. Nothing of it changing for the
/// stall bound is a stall.
fn fingerprint(s: &ClusterStatus) -> Vec<String> {
    s.peers
        .iter()
        .map(|p| {
            format!(
                "{}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{}",
                p.peer, p.instance_id, p.lifecycle, p.attached_to, p.record, p.dns, p.healthy, p.learner
            )
        })
        .collect()
}

/// One line per peer that is not healthy: its lifecycle state, the last step its node finished
/// (from the event log) and its node's last log line.
pub(crate) fn stall_report(s: &ClusterStatus) -> String {
    let dir = state::state_dir();
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap_or_default();
    let events = Logged::parse_all(&events);
    let nodes = state::read_nodes();
    let mut out = Vec::new();
    for p in s.peers.iter().filter(|p| !p.healthy) {
        let id = p.instance_id.clone().unwrap_or_default();
        let last_step = events
            .iter()
            .rev()
            .find_map(|e| match &e.event {
                Event::Node { step, instance_id, .. } if *instance_id == id => {
                    Some(format!("{step} at {:.1} s", e.t_ms / 1000.0))
                }
                _ => None,
            })
            .unwrap_or_else(|| "none yet".into());
        let last_line = nodes
            .get(&id)
            .and_then(|n| std::fs::read_to_string(&n.log).ok())
            .and_then(|t| t.lines().rev().find(|l| !l.trim().is_empty()).map(str::to_string))
            .unwrap_or_else(|| "(no node log)".into());
        out.push(format!(
            "  peer-{}: {} {}, volume attached to {}, name answers {}; its node's last step: {last_step}; its last log line: {last_line}",
            p.peer,
            if id.is_empty() { "no instance" } else { &id },
            p.lifecycle.as_deref().unwrap_or("-"),
            p.attached_to.as_deref().unwrap_or("nothing"),
            p.dns.as_deref().unwrap_or("-"),
        ));
    }
    out.join("\n")
}

/// Prints progress until every peer is healthy; the reason when it is not within `timeout`.
async fn wait_healthy(
    sup: &mut std::process::Child,
    stop: &mut Stop,
    timeout: Duration,
    stall: Duration,
) -> Result<ClusterStatus, NotUp> {
    let cluster = config::cluster().map_err(|e| NotUp::Failed(e.to_string()))?;
    wait_created(sup, stop, stall).await?;
    let t0 = Instant::now();
    let mut last = String::new();
    let mut seen: (Vec<String>, Instant) = (vec![], Instant::now());
    loop {
        if let Ok(Some(st)) = sup.try_wait() {
            return Err(NotUp::Failed(format!(
                "the supervisor exited ({st}) before the region was healthy"
            )));
        }
        let s = crate::status::gather(&cluster).await;
        let count = |f: fn(&PeerRow) -> bool| s.peers.iter().filter(|p| f(p)).count();
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
        let now = fingerprint(&s);
        if now != seen.0 {
            seen = (now, Instant::now());
        } else if seen.1.elapsed() >= stall {
            return Err(NotUp::Stalled(format!(
                "no progress for {} s (the stall bound) after {:.1} s; who waits on what:\n{}",
                stall.as_secs(),
                t0.elapsed().as_secs_f64(),
                stall_report(&s)
            )));
        }
        if t0.elapsed() > timeout {
            return Err(NotUp::Failed(format!(
                "not all peers were healthy after {timeout:?}:\n{}\n{}",
                s.table(),
                stall_report(&s)
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            why = stop.recv() => return Err(NotUp::Stopped(why)),
        }
    }
}

/// Waits until the supervisor has made (or, with `--terraform`, Terraform has applied) the
/// region: until then nothing else can progress. Progress meanwhile is the event log and
/// Terraform's own log growing ("Still creating..." every 10 s); neither for the stall bound is
/// a stall.
async fn wait_created(sup: &mut std::process::Child, stop: &mut Stop, stall: Duration) -> Result<(), NotUp> {
    let dir = state::state_dir();
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let progress = || {
        (
            size(&dir.join("events.jsonl")),
            size(&dir.join("terraform").join("apply.log")),
            size(&dir.join("terraform").join("tf-local.log")),
        )
    };
    let t0 = Instant::now();
    let mut seen = (progress(), Instant::now());
    let mut said = false;
    while state::read_state().is_none() {
        if let Ok(Some(st)) = sup.try_wait() {
            return Err(NotUp::Failed(format!(
                "the supervisor exited ({st}) before the region was made; its log: {}",
                dir.join("supervisor.log").display()
            )));
        }
        if !said && dir.join("terraform").exists() {
            eprintln!(
                "sandbox: terraform apply of terraform/examples/local (log: {})",
                dir.join("terraform").join("apply.log").display()
            );
            said = true;
        }
        let now = progress();
        if now != seen.0 {
            seen = (now, Instant::now());
        } else if seen.1.elapsed() >= stall {
            return Err(NotUp::Stalled(format!(
                "the region was not made, and nothing moved for {} s (after {:.1} s)",
                stall.as_secs(),
                t0.elapsed().as_secs_f64()
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            why = stop.recv() => return Err(NotUp::Stopped(why)),
        }
    }
    if said {
        eprintln!("sandbox: applied after {:.1}s", t0.elapsed().as_secs_f64());
    }
    Ok(())
}

/// The live table every 2 s until a signal, or the supervisor exits; says which.
async fn live_view(sup: &mut std::process::Child, stop: &mut Stop) -> String {
    let Ok(cluster) = config::cluster() else {
        return "no cluster".into();
    };
    loop {
        let s = crate::status::gather(&cluster).await;
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

/// Copies the region's evidence into `<evidence>/bring-up-<time>/` and says where (before a
/// teardown deletes the state directory).
pub(crate) fn keep_evidence(evidence: &std::path::Path) {
    let at = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    match crate::evidence::keep(&evidence.join(format!("bring-up-{at}"))) {
        Ok(d) => eprintln!(
            "sandbox: the evidence (event log, every log, every node's log) is in {}",
            d.display()
        ),
        Err(e) => eprintln!("sandbox: the evidence could not be kept: {e}"),
    }
}

/// Says why the region did not come up (with the supervisor's last lines and the first node
/// failures), keeps the evidence, then tears it down.
fn report_failed_start(dir: &std::path::Path, reason: &str, evidence: &std::path::Path) -> Result<()> {
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
    keep_evidence(evidence);
    eprintln!("sandbox: cleaning up after the failed start");
    for line in teardown::down()? {
        eprintln!("  {line}");
    }
    Ok(())
}

/// How a bring-up ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every peer healthy; the region runs on (detached) or ran until a signal.
    Healthy { secs: f64 },
    /// It did not come up: why (the evidence was kept, the region torn down).
    Failed(String),
    /// No progress for the stall bound: who waited on what (evidence kept, torn down).
    Stalled(String),
    /// A signal stopped it while coming up (evidence kept, torn down): the exit code.
    Interrupted(u8),
}

impl Outcome {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Outcome::Healthy { .. } => ExitCode::SUCCESS,
            Outcome::Failed(_) | Outcome::Stalled(_) => ExitCode::from(1),
            Outcome::Interrupted(c) => ExitCode::from(*c),
        }
    }
}

pub fn up_with(detach: bool, timeout: Duration, sweep_secs: u64, region: &RegionArgs) -> Result<ExitCode> {
    Ok(bring_up(detach, timeout, sweep_secs, region)?.exit_code())
}

/// Brings a fresh region up and watches it; see [`Outcome`].
pub fn bring_up(detach: bool, timeout: Duration, sweep_secs: u64, region: &RegionArgs) -> Result<Outcome> {
    preflight()?;
    let profile = region.profile.as_str();
    crate::profile::Profile::named(profile)?;
    if let Some(t) = &region.hold_dns {
        super::one_peer(&config::cluster()?, t)?;
    }
    let evidence = region.evidence_dir();
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
    let mut sup = start_supervisor(&dir, sweep_secs, region)?;
    eprintln!(
        "sandbox: region starting in network namespace {} (state in {})",
        state::name(),
        dir.display()
    );
    let t0 = Instant::now();
    match rt.block_on(wait_healthy(&mut sup, &mut stop, timeout, region.stall(profile))) {
        Err(NotUp::Failed(reason)) => {
            report_failed_start(&dir, &reason, &evidence)?;
            Ok(Outcome::Failed(reason))
        }
        Err(NotUp::Stalled(report)) => {
            eprintln!("sandbox: STALLED: {report}");
            report_failed_start(&dir, "stalled (see above)", &evidence)?;
            Ok(Outcome::Stalled(report))
        }
        // Asked to stop before the region was up: not a failed start, but its evidence is kept.
        // Tear down and exit the way an interrupted command does (128 + the signal).
        Err(NotUp::Stopped(Stopped(why, code))) => {
            eprintln!("sandbox: {why} while coming up; tearing down");
            keep_evidence(&evidence);
            for line in teardown::down()? {
                eprintln!("  {line}");
            }
            Ok(Outcome::Interrupted(code))
        }
        Ok(s) => {
            println!("{}", s.table());
            eprintln!("event log: {}", dir.join("events.jsonl").display());
            let secs = t0.elapsed().as_secs_f64();
            if detach {
                eprintln!("sandbox: running in the background; `sandbox down` stops it");
                return Ok(Outcome::Healthy { secs });
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
            Ok(Outcome::Healthy { secs })
        }
    }
}

/// `sandbox up`.
pub fn up(a: &UpArgs) -> Result<ExitCode> {
    up_with(a.detach, Duration::from_secs(a.timeout_secs), a.sweep_secs, &a.region)
}

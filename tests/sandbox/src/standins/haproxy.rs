//! The client load balancer: HAProxy from Debian in TCP mode, standing in for the module's
//! internal NLB. It listens on its own loopback address under the client endpoint's name
//! (`etcd.C.D`, a record in the zone as Terraform's alias), passes TLS through to a member, and
//! checks each target the way the module's target group does (vocab.json `client_lb`: etcd's
//! `/health` on the metrics port, the same interval, timeout and thresholds). Targets are the
//! instances in service, set as the groups' instances come and go ([`ClientLb::set_targets`]:
//! the configuration rewritten, the master told to reload; connections to a removed target end,
//! as the target group's connection termination does).
//!
//! What an NLB does that HAProxy does differently, and how the sandbox settles it: an NLB picks
//! a target per flow by hash and keeps sending flows to a target until its health check fails;
//! HAProxy picks round-robin among the targets it has not marked down, with the same checks. A
//! connection to a dead target is refused at once on loopback, where AWS lets it time out; either
//! way the client tries again on a new connection.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use steadfast_core::vocab::{client_lb, CLIENT_PORT, METRICS_PORT};
use tokio::process::{Child, Command};

use crate::error::{Result, SandboxError};

/// What the master logs each time a configuration has loaded (at start and after each reload).
const LOADED: &str = "Loading success";

/// The load balancer's configuration for `targets` (their client ports; checked on the metrics
/// port), listening on `listen`.
pub fn config(listen: Ipv4Addr, targets: &[(String, Ipv4Addr)]) -> String {
    let mut out = format!(
        "# Written by the sandbox's supervisor (standins/haproxy.rs): the module's client NLB.
global
    maxconn 4096
    hard-stop-after {drain}s
    # Targets going up and down (notice), not every connection (info).
    log stderr format short local0 notice

defaults
    mode tcp
    log global
    timeout connect 2s
    timeout client 1h
    timeout server 1h

frontend etcd-client
    bind {listen}:{CLIENT_PORT}
    default_backend members

backend members
    balance roundrobin
    option httpchk GET {path}
    http-check expect status 200
    timeout check {timeout}s
    default-server check port {METRICS_PORT} inter {interval}s fall {fall} rise {rise} on-marked-down shutdown-sessions
",
        drain = client_lb::DEREGISTRATION_DELAY_SECS,
        path = client_lb::HEALTH_PATH,
        timeout = client_lb::HEALTH_TIMEOUT_SECS,
        interval = client_lb::HEALTH_INTERVAL_SECS,
        fall = client_lb::UNHEALTHY_THRESHOLD,
        rise = client_lb::HEALTHY_THRESHOLD,
    );
    for (id, ip) in targets {
        out.push_str(&format!("    server {id} {ip}:{CLIENT_PORT}\n"));
    }
    out
}

/// The running HAProxy (master-worker) and the targets it has.
#[derive(Debug)]
pub struct ClientLb {
    child: Child,
    cfg: PathBuf,
    log: PathBuf,
    listen: Ipv4Addr,
    targets: Vec<(String, Ipv4Addr)>,
}

impl ClientLb {
    /// Starts HAProxy on `listen` with no target yet; its configuration and log in `dir`.
    pub fn start(listen: Ipv4Addr, dir: &Path) -> Result<Self> {
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(&cfg, config(listen, &[])).map_err(SandboxError::io("write haproxy.cfg"))?;
        let log = std::fs::File::create(dir.join("haproxy.log")).map_err(SandboxError::io("haproxy log"))?;
        let log2 = log.try_clone().map_err(SandboxError::io("haproxy log"))?;
        let child = Command::new("haproxy")
            .args(["-W", "-db", "-f"])
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .kill_on_drop(true)
            .spawn()
            .map_err(SandboxError::io("start haproxy (apt-get install haproxy; make deps)"))?;
        let mut lb = Self {
            child,
            cfg,
            log: dir.join("haproxy.log"),
            listen,
            targets: vec![],
        };
        lb.wait_loaded(1)?;
        Ok(lb)
    }

    /// How many times the master has said a configuration loaded.
    fn loads(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches(LOADED)
            .count()
    }

    /// Waits until the master has loaded a configuration `n` times.
    fn wait_loaded(&mut self, n: usize) -> Result<()> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if self.loads() >= n {
                return Ok(());
            }
            let said = std::fs::read_to_string(&self.log).unwrap_or_default();
            if self.exited() || std::time::Instant::now() > deadline {
                return Err(SandboxError::Setup(format!(
                    "haproxy did not start on {}:{CLIENT_PORT}: {}",
                    self.listen,
                    said.trim()
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The targets now (instance id, address).
    pub fn targets(&self) -> &[(String, Ipv4Addr)] {
        &self.targets
    }

    /// Registers exactly `targets` (instance id, address): when they differ from the current
    /// ones, the configuration is rewritten and HAProxy reloads it (SIGUSR2 to its master).
    /// Whether anything changed.
    pub fn set_targets(&mut self, mut targets: Vec<(String, Ipv4Addr)>) -> Result<bool> {
        targets.sort();
        if targets == self.targets {
            return Ok(false);
        }
        let tmp = self.cfg.with_extension("cfg.tmp");
        std::fs::write(&tmp, config(self.listen, &targets)).map_err(SandboxError::io("write haproxy.cfg"))?;
        std::fs::rename(&tmp, &self.cfg).map_err(SandboxError::io("rename haproxy.cfg"))?;
        self.reload()?;
        self.targets = targets;
        Ok(true)
    }

    /// Tells the master to load its configuration again (SIGUSR2) and waits until it has. A
    /// master only just started can let a reload pass unnoticed: it is asked again until it says
    /// it loaded.
    fn reload(&mut self) -> Result<()> {
        let pid = self
            .child
            .id()
            .ok_or_else(|| SandboxError::Setup("reload haproxy: it has exited".into()))?;
        let want = self.loads() + 1;
        for _ in 0..20 {
            kill(Pid::from_raw(pid as i32), Signal::SIGUSR2)
                .map_err(|e| SandboxError::Setup(format!("reload haproxy ({pid}): {e}")))?;
            let asked = std::time::Instant::now();
            while asked.elapsed() < std::time::Duration::from_millis(250) {
                if self.loads() >= want {
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        self.wait_loaded(want)
    }

    /// The master's process id (0 once it has been reaped).
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Stops HAProxy: SIGTERM to the master, which stops its workers (`kill_on_drop` is the
    /// fallback).
    pub fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while std::time::Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.start_kill();
    }

    /// Whether HAProxy still runs (restarted by the caller otherwise).
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_checks_as_the_module_does() {
        let cfg = config(
            "127.0.60.1".parse().unwrap(),
            &[
                ("i-1".into(), "127.0.1.4".parse().unwrap()),
                ("i-2".into(), "127.0.2.4".parse().unwrap()),
            ],
        );
        assert!(cfg.contains("mode tcp"), "TLS passes through: {cfg}");
        assert!(cfg.contains("bind 127.0.60.1:2379"));
        assert!(cfg.contains("option httpchk GET /health"));
        assert!(cfg.contains("check port 2381 inter 10s fall 2 rise 2"), "{cfg}");
        assert!(cfg.contains("timeout check 5s"));
        assert!(cfg.contains("server i-1 127.0.1.4:2379") && cfg.contains("server i-2 127.0.2.4:2379"));
        // HAProxy itself accepts it (`make deps` installs it; a missing one fails here by name).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, &cfg).unwrap();
        let out = std::process::Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .expect("haproxy is not installed (scripts/deps.sh installs Debian's)");
        assert!(
            out.status.success(),
            "haproxy -c refused the configuration: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

//! `run`: prepare, start etcd with the written environment, wait for readiness, then wait on
//! etcd and forward SIGTERM/SIGINT to it; SIGHUP restarts etcd (a graceful stop, then the same
//! environment again), as `systemctl restart etcd-member` does on a node. Used by the sandbox
//! and containers; systemd runs prepare and ready as separate units around etcd-member.service
//! instead. `run` writes its pid next to the environment file ([`pid_file`]), so a restart
//! command can signal it (`kill -HUP "$(cat <pid file>)"`).

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use steadfast_core::vocab::Step;
use tokio::process::Command;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{info, warn};

use crate::envfile;
use crate::error::{BootstrapError, Result};

/// Starts etcd with the variables of `env_file` (on top of this process's environment).
pub fn spawn_etcd(etcd_bin: &Path, env_file: &Path) -> Result<tokio::process::Child> {
    let text = std::fs::read_to_string(env_file).map_err(BootstrapError::io(env_file))?;
    let vars = envfile::parse(&text);
    let child = Command::new(etcd_bin)
        .envs(vars)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(BootstrapError::io(etcd_bin))?;
    info!(step = %Step::EtcdStarted, pid = child.id().unwrap_or_default(), bin = %etcd_bin.display(), "etcd started");
    Ok(child)
}

/// Where `run` writes its pid: beside etcd's environment file.
pub fn pid_file(env_file: &Path) -> std::path::PathBuf {
    env_file.with_file_name("run.pid")
}

/// How long a restart waits for etcd to stop (it moves leadership away first) before SIGKILL.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// Waits for etcd to exit, forwarding SIGTERM and SIGINT; on SIGHUP stops it gracefully and
/// starts it again from `env_file`. Returns its exit code.
pub async fn supervise(mut child: tokio::process::Child, etcd_bin: &Path, env_file: &Path) -> Result<i32> {
    let mut term = signal(SignalKind::terminate()).map_err(BootstrapError::io("SIGTERM handler"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(BootstrapError::io("SIGINT handler"))?;
    let mut hup = signal(SignalKind::hangup()).map_err(BootstrapError::io("SIGHUP handler"))?;
    loop {
        let pid = child.id().map(|p| Pid::from_raw(p as i32));
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(BootstrapError::io("wait for etcd"))?;
                info!(step = %Step::EtcdExited, status = %status, "etcd exited");
                return Ok(status.code().unwrap_or(128 + 9));
            }
            _ = term.recv() => forward(pid, Signal::SIGTERM),
            _ = int.recv() => forward(pid, Signal::SIGINT),
            _ = hup.recv() => {
                info!(step = %Step::Restart, "SIGHUP: restarting etcd");
                forward(pid, Signal::SIGTERM);
                match tokio::time::timeout(STOP_GRACE, child.wait()).await {
                    Ok(status) => {
                        let status = status.map_err(BootstrapError::io("wait for etcd"))?;
                        info!(step = %Step::EtcdExited, status = %status, "etcd stopped for the restart");
                    }
                    Err(_) => {
                        warn!(grace_s = STOP_GRACE.as_secs(), "etcd did not stop in time: SIGKILL");
                        let _ = child.kill().await;
                    }
                }
                child = spawn_etcd(etcd_bin, env_file)?;
            }
        }
    }
}

fn forward(pid: Option<Pid>, sig: Signal) {
    if let Some(pid) = pid {
        info!(signal = %sig, "forwarding signal to etcd");
        if let Err(e) = kill(pid, sig) {
            warn!(error = %e, "could not signal etcd");
        }
    }
}

/// Races readiness against etcd exiting early.
pub async fn until_ready_or_exit<F, T>(child: &mut tokio::process::Child, ready: F) -> Result<T>
where
    F: std::future::Future<Output = Result<T>>,
{
    let start = Instant::now();
    tokio::select! {
        r = ready => r,
        status = child.wait() => {
            let status = status.map_err(BootstrapError::io("wait for etcd"))?;
            Err(BootstrapError::EtcdExited { status: status.to_string(), after_ms: start.elapsed().as_millis() as u64 })
        }
    }
}

//! `sandbox down`: stops the supervisor, then removes whatever is left even after a crash:
//! every process in the region's namespace, loop devices over its images, mounts under its
//! state directory, the namespace itself and the state directory.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use steadfast_core::poll::{self, Backoff, Poll};

use crate::error::{Result, SandboxError};
use crate::standins::hypervisor::loops_under;
use crate::state;

/// Whether process `pid` runs (exists and is not a zombie).
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

/// This process and its ancestors.
fn me_and_ancestors() -> Vec<u32> {
    let mut out = vec![std::process::id()];
    let mut pid = std::process::id();
    while pid > 1 {
        let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(") ")
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0);
        if ppid == 0 || out.contains(&ppid) {
            break;
        }
        out.push(ppid);
        pid = ppid;
    }
    out
}

/// Live processes (zombies hold nothing) in the region's namespace, except this one and its
/// ancestors: `sandbox up`
/// (foreground, or after a failed start) tears down from inside the namespace it entered, and
/// `down` may run under `ip netns exec`.
fn netns_pids() -> Vec<u32> {
    let Ok(out) = Command::new("ip").args(["netns", "pids", &state::name()]).output() else {
        return vec![];
    };
    let spare = me_and_ancestors();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .filter(|p| !spare.contains(p) && alive(*p))
        .collect()
}

/// Returns a line per thing it removed.
pub fn down() -> Result<Vec<String>> {
    let mut did = Vec::new();
    let dir = state::state_dir();
    // 1. The supervisor stops its own children (nodes first) on SIGTERM.
    if let Some(st) = state::read_state() {
        if st.supervisor_pid > 1 && alive(st.supervisor_pid) {
            let _ = kill(Pid::from_raw(st.supervisor_pid as i32), Signal::SIGTERM);
            // Gone, or 20 s passed: step 2 kills whatever is left either way.
            let _ = poll::until_blocking(
                Duration::from_secs(20),
                Backoff::every(Duration::from_millis(100)),
                || {
                    Ok::<_, std::convert::Infallible>(if alive(st.supervisor_pid) {
                        Poll::Pending("supervisor alive".into())
                    } else {
                        Poll::Ready(())
                    })
                },
            );
            did.push(format!("stopped supervisor {}", st.supervisor_pid));
        }
    }
    // 2. Anything still in the namespace (after a crash: nodes, etcd, moto, dnsmasq, ...).
    if state::netns_exists() {
        // Killed until none is left, for at most 10 s (what survives is reported by status).
        let _ = poll::until_blocking(
            Duration::from_secs(10),
            Backoff::every(Duration::from_millis(200)),
            || {
                let pids = netns_pids();
                if pids.is_empty() {
                    return Ok::<_, std::convert::Infallible>(Poll::Ready(()));
                }
                for p in &pids {
                    let _ = kill(Pid::from_raw(*p as i32), Signal::SIGKILL);
                }
                did.push(format!("killed {} leftover processes", pids.len()));
                Ok(Poll::Pending(format!("{} processes left", pids.len())))
            },
        );
    }
    // 3. Mounts under the state dir in this mount namespace (nodes mount in their own).
    if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
        let d = dir.to_string_lossy().to_string();
        let mut points: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&d))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for m in points {
            let _ = Command::new("umount").args(["-l", m]).status();
            did.push(format!("unmounted {m}"));
        }
    }
    // 4. Loop devices over the volume images.
    for l in loops_under(&dir) {
        let _ = Command::new("losetup").args(["--detach", &l]).status();
        did.push(format!("detached {l}"));
    }
    // 5. The namespace and the state directory.
    if state::netns_exists() {
        state::delete_netns()?;
        did.push(format!("deleted network namespace {}", state::name()));
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(SandboxError::io(format!("remove {}", dir.display())))?;
        did.push(format!("removed {}", dir.display()));
    }
    Ok(did)
}

/// What a finished `down` must leave behind: nothing. Returns what is left, for tests.
pub fn leftovers() -> Vec<String> {
    let mut left = Vec::new();
    let dir = state::state_dir();
    if state::netns_exists() {
        left.push(format!("network namespace {}", state::name()));
    }
    if dir.exists() {
        left.push(format!("state directory {}", dir.display()));
    }
    for l in loops_under(&dir) {
        left.push(format!("loop device {l}"));
    }
    if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
        let d = dir.to_string_lossy().to_string();
        left.extend(
            info.lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|m| m.starts_with(&d))
                .map(|m| format!("mount {m}")),
        );
    }
    left
}

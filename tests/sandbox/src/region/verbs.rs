//! What can be done to the running region, by `sandbox kill|backup|wipe|exec` and by the chaos
//! scenarios alike: kill a node's etcd, terminate instances (gracefully or as a power loss),
//! freeze a node, move the leadership, wipe a volume, take an on-demand backup, run `steadfast`
//! as an operator, and set the moto launcher's faults and termination knobs.

use std::time::Duration;

use etcd_client::ConnectOptions;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use steadfast_core::aws::Groups;
use steadfast_core::report::BackupReport;
use steadfast_core::{Cluster, PeerIndex};

use super::health::health;
use crate::config::MOTO_PORT;
use crate::error::{Result, SandboxError};
use crate::standins::moto::admin;
use crate::state::{self, NodeRecord};

/// The running node of `peer`.
pub fn node(peer: PeerIndex) -> Result<NodeRecord> {
    state::read_nodes()
        .into_values()
        .find(|n| n.peer == peer.get())
        .ok_or_else(|| SandboxError::Setup(format!("peer-{peer} has no running node")))
}

/// `kill -9` of the etcd process of `peer`'s node (the node restarts it, as systemd would).
pub fn kill_etcd(peer: PeerIndex) -> Result<()> {
    let n = node(peer)?;
    let pid = processes_in_group(n.pgid)
        .into_iter()
        .find(|(_, comm)| comm == "etcd")
        .map(|(pid, _)| pid)
        .ok_or_else(|| SandboxError::Setup(format!("peer-{peer}: no etcd process in group {}", n.pgid)))?;
    kill(Pid::from_raw(pid), Signal::SIGKILL).map_err(|e| SandboxError::Setup(format!("kill {pid}: {e}")))
}

/// (pid, command name) of every process in process group `pgid`.
pub(crate) fn processes_in_group(pgid: u32) -> Vec<(i32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (head, rest) = stat.rsplit_once(") ")?;
            let comm = head.split_once(" (")?.1.to_string();
            // Fields after the command: state, ppid, pgrp, ...
            let pgrp: u32 = rest.split_whitespace().nth(2)?.parse().ok()?;
            (pgrp == pgid).then_some((pid, comm))
        })
        .collect()
}

/// SIGSTOP or SIGCONT to `peer`'s whole node (node-bootstrap and etcd).
pub fn signal_node(peer: PeerIndex, sig: Signal) -> Result<()> {
    let n = node(peer)?;
    killpg(Pid::from_raw(n.pgid as i32), sig).map_err(|e| SandboxError::Setup(format!("killpg {}: {e}", n.pgid)))
}

/// SIGKILL of `peer`'s whole node (node-bootstrap and etcd), as a power loss: nothing gets to
/// say goodbye. The instance is still "running" for the cloud until [`terminate`].
pub fn power_off(peer: PeerIndex) -> Result<NodeRecord> {
    let n = node(peer)?;
    if n.pgid > 1 {
        killpg(Pid::from_raw(n.pgid as i32), Signal::SIGKILL)
            .map_err(|e| SandboxError::Setup(format!("peer-{peer}: killpg {}: {e}", n.pgid)))?;
    }
    Ok(n)
}

/// Terminates `peer`'s instance through its group (the group replaces it); the node shuts down
/// cleanly unless it was powered off first. The instance id that was terminated.
pub async fn terminate(peer: PeerIndex) -> Result<String> {
    let n = node(peer)?;
    crate::status::supervisor_cloud()
        .await
        .groups
        .terminate_in_group(&n.instance_id)
        .await?;
    Ok(n.instance_id)
}

/// Moves the leadership from the current leader to `to` (etcd's MoveLeader, sent to the
/// leader), as a planned stop does first.
pub async fn move_leader(cluster: &Cluster, to: PeerIndex) -> Result<()> {
    let h = health(cluster).await;
    let leader = h
        .iter()
        .find(|p| p.is_leader())
        .ok_or_else(|| SandboxError::Setup("no leader to move".into()))?;
    let target = h[to.get() as usize]
        .member_id()
        .ok_or_else(|| SandboxError::Setup(format!("peer-{to} is not healthy")))?;
    let ip = leader
        .ip
        .ok_or_else(|| SandboxError::Setup("the leader has no address".into()))?;
    let moved = async {
        let mut c = crate::operator::connect_ip(ip, ConnectOptions::new().with_timeout(Duration::from_secs(5)))
            .await
            .map_err(|e| SandboxError::Setup(format!("connect to the leader: {e}")))?;
        c.move_leader(target)
            .await
            .map_err(|e| SandboxError::Setup(format!("move leader to peer-{to}: {e}")))
    };
    tokio::time::timeout(Duration::from_secs(10), moved)
        .await
        .map_err(|_| SandboxError::Setup(format!("move leader to peer-{to}: no answer within 10 s")))??;
    Ok(())
}

/// The moto launcher's admin API (faults, knobs).
pub async fn moto_admin(what: &str, body: &Value) -> Result<Value> {
    admin(MOTO_PORT, what, Some(body)).await
}

/// A GET of the moto launcher's admin API (its counters: calls, reach, lifecycle holds).
pub async fn moto_get(what: &str) -> Result<Value> {
    admin(MOTO_PORT, what, None).await
}

/// Asks the hypervisor to wipe `peer`'s volume the next time no instance has it (an EBS failure,
/// a zeroed disk): its replacement finds it blank. The volume id.
pub async fn wipe(cluster: &Cluster, peer: PeerIndex) -> Result<String> {
    use steadfast_core::aws::Volumes;
    let vols = crate::status::supervisor_cloud()
        .await
        .ec2
        .volumes_tagged(&cluster.peer_tags(peer))
        .await?;
    let [v] = vols.as_slice() else {
        return Err(SandboxError::Setup(format!("peer-{peer} has {} volumes", vols.len())));
    };
    crate::supervisor::disks::request_wipe(&v.volume_id)?;
    Ok(v.volume_id.clone())
}

/// The backup bucket, read as the supervisor.
pub async fn bucket(cluster: &Cluster) -> steadfast_core::aws::sdk::S3 {
    crate::status::supervisor_cloud()
        .await
        .bucket(crate::region::backup_bucket(cluster), None)
}

/// `node-bootstrap backup --now` on `peer`'s node, with the node's own environment (the
/// on-demand snapshot); its report.
pub async fn backup_now(peer: PeerIndex) -> Result<BackupReport> {
    let n = node(peer)?;
    let nb = crate::supervisor::Bins::locate()?.node_bootstrap;
    let out = tokio::process::Command::new(&nb)
        .args(["backup", "--now"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(n.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .await
        .map_err(SandboxError::io(format!("run {}", nb.display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(SandboxError::Setup(format!(
            "node-bootstrap backup --now on peer-{peer} failed: {}",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default()
        )));
    }
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .map_err(|e| SandboxError::Setup(format!("backup report: {e}: {stdout}")))
}

/// The `steadfast` binary, beside this one.
pub fn steadfast_bin() -> Result<std::path::PathBuf> {
    let exe = std::env::current_exe().map_err(SandboxError::io("current_exe"))?;
    exe.parent()
        .map(|d| d.join("steadfast"))
        .filter(|p| p.exists())
        .ok_or_else(|| SandboxError::Setup("the steadfast binary is missing: cargo build --workspace --bins".into()))
}

/// What `steadfast` needs to act on the region as an operator (a running node's environment,
/// [`crate::node::NodeEnv::operator`]).
pub fn steadfast_env(cluster: &Cluster) -> Vec<(String, String)> {
    state::read_nodes()
        .values()
        .next()
        .map(|n| crate::node::NodeEnv::from_vars(&n.env))
        .unwrap_or_default()
        .operator(cluster)
}

/// `steadfast <args>` against the region, as an operator runs it: the real binary, the
/// region's cloud ([`steadfast_env`]).
pub async fn steadfast(cluster: &Cluster, args: &[&str]) -> Result<()> {
    let bin = steadfast_bin()?;
    let out = tokio::process::Command::new(&bin)
        .args(args)
        .envs(steadfast_env(cluster))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(SandboxError::io(format!("run {}", bin.display())))?;
    let err = String::from_utf8_lossy(&out.stderr);
    for l in err.lines() {
        eprintln!("  steadfast: {l}");
    }
    if out.status.success() {
        Ok(())
    } else {
        Err(SandboxError::Setup(format!(
            "steadfast {} failed: {}",
            args.join(" "),
            err.lines().last().unwrap_or_default()
        )))
    }
}

/// `steadfast ca rotate --until <until>` against the region, every member by its address.
pub async fn ca_rotate(cluster: &Cluster, until: &str) -> Result<()> {
    let endpoints: Vec<String> = state::read_nodes()
        .values()
        .map(|n| format!("https://{}:{}", n.ip, steadfast_core::vocab::CLIENT_PORT))
        .collect();
    let endpoints = endpoints.join(",");
    steadfast(
        cluster,
        &[
            "ca",
            "rotate",
            "--until",
            until,
            "--timeout-secs",
            "600",
            "--endpoints",
            &endpoints,
        ],
    )
    .await
}

/// The restore plans of `cluster` in the bucket (live or retired) made at or after `since`
/// (seconds since the epoch).
pub async fn restore_orders(cluster: &Cluster, since: u64) -> Result<Vec<steadfast_core::backup::RestoreOrder>> {
    use steadfast_core::aws::Objects;
    use steadfast_core::backup::{RestoreOrder, SnapshotKeys};
    let s3 = bucket(cluster).await;
    let keys = SnapshotKeys::new("", cluster.name())?;
    let mut out = Vec::new();
    for o in s3.list(&keys.restore_dir()).await? {
        let body = s3.get(&o.key).await?;
        let order = RestoreOrder::from_json(&o.key, &body)?;
        if order.created_at >= since {
            out.push(order);
        }
    }
    Ok(out)
}

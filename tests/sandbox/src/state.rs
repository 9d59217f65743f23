//! Names and files of one sandbox. `STEADFAST_SANDBOX_NAME` (default `steadfast-sandbox`) names
//! the network namespace and the state directory `/run/steadfast/<name>`, so `down` can find
//! everything again after a crash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SandboxError};

pub fn name() -> String {
    std::env::var(crate::config::env_vars::NAME).unwrap_or_else(|_| "steadfast-sandbox".into())
}

pub fn state_dir() -> PathBuf {
    PathBuf::from("/run/steadfast").join(name())
}

pub fn netns_path() -> PathBuf {
    PathBuf::from("/run/netns").join(name())
}

pub fn netns_exists() -> bool {
    netns_path().exists()
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(SandboxError::io("run ip"))?;
    if !out.status.success() {
        return Err(SandboxError::Setup(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Creates the region's network namespace: only a loopback interface, so nothing started in it
/// can reach any address outside this machine.
pub fn create_netns() -> Result<()> {
    let n = name();
    ip(&["netns", "add", &n])?;
    ip(&["-n", &n, "link", "set", "lo", "up"])?;
    // dnsmasq binds the address it serves on; give it one of its own.
    ip(&[
        "-n",
        &n,
        "addr",
        "add",
        &format!("{}/32", crate::config::DNS_ADDR),
        "dev",
        "lo",
    ])?;
    Ok(())
}

pub fn delete_netns() -> Result<()> {
    if netns_exists() {
        ip(&["netns", "delete", &name()])?;
    }
    Ok(())
}

/// Moves the calling thread (call it before any other thread exists) into the namespace.
pub fn enter_netns() -> Result<()> {
    let p = netns_path();
    let f = std::fs::File::open(&p).map_err(|e| {
        SandboxError::Setup(format!(
            "the sandbox is not running ({}: {e}); start it with `sandbox up`",
            p.display()
        ))
    })?;
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| SandboxError::Setup(format!("setns {}: {e}", p.display())))?;
    Ok(())
}

/// What the supervisor tells the CLI.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub supervisor_pid: u32,
    pub zone_id: String,
    pub started_at: String,
    /// etcd talks mutual TLS (the default); false: plain http.
    #[serde(default)]
    pub tls: bool,
    /// The CA secret's name, when the deployment names it (Terraform's `ca_secret_name`: one
    /// per deployment); else the vocabulary's.
    #[serde(default)]
    pub ca_secret: Option<String>,
    /// The region was made by `terraform apply` (`sandbox up --terraform`).
    #[serde(default)]
    pub terraform: bool,
}

/// One node (an instance's processes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRecord {
    pub peer: u32,
    pub instance_id: String,
    pub ip: String,
    /// Process group of the node (`node-bootstrap run` and its etcd).
    pub pgid: u32,
    pub root: PathBuf,
    pub log: PathBuf,
    /// The node's environment (the cloud's endpoint, its IMDS, node-bootstrap's settings): what
    /// `sandbox backup` runs node-bootstrap with.
    #[serde(default)]
    pub env: Vec<(String, String)>,
}

pub fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(v).unwrap_or_default())
        .map_err(SandboxError::io(format!("write {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(SandboxError::io(format!("rename {}", path.display())))?;
    Ok(())
}

pub fn read_state() -> Option<State> {
    serde_json::from_slice(&std::fs::read(state_dir().join("state.json")).ok()?).ok()
}

pub fn read_nodes() -> BTreeMap<String, NodeRecord> {
    std::fs::read(state_dir().join("nodes.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

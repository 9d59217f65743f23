//! The one node launcher: a node is node-bootstrap (then etcd) running in a mount namespace of
//! its own (`unshare --mount`), with its instance's identity (an IMDSv2 stand-in), its own
//! sysfs/dev root (where the hypervisor presents its volume) and its own name resolution: either
//! an /etc/hosts of its own, or a resolv.conf that points at the region's dnsmasq.

use std::path::{Path, PathBuf};

use steadfast_core::vocab::env;
use steadfast_core::Cluster;

/// How a node resolves names: its own /etc/hosts, or its own /etc/resolv.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Names {
    Hosts(PathBuf),
    Resolver(PathBuf),
}

impl Names {
    fn bind(&self) -> String {
        match self {
            Names::Hosts(p) => format!("mount --bind {} /etc/hosts", p.display()),
            Names::Resolver(p) => format!("mount --bind {} /etc/resolv.conf", p.display()),
        }
    }
}

/// Everything a node needs to boot.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// The node's own directory: `dev/`, `sys/block/` (its devices), `data/` (the mount point),
    /// `etcd.env`, `run.pid`, `tls/` (its CA bundle, certificate and key).
    pub root: PathBuf,
    pub names: Names,
    /// The environment: the cloud's endpoint and credentials, the node's IMDS endpoint and the
    /// node-bootstrap settings.
    pub env: Vec<(String, String)>,
}

impl NodeSpec {
    /// A node of `cluster` rooted at `root`, talking to the cloud with `cloud_env` and to its
    /// IMDS at `imds_endpoint`.
    pub fn new(
        cluster: &Cluster,
        root: &Path,
        names: Names,
        imds_endpoint: &str,
        cloud_env: &[(String, String)],
    ) -> Self {
        let mut env: Vec<(String, String)> = cloud_env
            .iter()
            .filter(|(k, _)| k != "AWS_EC2_METADATA_DISABLED")
            .cloned()
            .collect();
        let root_s = |p: &str| root.join(p).to_string_lossy().into_owned();
        env.extend([
            (
                "AWS_EC2_METADATA_SERVICE_ENDPOINT".to_string(),
                imds_endpoint.to_string(),
            ),
            (env::DOMAIN.into(), cluster.domain().to_string()),
            (env::PEER_COUNT.into(), cluster.peer_count().to_string()),
            (env::ZONE_COUNT.into(), cluster.zone_count().to_string()),
            (env::DATA_DIR.into(), root_s("data")),
            (env::ENV_FILE.into(), root_s("etcd.env")),
            (env::TLS_DIR.into(), root_s("tls")),
            // `node-bootstrap run` restarts etcd on SIGHUP and writes its pid beside etcd.env
            // (as `systemctl restart etcd-member` does on a node).
            (
                env::ETCD_RESTART_CMD.into(),
                format!("kill -HUP \"$(cat '{}')\"", root_s("run.pid")),
            ),
            (env::DEV_ROOT.into(), root.to_string_lossy().into_owned()),
            ("RUST_LOG".into(), "info".into()),
        ]);
        Self {
            root: root.to_path_buf(),
            names,
            env,
        }
    }

    /// Sets (or replaces) one variable.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        let value = value.into();
        match self.env.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.env.push((key.to_string(), value)),
        }
        self
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn env_file(&self) -> PathBuf {
        self.root.join("etcd.env")
    }

    /// `script` (a shell snippet) inside the node's mount namespace, after its names are bound.
    /// `$DATA` is the data dir.
    pub fn command(&self, script: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new("unshare");
        cmd.args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &format!("set -e; {}; {script}", self.names.bind()),
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATA", self.data_dir())
        .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }
}

//! The one node launcher: a node is node-bootstrap (then etcd) running in a mount namespace of
//! its own (`unshare --mount`), with its instance's identity (an IMDSv2 stand-in), its own
//! sysfs/dev root (where the hypervisor presents its volume) and its own name resolution: either
//! an /etc/hosts of its own, or a resolv.conf that points at the region's dnsmasq.

use std::path::{Path, PathBuf};

use steadfast_core::vocab::{env, Transport};
use steadfast_core::Cluster;

use crate::region::Region;

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

/// A node's environment, built in one place for every launcher (the supervisor's fleet, the
/// test harness, the bench, the deploy-path test): the cloud's endpoint and credentials, what
/// the region provides (TLS, the backup bucket and its key), the node's own paths under its
/// root and its IMDS endpoint, then any knob set on top. The operator's environment
/// (`steadfast` against the region) is derived from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeEnv {
    vars: Vec<(String, String)>,
}

impl NodeEnv {
    pub fn new() -> Self {
        Self::default()
    }

    /// From variables (a node's recorded environment).
    pub fn from_vars(vars: &[(String, String)]) -> Self {
        let mut e = Self::new();
        for (k, v) in vars {
            e.set(k, v.clone());
        }
        e
    }

    /// The cloud's endpoint and credentials (a node reads its metadata from its IMDS, never with
    /// it disabled).
    pub fn cloud(mut self, vars: &[(String, String)]) -> Self {
        for (k, v) in vars.iter().filter(|(k, _)| k != "AWS_EC2_METADATA_DISABLED") {
            self.set(k, v.clone());
        }
        self
    }

    /// What the region provides: whether etcd talks TLS (as the SRV records say) and the key the
    /// CA secret is encrypted with; the bucket to back up to and restore from, and etcdutl.
    pub fn region(mut self, region: &Region) -> Self {
        self.set(env::TLS, (region.transport == Transport::Tls).to_string());
        let Some(b) = &region.backups else { return self };
        if region.transport == Transport::Tls {
            self.set(env::TLS_KMS_KEY, b.kms_key.clone());
        }
        let etcdutl = crate::paths::etcd_bin_dir()
            .map(|d| d.join("etcdutl").to_string_lossy().into_owned())
            .unwrap_or_else(|_| "etcdutl".into());
        self.set(env::BACKUP_BUCKET, b.bucket.clone())
            .set(env::BACKUP_KMS_KEY, b.kms_key.clone())
            .set(env::ETCDUTL_BIN, etcdutl);
        self
    }

    /// The node of `cluster` rooted at `root`, reading its identity from `imds_endpoint`: its
    /// data dir, env file, TLS dir and devices under its root; `node-bootstrap run` restarts
    /// etcd on SIGHUP (as `systemctl restart etcd-member` does on a node).
    pub fn node(mut self, cluster: &Cluster, root: &Path, imds_endpoint: &str) -> Self {
        let root_s = |p: &str| root.join(p).to_string_lossy().into_owned();
        self.set("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds_endpoint)
            .set(env::DOMAIN, cluster.domain().to_string())
            .set(env::PEER_COUNT, cluster.peer_count().to_string())
            .set(env::ZONE_COUNT, cluster.zone_count().to_string())
            .set(env::DATA_DIR, root_s("data"))
            .set(env::ENV_FILE, root_s("etcd.env"))
            .set(env::TLS_DIR, root_s("tls"))
            .set(env::SCRATCH_DIR, root_s("scratch"))
            .set(
                env::ETCD_RESTART_CMD,
                format!("kill -HUP \"$(cat '{}')\"", root_s("run.pid")),
            )
            .set(env::DEV_ROOT, root.to_string_lossy())
            .set("RUST_LOG", "info");
        self
    }

    /// Sets (or replaces) one variable.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        let value = value.into();
        match self.vars.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.vars.push((key.to_string(), value)),
        }
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    /// What `steadfast` needs to act on the region as an operator: the cloud's endpoint and
    /// credentials and the backup bucket (as this node has them), and the cluster's shape; never
    /// an instance's metadata.
    pub fn operator(&self, cluster: &Cluster) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .vars
            .iter()
            .filter(|(k, _)| {
                (k.starts_with("AWS_") && !k.starts_with("AWS_EC2_METADATA"))
                    || k == "SSL_CERT_FILE"
                    || k == env::BACKUP_BUCKET
                    || k == env::BACKUP_PREFIX
                    || k == env::TLS_CA_NAME
            })
            .cloned()
            .collect();
        out.extend([
            ("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string()),
            (env::CLUSTER.to_string(), cluster.name().to_string()),
            (env::DOMAIN.to_string(), cluster.domain().to_string()),
            (env::PEER_COUNT.to_string(), cluster.peer_count().to_string()),
            (env::ZONE_COUNT.to_string(), cluster.zone_count().to_string()),
        ]);
        out
    }
}

/// Everything a node needs to boot.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// The node's own directory: `dev/`, `sys/block/` (its devices), `data/` (the mount point),
    /// `etcd.env`, `run.pid`, `tls/` (its CA bundle, certificate and key).
    pub root: PathBuf,
    pub names: Names,
    /// The environment ([`NodeEnv`]).
    pub env: Vec<(String, String)>,
}

impl NodeSpec {
    /// A node rooted at `root` with `env` (built with [`NodeEnv`]).
    pub fn new(root: &Path, names: Names, env: NodeEnv) -> Self {
        Self {
            root: root.to_path_buf(),
            names,
            env: env.vars,
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

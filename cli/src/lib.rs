//! `steadfast`, the operator's command. Today:
//! - [`cert`]: `steadfast cert issue`, a client certificate for a named application, issued
//!   from the cluster's CA (for callers allowed to read the CA secret);
//! - [`rotate`]: `steadfast ca rotate`, a CA rotation without downtime, driven by core's pure
//!   `plan_rotation` (trust both, re-issue, drop the old CA; each phase health-gated, the
//!   peers rolling themselves one at a time);
//! - `steadfast ca show`: the CA secret's phase and expiry;
//! - [`restore`]: `steadfast restore`, a chosen snapshot restored into the whole cluster on
//!   purpose (the nodes restore it; the command verifies it, stops the old cluster and arms
//!   the request), and `steadfast snapshots`, the snapshots to choose from.
//!
//! Later work adds `status` and `roll`.

pub mod cert;
pub mod error;
pub mod restore;
pub mod rotate;

use std::time::Duration;

use steadfast_core::aws::sdk::Cloud;
use steadfast_core::retry::Retry;
use steadfast_core::tls::CaSecret;
use steadfast_core::Cluster;

pub use error::{CliError, Result};

/// The cluster the command acts on, its CA secret, and the cloud (core's one bundle of AWS
/// adapters, from the SDK's usual configuration: `AWS_REGION`, credentials, `AWS_ENDPOINT_URL`).
pub struct Target {
    pub cluster: Cluster,
    pub ca_secret: CaSecret,
    pub cloud: Cloud,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("cluster", &self.cluster.name()).finish()
    }
}

impl Target {
    /// `ca_secret`: the CA secret's name when it is not the vocabulary's (Terraform's output
    /// `ca_secret_name`: one name per deployment).
    pub async fn new(cluster: Cluster, ca_secret: Option<&str>) -> Result<Self> {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        let ca_secret = CaSecret::from_setting(&cluster, ca_secret)?;
        Ok(Self {
            cluster,
            ca_secret,
            cloud: Cloud::from_conf(&conf, Retry::with_deadline(Duration::from_secs(30))),
        })
    }
}

/// One line of progress, on stderr.
pub fn say(line: &str) {
    eprintln!("[{}] {line}", chrono::Utc::now().format("%H:%M:%S"));
}

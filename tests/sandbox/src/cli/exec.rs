//! `sandbox exec`: a command inside the region's namespaces, resolving through its dnsmasq,
//! with etcdctl and `steadfast` on its PATH, the operator's client certificate in etcdctl's
//! variables and the region's cloud in `steadfast`'s.

use std::process::ExitCode;

use super::runtime;
use crate::config;
use crate::error::{Result, SandboxError};
use crate::region::verbs;
use crate::state;

pub fn run(command: &[String]) -> Result<ExitCode> {
    let dir = state::state_dir();
    let resolv = dir.join("resolv.conf");
    config::write_resolv_conf(&resolv)?;
    let etcd = crate::paths::etcd_bin_dir()?;
    // `steadfast` (beside this binary) on the PATH too, with the region's cloud in its
    // environment: `sandbox exec -- steadfast restore ...` acts on the region as an operator.
    let own = verbs::steadfast_bin()?
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let path = format!("{}:{own}:{}", etcd.display(), std::env::var("PATH").unwrap_or_default());
    let operator_env = verbs::steadfast_env(&config::cluster()?);
    // With TLS, etcdctl gets the operator's client certificate (issued from the cluster's CA,
    // as `steadfast cert issue` issues one) through its ETCDCTL_* variables.
    let creds = runtime()?.block_on(async {
        let op = crate::operator::current().await?;
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

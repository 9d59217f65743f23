//! The resolver: dnsmasq, authoritative for the cluster domain (`--local=/C.D/`). SRV records
//! are static (read from Route 53 once, at start); A records reload live from `--hostsdir`,
//! which [`write_hosts`] replaces by atomic rename. `--local-ttl=0`: nothing caches a record.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use tokio::process::{Child, Command};

use crate::config::DNS_ADDR;
use crate::error::{Result, SandboxError};

/// Writes every A record (name -> values) as one hosts file, atomically.
pub fn write_hosts(hostsdir: &Path, staging: &Path, records: &BTreeMap<String, Vec<String>>) -> Result<()> {
    let mut text = String::new();
    for (name, ips) in records {
        for ip in ips {
            text.push_str(&format!("{ip} {}\n", name.trim_end_matches('.')));
        }
    }
    let tmp = staging.join("records.tmp");
    std::fs::write(&tmp, text).map_err(SandboxError::io("write dns records"))?;
    std::fs::rename(&tmp, hostsdir.join("records")).map_err(SandboxError::io("rename dns records"))?;
    Ok(())
}

/// Starts dnsmasq on `DNS_ADDR:53` for `cluster_domain`, with the SRV records given as
/// `(name, "priority weight port target")`.
pub fn start(cluster_domain: &str, srv: &[(String, String)], hostsdir: &Path, log: &Path) -> Result<Child> {
    let mut args = vec![
        "--keep-in-foreground".to_string(),
        "--conf-file=/dev/null".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--no-poll".into(),
        format!("--listen-address={DNS_ADDR}"),
        "--bind-interfaces".into(),
        "--port=53".into(),
        format!("--local=/{cluster_domain}/"),
        format!("--hostsdir={}", hostsdir.display()),
        "--local-ttl=0".into(),
        "--neg-ttl=1".into(),
        "--user=root".into(),
        "--pid-file=".into(),
        "--log-facility=-".into(),
    ];
    for (name, value) in srv {
        let parts: Vec<&str> = value.split_whitespace().collect();
        if let [prio, weight, port, target] = parts.as_slice() {
            args.push(format!(
                "--srv-host={},{},{port},{prio},{weight}",
                name.trim_end_matches('.'),
                target.trim_end_matches('.')
            ));
        }
    }
    let f = std::fs::File::create(log).map_err(SandboxError::io("dnsmasq log"))?;
    let f2 = f.try_clone().map_err(SandboxError::io("dnsmasq log"))?;
    Command::new("dnsmasq")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(f)
        .stderr(f2)
        .kill_on_drop(true)
        .spawn()
        .map_err(SandboxError::io("start dnsmasq (apt-get install dnsmasq-base)"))
}

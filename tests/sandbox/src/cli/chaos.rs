//! `sandbox chaos`: a fresh region, the scenarios in order under client load, the report; then
//! down (unless `--keep`). Exit 1 when a scenario lost a write, saw a stale read or never
//! healed.

use std::process::ExitCode;
use std::time::Duration;

use super::runtime;
use super::up::{up_with, RegionArgs};
use crate::chaos::{self, scenarios, scenarios::Scenario};
use crate::config::{self, env_vars};
use crate::error::{Result, SandboxError};
use crate::{state, teardown};

#[derive(Debug, Clone, clap::Args)]
pub struct ChaosArgs {
    /// Scenarios (see the list below), or `all`.
    #[arg(default_value = "all")]
    pub scenarios: Vec<String>,
    #[command(flatten)]
    pub region: RegionArgs,
    /// Where report.json, the charts and index.html go (default: <target dir>/chaos for the
    /// sandbox profile, <target dir>/chaos/<profile> for another).
    #[arg(long, env = env_vars::CHAOS_OUT)]
    pub out: Option<std::path::PathBuf>,
    /// Leave the region running afterwards.
    #[arg(long)]
    pub keep: bool,
}

/// Where the report goes: `--out`, or target/chaos/ for the sandbox profile and
/// target/chaos/<profile>/ beside it for another.
fn out_dir(a: &ChaosArgs, p: &crate::profile::Profile) -> std::path::PathBuf {
    a.out.clone().unwrap_or_else(|| {
        let base = crate::paths::target_dir().join("chaos");
        if p.name == "sandbox" {
            base
        } else {
            base.join(p.name)
        }
    })
}

/// `sandbox chaos`.
pub fn run(a: &ChaosArgs) -> Result<ExitCode> {
    let picked: Vec<Scenario> = if a.scenarios.iter().any(|n| n == "all") {
        scenarios::ALL.iter().collect()
    } else {
        a.scenarios.iter().map(|n| scenarios::parse(n)).collect::<Result<_>>()?
    };
    let p = crate::profile::Profile::named(&a.region.profile)?;
    if a.region.terraform {
        return Err(SandboxError::Setup(
            "--terraform is for `sandbox up`: the chaos suite runs on the sandbox's own region (its checks read the backup bucket over plain http, which the module's bucket policy refuses)".into(),
        ));
    }
    if let Some(s) = picked.iter().find(|s| s.needs_tls && !a.region.tls) {
        return Err(SandboxError::Setup(format!("{} needs TLS (drop --tls false)", s.name)));
    }
    // What the scenarios need from the region (cert-renewal: short certificates and a fast TLS
    // timer), unless set: every scenario of the run then runs with it.
    for s in &picked {
        for (var, v) in s.env {
            if std::env::var_os(var).is_none() {
                eprintln!("sandbox chaos: {var}={v} ({})", s.name);
                std::env::set_var(var, v);
            }
        }
    }
    let slow = p.name == "aws";
    let up_timeout = Duration::from_secs(if slow { 900 } else { 240 });
    let mut region = a.region.clone();
    if region.evidence.is_none() {
        // A failed bring-up's evidence goes beside the report.
        region.evidence = Some(out_dir(a, &p).join("evidence"));
    }
    if up_with(true, up_timeout, 60, &region)? != ExitCode::SUCCESS {
        return Ok(ExitCode::from(1));
    }
    let opts = chaos::Options {
        scenarios: picked,
        out_dir: out_dir(a, &p),
        events: state::state_dir().join("events.jsonl"),
        heal_timeout: Duration::from_secs(if slow { 1200 } else { 240 }),
        profile: p,
        etcd_timing: config::etcd_timing()?,
        tls_cost: true,
    };
    let cluster = config::cluster()?;
    let result = runtime()?.block_on(chaos::run(&cluster, &opts));
    if !a.keep {
        for line in teardown::down()? {
            eprintln!("  {line}");
        }
    }
    let report = result?;
    println!("{}", chaos::report::table(&report));
    eprintln!("chaos: report in {}", opts.out_dir.display());
    Ok(if report.scenarios.iter().all(|s| s.passed()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

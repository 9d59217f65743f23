//! `sandbox`'s subcommands, one module each; the binary only calls [`main`].
//! - [`up`]: bring the region up, show the live view, tear it down (and `__supervise`, the
//!   supervisor process `up` starts);
//! - [`chaos`]: the chaos suite on a fresh region;
//! - [`soak`]: fresh regions up and down again and again, with kill-one each round, counting
//!   stalls (`make soak`);
//! - [`status`]: core's cluster view of the region;
//! - [`verbs`]: `kill`, `backup`, `wipe` (the region's verbs, as the chaos suite uses them);
//! - [`exec`]: a command inside the region, with the operator's credentials;
//! - `redeploy`: a `--terraform` region destroyed and applied again (in [`verbs`]);
//! - `down`: tear everything down, even after a crash.

pub mod chaos;
pub mod exec;
pub mod soak;
pub mod status;
pub mod up;
pub mod verbs;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use steadfast_core::PeerIndex;

use crate::error::{Result, SandboxError};
use crate::privileges::which;

#[derive(Debug, Parser)]
#[command(
    name = "sandbox",
    about = "steadfast's local region: the whole system on one machine"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Bring the region up and show the live view until Ctrl-C, then tear it down.
    Up(up::UpArgs),
    /// Run chaos scenarios under client load on a fresh region and report (make chaos).
    Chaos(chaos::ChaosArgs),
    /// Bring fresh regions up and down again and again, kill-one in each; count the stalls (make soak).
    Soak(soak::SoakArgs),
    /// The peers' status (core's cluster view); `--json` for scripts. Exit 3: not healthy.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Terminate instances in moto (the ASG replaces them): `peer-N` or `zone-a|b|c` (or `zone-0|1|2`).
    Kill {
        target: String,
        /// SIGKILL the node's processes first, as a power loss would.
        #[arg(long)]
        hard: bool,
    },
    /// The on-demand snapshot: `node-bootstrap backup --now` on a node (default: the leader's),
    /// with that node's environment; prints its report (the verified snapshot's manifest).
    Backup {
        /// `peer-N`; default the leader.
        peer: Option<String>,
    },
    /// Wipe a peer's volume (an EBS failure): the hypervisor zeroes it the next time no instance
    /// has it. `sandbox kill peer-N` then makes its replacement find it blank and heal.
    Wipe { peer: String },
    /// Run a command inside the region's namespaces (etcdctl and steadfast are on its PATH, with
    /// the operator's certificate and the region's cloud).
    Exec {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// A region made with `up --terraform`: `terraform destroy`, then `terraform apply` again
    /// with the same name (a new deployment: new volumes, a new CA secret; what Terraform does not
    /// own stays, as in an account), and wait until the new cluster is healthy.
    Redeploy {
        /// How long to wait for the new cluster, after the apply.
        #[arg(long, default_value_t = 240)]
        timeout_secs: u64,
    },
    /// Tear down processes, loop devices, mounts, namespaces and files, even after a crash.
    Down,
    /// The supervisor itself (started by `up`).
    #[command(hide = true, name = "__supervise")]
    Supervise(up::SuperviseArgs),
}

/// The command line, with `sandbox chaos --help` listing every scenario from the specs.
pub fn command() -> clap::Command {
    Cli::command().mut_subcommand("chaos", |c| c.after_help(crate::chaos::scenarios::help()))
}

/// Parses the command line and runs it; the exit code says how it went.
pub fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let r = match cli.command {
        Cmd::Up(a) => up::up(&a),
        Cmd::Chaos(a) => chaos::run(&a),
        Cmd::Soak(a) => soak::run(&a),
        Cmd::Status { json } => in_region(|| status::run(json)),
        Cmd::Kill { target, hard } => in_region(|| verbs::kill(&target, hard)),
        Cmd::Backup { peer } => in_region(|| verbs::backup(peer.as_deref())),
        Cmd::Wipe { peer } => in_region(|| verbs::wipe(&peer)),
        Cmd::Exec { command } => in_region(|| exec::run(&command)),
        Cmd::Redeploy { timeout_secs } => in_region(|| verbs::redeploy(std::time::Duration::from_secs(timeout_secs))),
        Cmd::Down => down(),
        Cmd::Supervise(a) => up::supervise(&a),
    };
    match r {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sandbox: {e}");
            ExitCode::from(1)
        }
    }
}

/// `f` inside the running region's network namespace.
fn in_region(f: impl FnOnce() -> Result<ExitCode>) -> Result<ExitCode> {
    crate::state::enter_netns()?;
    f()
}

fn down() -> Result<ExitCode> {
    let did = crate::teardown::down()?;
    for l in &did {
        eprintln!("  {l}");
    }
    eprintln!(
        "sandbox: down{}",
        if did.is_empty() { " (nothing was running)" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}

/// The runtime every subcommand uses: two workers (this machine has two cores), started in the
/// calling thread's network namespace.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(SandboxError::io("tokio runtime"))
}

/// What a region needs on this machine, named when missing.
fn preflight() -> Result<()> {
    if let Some(what) = crate::privileges::missing_for_block_devices() {
        return Err(SandboxError::Setup(format!("the sandbox needs {what}")));
    }
    for tool in ["ip", "dnsmasq"] {
        if which(tool).is_none() {
            return Err(SandboxError::Setup(format!(
                "the sandbox needs the {tool} command (make deps)"
            )));
        }
    }
    crate::supervisor::Bins::locate()?;
    crate::paths::moto_launcher()?;
    crate::paths::cargo_lambda()?;
    Ok(())
}

/// The one peer `target` names (`peer-N`).
fn one_peer(cluster: &steadfast_core::Cluster, target: &str) -> Result<PeerIndex> {
    match crate::config::parse_target(cluster, target)?.as_slice() {
        [p] => Ok(*p),
        _ => Err(SandboxError::Setup(format!("{target}: name one peer (peer-N)"))),
    }
}

/// Every environment variable the sandbox's own flags read (for the knob tables' test).
pub fn flag_env_vars() -> Vec<String> {
    fn walk(c: &clap::Command, out: &mut Vec<String>) {
        for a in c.get_arguments() {
            if let Some(e) = a.get_env() {
                out.push(e.to_string_lossy().into_owned());
            }
        }
        for s in c.get_subcommands() {
            walk(s, out);
        }
    }
    let mut out = Vec::new();
    walk(&command(), &mut out);
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent_and_chaos_help_lists_every_scenario() {
        command().debug_assert();
        let help = command()
            .find_subcommand_mut("chaos")
            .map(|c| c.render_long_help().to_string())
            .unwrap_or_default();
        for s in crate::chaos::scenarios::ALL {
            assert!(help.contains(s.name), "{} missing from sandbox chaos --help", s.name);
        }
        let vars = flag_env_vars();
        use crate::config::env_vars;
        for v in [env_vars::PROFILE, env_vars::TLS, env_vars::BACKUP_SECS] {
            assert!(vars.iter().any(|x| x == v), "{v}");
        }
    }
}

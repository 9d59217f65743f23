//! `sandbox kill`, `sandbox backup` and `sandbox wipe`: the region's verbs
//! ([`crate::region::verbs`]), the same ones the chaos scenarios use.

use std::process::ExitCode;

use super::{one_peer, runtime};
use crate::config;
use crate::error::{Result, SandboxError};
use crate::region::{health, verbs};

/// Terminates the instances `target` names (`peer-N`, `zone-x`); `hard`: a power loss first.
pub fn kill(target: &str, hard: bool) -> Result<ExitCode> {
    let cluster = config::cluster()?;
    let peers = config::parse_target(&cluster, target)?;
    runtime()?.block_on(async {
        for p in peers {
            if verbs::node(p).is_err() {
                eprintln!("peer-{p}: no running node; skipped");
                continue;
            }
            if hard {
                let node = verbs::power_off(p)?;
                eprintln!("peer-{p}: SIGKILLed node processes (group {})", node.pgid);
            }
            let id = verbs::terminate(p).await?;
            println!("peer-{p}: terminated {id}");
        }
        Ok::<_, SandboxError>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The on-demand snapshot on `peer` (default: the leader); prints its report.
pub fn backup(peer: Option<&str>) -> Result<ExitCode> {
    let cluster = config::cluster()?;
    runtime()?.block_on(async {
        let p = match peer {
            Some(t) => one_peer(&cluster, t)?,
            None => health::leader(&cluster)
                .await
                .ok_or_else(|| SandboxError::Setup("no leader answers; name a peer".into()))?,
        };
        let report = verbs::backup_now(p).await?;
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        Ok(ExitCode::SUCCESS)
    })
}

/// Asks the hypervisor to wipe `peer`'s volume the next time no instance has it.
pub fn wipe(peer: &str) -> Result<ExitCode> {
    let cluster = config::cluster()?;
    let p = one_peer(&cluster, peer)?;
    let v = runtime()?.block_on(verbs::wipe(&cluster, p))?;
    println!("peer-{p}: volume {v} will be wiped the next time no instance has it (sandbox kill peer-{p})");
    Ok(ExitCode::SUCCESS)
}

/// `sandbox redeploy`: asks the supervisor of a `--terraform` region (SIGUSR1) to destroy it and
/// apply it again, waits for the new deployment (a new zone in its state file), then for every
/// peer of the new cluster to be healthy.
pub fn redeploy(timeout: std::time::Duration) -> Result<ExitCode> {
    use std::time::{Duration, Instant};
    let before = crate::state::read_state()
        .ok_or_else(|| SandboxError::Setup("no running region (its state file is missing)".into()))?;
    if !before.terraform {
        return Err(SandboxError::Setup(
            "this region was not made by Terraform: `sandbox up --terraform` makes one that can be redeployed".into(),
        ));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(before.supervisor_pid as i32),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .map_err(|e| SandboxError::Setup(format!("signal the supervisor ({}): {e}", before.supervisor_pid)))?;
    eprintln!("sandbox: terraform destroy, then apply again (the same name: a new deployment)");
    let t0 = Instant::now();
    // Destroy and apply take a few minutes; the supervisor's state file names the new zone after.
    let failed = |why: String| {
        eprintln!("sandbox: {why}");
        super::up::keep_evidence(&crate::paths::target_dir().join("evidence"));
        SandboxError::Setup(why)
    };
    let applied = loop {
        match crate::state::read_state() {
            Some(s) if s.zone_id != before.zone_id => break s,
            Some(s) if s.supervisor_pid != before.supervisor_pid => {
                return Err(failed("the supervisor changed under the redeploy".into()))
            }
            None => return Err(failed("the region stopped during the redeploy".into())),
            Some(_) => {}
        }
        if !crate::teardown::alive(before.supervisor_pid) {
            return Err(failed(format!(
                "the supervisor exited during the redeploy: see {}",
                crate::state::state_dir().join("supervisor.log").display()
            )));
        }
        if t0.elapsed() > Duration::from_secs(900) {
            return Err(failed("no new deployment after 900 s".into()));
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!(
        "sandbox: applied again after {:.1}s (zone {}, CA secret {})",
        t0.elapsed().as_secs_f64(),
        applied.zone_id,
        applied.ca_secret.as_deref().unwrap_or("-")
    );
    let cluster = config::cluster()?;
    let t1 = Instant::now();
    let status = runtime()?.block_on(async {
        loop {
            let s = crate::status::gather(&cluster).await;
            if s.healthy || t1.elapsed() > timeout {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    println!("{}", status.table());
    if !status.healthy {
        eprintln!(
            "sandbox: the new cluster was not healthy after {timeout:?}; who waits on what:\n{}",
            super::up::stall_report(&status)
        );
        // The region stays up (`sandbox down` ends it); its evidence is kept now all the same.
        super::up::keep_evidence(&crate::paths::target_dir().join("evidence"));
        return Ok(ExitCode::from(3));
    }
    eprintln!(
        "sandbox: the new deployment's cluster is healthy {:.1}s after the apply",
        t1.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

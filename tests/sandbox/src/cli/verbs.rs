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

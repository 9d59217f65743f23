//! `sandbox soak`: bring a fresh region up and down again and again in one timing profile, with
//! `kill-one` under load once per round, and count the rounds whose bring-up stalled or failed
//! (each with its evidence). It is how a stall seen once is looked for again (`make soak`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::runtime;
use super::up::{bring_up, Outcome, RegionArgs};
use crate::chaos::{self, scenarios};
use crate::config::{self, env_vars};
use crate::error::{Result, SandboxError};
use crate::{state, teardown};

#[derive(Debug, Clone, clap::Args)]
pub struct SoakArgs {
    /// How many rounds.
    #[arg(long, default_value_t = 20)]
    pub rounds: u32,
    #[command(flatten)]
    pub region: RegionArgs,
    /// Where soak.json, each round's chaos report and the evidence of a failed round go
    /// (default: <target dir>/soak/<profile>).
    #[arg(long, env = env_vars::SOAK_OUT)]
    pub out: Option<std::path::PathBuf>,
}

/// One round.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Round {
    pub round: u32,
    /// `healthy`, `stalled`, `failed` or `interrupted`.
    pub bring_up: String,
    pub bring_up_secs: f64,
    /// kill-one passed (nothing lost, nothing stale, healed); `None`: not run.
    pub kill_one: Option<bool>,
    /// Why the round failed, with the stall report when it stalled.
    pub detail: Option<String>,
}

/// What `soak.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Soak {
    pub profile: String,
    pub rounds: Vec<Round>,
    pub stalled: u32,
    pub failed: u32,
}

pub fn run(a: &SoakArgs) -> Result<ExitCode> {
    let p = crate::profile::Profile::named(&a.region.profile)?;
    if a.region.terraform {
        return Err(SandboxError::Setup(
            "--terraform is for `sandbox up`: the soak's rounds run kill-one with the chaos suite's checks, on the sandbox's own region".into(),
        ));
    }
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| crate::paths::target_dir().join("soak").join(p.name));
    std::fs::create_dir_all(&out).map_err(SandboxError::io(format!("mkdir {}", out.display())))?;
    let mut region = a.region.clone();
    region.evidence.get_or_insert_with(|| out.join("evidence"));
    let slow = p.name == "aws";
    let up_timeout = Duration::from_secs(if slow { 900 } else { 240 });
    let mut soak = Soak {
        profile: p.name.to_string(),
        rounds: vec![],
        stalled: 0,
        failed: 0,
    };
    let kill_one = scenarios::parse("kill-one")?;
    for n in 1..=a.rounds {
        eprintln!("soak: round {n}/{} ({} profile)", a.rounds, p.name);
        let t0 = Instant::now();
        let up = bring_up(true, up_timeout, 60, &region)?;
        let secs = t0.elapsed().as_secs_f64();
        let mut round = Round {
            round: n,
            bring_up: String::new(),
            bring_up_secs: secs,
            kill_one: None,
            detail: None,
        };
        match up {
            Outcome::Healthy { .. } => {
                round.bring_up = "healthy".into();
                let opts = chaos::Options {
                    scenarios: vec![kill_one],
                    out_dir: out.join(format!("round-{n}")),
                    events: state::state_dir().join("events.jsonl"),
                    heal_timeout: Duration::from_secs(if slow { 1200 } else { 240 }),
                    profile: p.clone(),
                    etcd_timing: config::etcd_timing()?,
                    tls_cost: false,
                };
                let r = runtime()?.block_on(chaos::run(&config::cluster()?, &opts));
                for line in teardown::down()? {
                    eprintln!("  {line}");
                }
                match r {
                    Ok(rep) => {
                        let passed = rep.scenarios.iter().all(|s| s.passed());
                        round.kill_one = Some(passed);
                        if !passed {
                            soak.failed += 1;
                            round.detail = Some(format!("kill-one failed: see {}", opts.out_dir.display()));
                        }
                    }
                    Err(e) => {
                        soak.failed += 1;
                        round.kill_one = Some(false);
                        round.detail = Some(format!("kill-one could not run: {e}"));
                    }
                }
            }
            Outcome::Stalled(why) => {
                soak.stalled += 1;
                round.bring_up = "stalled".into();
                round.detail = Some(why);
            }
            Outcome::Failed(why) => {
                soak.failed += 1;
                round.bring_up = "failed".into();
                round.detail = Some(why);
            }
            Outcome::Interrupted(code) => {
                round.bring_up = "interrupted".into();
                soak.rounds.push(round);
                write(&out, &soak)?;
                return Ok(ExitCode::from(code));
            }
        }
        eprintln!(
            "soak: round {n}: bring-up {} in {secs:.1} s, kill-one {}",
            round.bring_up,
            match round.kill_one {
                Some(true) => "ok",
                Some(false) => "FAILED",
                None => "not run",
            }
        );
        soak.rounds.push(round);
        write(&out, &soak)?;
    }
    println!(
        "soak ({} profile): {} rounds, {} stalled, {} failed; report in {}",
        soak.profile,
        soak.rounds.len(),
        soak.stalled,
        soak.failed,
        out.join("soak.json").display()
    );
    Ok(if soak.stalled == 0 && soak.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn write(dir: &std::path::Path, soak: &Soak) -> Result<()> {
    let json = serde_json::to_string_pretty(soak).map_err(|e| SandboxError::Setup(e.to_string()))?;
    std::fs::write(dir.join("soak.json"), json).map_err(SandboxError::io("write soak.json"))
}

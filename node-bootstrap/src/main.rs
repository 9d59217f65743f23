//! node-bootstrap's thin main: parse flags, read identity, build clients, call the library.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use node_bootstrap::config::{Cli, Command, NodeConfig};
use node_bootstrap::identity::{self, Identity};
use node_bootstrap::{prepare, ready, run, BootstrapError};
use steadfast_core::aws::sdk::{client_config, AutoScaling, Ec2, SdkClients, Timeouts};
use steadfast_core::retry::Retry;
use steadfast_core::vocab::Step;

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}

async fn clients(id: &Identity) -> SdkClients {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(id.region.clone()))
        .load()
        .await;
    client_config(&conf, Timeouts::default())
}

async fn do_ready(cfg: &NodeConfig, id: &Identity, c: &SdkClients, retry: Retry) -> Result<(), BootstrapError> {
    ready::wait_ready(id.private_ip, cfg.ready_timeout).await?;
    if let Some(hook) = &cfg.lifecycle_hook {
        let ec2 = Ec2::new(c.ec2.clone(), retry);
        let asg = AutoScaling::new(c.autoscaling.clone(), retry);
        ready::complete_lifecycle(&ec2, &asg, &id.instance_id, hook).await?;
    }
    Ok(())
}

async fn main_inner(cli: Cli) -> Result<i32, BootstrapError> {
    let opts = match &cli.command {
        Command::Prepare(o) | Command::Ready(o) => o,
        Command::Run(r) => &r.opts,
    };
    let cfg = NodeConfig::from_opts(opts)?;
    let id = identity::from_imds(Duration::from_secs(2)).await?;
    let c = clients(&id).await;
    let retry = Retry::with_deadline(cfg.aws_deadline);
    let ec2 = Ec2::new(c.ec2.clone(), retry);
    match &cli.command {
        Command::Prepare(_) => {
            prepare::run(&ec2, &id, &cfg).await?;
            Ok(0)
        }
        Command::Ready(_) => {
            do_ready(&cfg, &id, &c, retry).await?;
            Ok(0)
        }
        Command::Run(r) => {
            prepare::run(&ec2, &id, &cfg).await?;
            let mut child = run::spawn_etcd(&r.etcd_bin, &cfg.env_file)?;
            run::until_ready_or_exit(&mut child, do_ready(&cfg, &id, &c, retry)).await?;
            run::supervise(child).await
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    match main_inner(cli).await {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            tracing::error!(step = %Step::Failed, error = %e, "node-bootstrap failed");
            eprintln!("node-bootstrap: {e}");
            ExitCode::from(1)
        }
    }
}

//! node-bootstrap's thin main: parse flags, read identity, build clients, call the library.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use node_bootstrap::config::{Cli, Command, NodeConfig};
use node_bootstrap::identity::{self, Identity};
use node_bootstrap::{backup, lifecycle, run, tls, BootstrapError};
use steadfast_core::aws::sdk::{client_config, AutoScaling, CloudWatch, Ec2, SdkClients, SecretsManager, Timeouts, S3};
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

/// The adapters every command uses (the backup bucket's only when one is configured).
struct Cloud {
    ec2: Ec2,
    asg: AutoScaling,
    metrics: CloudWatch,
    s3: Option<S3>,
    secrets: SecretsManager,
}

impl Cloud {
    fn new(c: SdkClients, retry: Retry, cfg: &NodeConfig) -> Self {
        Self {
            ec2: Ec2::new(c.ec2, retry),
            asg: AutoScaling::new(c.autoscaling, retry),
            metrics: CloudWatch::new(c.cloudwatch, retry),
            secrets: SecretsManager::new(c.secretsmanager, retry),
            s3: cfg
                .backup
                .bucket
                .as_ref()
                .map(|b| S3::new(c.s3, retry, b.clone(), cfg.backup.kms_key.clone())),
        }
    }
}

async fn main_inner(cli: Cli) -> Result<i32, BootstrapError> {
    let opts = match &cli.command {
        Command::Prepare(o) | Command::Ready(o) | Command::Tls(o) => o,
        Command::Run(r) => &r.opts,
        Command::Backup(b) => &b.opts,
    };
    let cfg = NodeConfig::from_opts(opts)?;
    let id = identity::from_imds(Duration::from_secs(2)).await?;
    let cloud = Cloud::new(clients(&id).await, Retry::with_deadline(cfg.aws_deadline), &cfg);
    let prepare = || {
        lifecycle::prepare(
            &cloud.ec2,
            &cloud.asg,
            &cloud.metrics,
            cloud.s3.as_ref(),
            &cloud.secrets,
            &id,
            &cfg,
        )
    };
    let ready = || lifecycle::ready(&cloud.ec2, &cloud.asg, &cloud.metrics, &id, &cfg);
    match &cli.command {
        Command::Prepare(_) => {
            prepare().await?;
            Ok(0)
        }
        Command::Ready(_) => {
            ready().await?;
            Ok(0)
        }
        Command::Tls(_) => {
            let report = tls::renew::run(&cloud.ec2, &cloud.secrets, &cloud.metrics, &id, &cfg).await?;
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
            Ok(0)
        }
        Command::Backup(b) => {
            let s3 = cloud.s3.as_ref().ok_or_else(|| {
                BootstrapError::Config(format!(
                    "{}: no backup bucket configured; backup has nowhere to go",
                    steadfast_core::vocab::env::BACKUP_BUCKET
                ))
            })?;
            let report = backup::run(&cloud.ec2, s3, &cloud.metrics, &id, &cfg, b.now).await?;
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
            Ok(0)
        }
        Command::Run(r) => {
            let pid_file = run::pid_file(&cfg.env_file);
            node_bootstrap::fsx::write_atomic(&pid_file, &format!("{}\n", std::process::id()))?;
            prepare().await?;
            let mut child = run::spawn_etcd(&r.etcd_bin, &cfg.env_file)?;
            run::until_ready_or_exit(&mut child, ready()).await?;
            run::supervise(child, &r.etcd_bin, &cfg.env_file).await
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

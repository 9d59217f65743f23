//! `steadfast`: the operator's command. See `steadfast --help` and docs/operations.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use steadfast_cli::{cert, restore, rotate, CliError, Target};
use steadfast_core::vocab::{defaults, env, validate_sizes, ClusterName, Domain};
use steadfast_core::Cluster;

#[derive(Debug, Parser)]
#[command(
    name = "steadfast",
    about = "steadfast: the operator's command for an etcd cluster it runs"
)]
struct Cli {
    /// The cluster's name (Terraform's `cluster_name`).
    #[arg(long, env = env::CLUSTER, global = true, default_value = "")]
    cluster: String,
    /// The private hosted zone's domain (Terraform's `domain`).
    #[arg(long, env = env::DOMAIN, global = true, default_value = "")]
    domain: String,
    #[arg(long, env = env::PEER_COUNT, global = true, default_value_t = defaults::PEER_COUNT)]
    peer_count: u32,
    #[arg(long, env = env::ZONE_COUNT, global = true, default_value_t = defaults::ZONE_COUNT)]
    zone_count: u32,
    /// The cluster's CA secret, when it is not steadfast/<cluster>/ca (Terraform's output
    /// `ca_secret_name`: the module gives every deployment its own).
    #[arg(long, env = env::TLS_CA_NAME, global = true)]
    ca_secret: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Client certificates for applications.
    #[command(subcommand)]
    Cert(CertCmd),
    /// The cluster's CA.
    #[command(subcommand)]
    Ca(CaCmd),
    /// The cluster's snapshots in the backup bucket, oldest first (key, time, verified).
    Snapshots {
        #[command(flatten)]
        bucket: Bucket,
    },
    /// Restore a chosen snapshot into the whole cluster (point in time): verifies it, writes the
    /// restore plan, terminates every instance, and once the old cluster is gone lets the
    /// replacements restore it. Writes after the snapshot are gone, and so is the data the
    /// peers held: each replacement deletes its member before it restores (take an on-demand
    /// snapshot first to keep it). Run again to resume.
    Restore {
        /// The snapshot's key (see `steadfast snapshots`).
        #[arg(long)]
        snapshot: String,
        #[command(flatten)]
        bucket: Bucket,
        /// Give up (the restore stays where it is; run again to resume) after this long, for
        /// the old instances to go and again for the peers to restore.
        #[arg(long, default_value_t = 1800)]
        timeout_secs: u64,
        /// Required: this replaces the cluster's data with the snapshot's.
        #[arg(long)]
        yes: bool,
    },
}

/// Where the cluster's backups are (Terraform's backup bucket and prefix).
#[derive(Debug, clap::Args)]
struct Bucket {
    #[arg(long = "bucket", env = env::BACKUP_BUCKET)]
    name: String,
    #[arg(long, env = env::BACKUP_PREFIX, default_value = "")]
    prefix: String,
}

#[derive(Debug, Subcommand)]
enum CertCmd {
    /// Issue a client certificate for NAME from the cluster's CA: writes NAME.pem, NAME-key.pem
    /// (0600) and ca.pem (the CAs the members may present) into --out. Needs read access to
    /// the CA secret (steadfast/<cluster>/ca).
    Issue {
        #[arg(long)]
        name: String,
        /// Validity in days (renew by issuing again before it ends).
        #[arg(long, default_value_t = i64::from(defaults::TLS_CERT_VALIDITY_DAYS))]
        days: i64,
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum CaCmd {
    /// The CA secret: its phase, the signing CA and every trusted CA, with their expiry.
    Show,
    /// Rotate the CA without downtime (or resume a rotation under way): trust both, re-issue,
    /// drop the old; each phase health-gated, the peers rolling one at a time.
    Rotate {
        /// Client URLs of the members (comma-separated); default https://peer-N.<cluster>.<domain>:2379.
        #[arg(long, value_delimiter = ',')]
        endpoints: Vec<String>,
        /// How far to take it: trust-both, reissued, or done.
        #[arg(long, value_enum, default_value = "done")]
        until: rotate::Until,
        /// Give up (the rotation stays where it is; run again to resume) after this long.
        #[arg(long, default_value_t = 3600)]
        timeout_secs: u64,
        /// The new CA's validity (days).
        #[arg(long, default_value_t = i64::from(defaults::TLS_CA_VALIDITY_DAYS))]
        ca_days: i64,
    },
}

fn cluster(cli: &Cli) -> Result<Cluster, CliError> {
    let name =
        ClusterName::new(&cli.cluster).map_err(|e| CliError::Usage(format!("--cluster / {}: {e}", env::CLUSTER)))?;
    let domain = Domain::new(&cli.domain).map_err(|e| CliError::Usage(format!("--domain / {}: {e}", env::DOMAIN)))?;
    validate_sizes(cli.peer_count, cli.zone_count)
        .map_err(|e| CliError::Usage(format!("--peer-count / --zone-count: {e}")))?;
    Cluster::new(name, domain, cli.peer_count, cli.zone_count).map_err(CliError::Core)
}

fn days_left(not_after: i64) -> f64 {
    (not_after - steadfast_core::clock::now()) as f64 / 86_400.0
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let target = Target::new(cluster(&cli)?, cli.ca_secret.as_deref()).await?;
    match cli.command {
        Cmd::Cert(CertCmd::Issue { name, days, out }) => {
            let i = cert::issue(&target, &name, days, &out).await?;
            println!("certificate {} (CN={name}, serial {})", i.cert.display(), i.info.serial);
            println!("key         {}", i.key.display());
            println!("CA bundle   {}", i.ca.display());
            println!(
                "issued by {}; valid {:.1} days",
                i.issuer.subject,
                days_left(i.info.not_after)
            );
        }
        Cmd::Ca(CaCmd::Show) => {
            let s = steadfast_core::tls::ca::read(&target.cloud.secrets, &target.ca_secret).await?;
            let signing = s.signing_info()?;
            println!("secret  {}", target.ca_secret);
            println!("phase   {:?}", s.phase());
            println!(
                "signing {} ({:.0} days left)",
                signing.subject,
                days_left(signing.not_after)
            );
            for c in steadfast_core::tls::CertInfo::parse_bundle(&s.trust_bundle())? {
                println!(
                    "trusted {} ({:.0} days left, sha256 {})",
                    c.subject,
                    days_left(c.not_after),
                    c.fingerprint
                );
            }
        }
        Cmd::Ca(CaCmd::Rotate {
            endpoints,
            until,
            timeout_secs,
            ca_days,
        }) => {
            let mut opts = rotate::Options::defaults(&target.cluster);
            if !endpoints.is_empty() {
                opts.endpoints = endpoints;
            }
            opts.until = until;
            opts.timeout = Duration::from_secs(timeout_secs);
            if !(1..=36_500).contains(&ca_days) {
                return Err(CliError::Usage(format!("--ca-days {ca_days}: 1 to 36500")));
            }
            opts.ca_days = ca_days;
            let s = rotate::rotate(&target, &opts).await?;
            println!("signing CA: {}", s.signing_info()?.subject);
        }
        Cmd::Snapshots { bucket } => {
            for (key, taken_at, verified) in restore::list(&target, &bucket.name, &bucket.prefix).await? {
                let when = chrono::DateTime::from_timestamp(taken_at as i64, 0)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default();
                println!("{key}  {when}  {}", if verified { "verified" } else { "NOT verified" });
            }
        }
        Cmd::Restore {
            snapshot,
            bucket,
            timeout_secs,
            yes,
        } => {
            if !yes {
                return Err(CliError::Usage(format!(
                    "steadfast restore replaces every member's data of cluster {} with {snapshot} \
                     (writes after it are gone and every peer's current data is deleted, not kept; take an on-demand snapshot first to keep it): add --yes",
                    target.cluster.name()
                )));
            }
            let user = std::env::var("USER").unwrap_or_else(|_| "operator".into());
            let opts = restore::Options {
                snapshot,
                bucket: bucket.name,
                prefix: bucket.prefix,
                timeout: Duration::from_secs(timeout_secs),
                created_by: format!("steadfast restore ({user})"),
            };
            let r = restore::restore(&target, &opts).await?;
            println!(
                "restored {} (requested at {}, armed at {})",
                r.snapshot,
                r.created_at,
                r.armed_at.unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("steadfast: tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("steadfast: {e}");
            ExitCode::from(1)
        }
    }
}

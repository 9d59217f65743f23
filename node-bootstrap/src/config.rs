//! Flags and environment variables (every flag has an `env`; the names come from the shared
//! vocabulary), validated once into a [`NodeConfig`]. Names never start with `ETCD_`: etcd reads
//! those itself.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use steadfast_core::aws::InstanceState;
use steadfast_core::backup::RetentionPolicy;
use steadfast_core::vocab::{
    defaults, env, validate_sizes, EtcdTiming, Transport, DEFAULT_PEER_COUNT, DEFAULT_ZONE_COUNT,
};
use steadfast_core::Domain;

use crate::error::{BootstrapError, Result};

#[derive(Debug, Parser)]
#[command(
    name = "node-bootstrap",
    version,
    about = "Claims this peer's EBS volume, mounts it safely and hands off to etcd"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Before etcd: identity, volume (fence + attach), device, safe format, mount, DNS, env file.
    Prepare(Opts),
    /// After etcd starts: wait for real health, then complete the lifecycle action.
    Ready(Opts),
    /// prepare, start etcd with that environment, ready, then wait on etcd and forward signals.
    Run(RunOpts),
    /// On the TLS timer: renew this peer's certificate when a third of its life is left or
    /// another CA signs, and restart etcd (one peer at a time, leadership moved first) when the
    /// trusted CAs changed; report to etcd and CloudWatch.
    Tls(Opts),
    /// On the backup timer: if this member leads, stream a snapshot to the backup bucket, read
    /// it back and verify it, then apply retention. Every member publishes the newest verified
    /// snapshot's age. `--now` takes one here and now, leader or not (the on-demand snapshot).
    Backup(BackupOpts),
}

#[derive(Debug, Clone, Args)]
pub struct Opts {
    /// The private hosted zone's domain D (peers are peer-N.<cluster>.D).
    #[arg(long, env = env::DOMAIN)]
    pub domain: String,
    /// Number of peers (odd, >= 3).
    #[arg(long, env = env::PEER_COUNT, default_value_t = DEFAULT_PEER_COUNT)]
    pub peer_count: u32,
    /// Number of availability zones the peers are spread over.
    #[arg(long, env = env::ZONE_COUNT, default_value_t = DEFAULT_ZONE_COUNT)]
    pub zone_count: u32,
    /// Where the volume is mounted; etcd's data dir.
    #[arg(long, env = env::DATA_DIR, default_value = "/var/lib/etcd")]
    pub data_dir: PathBuf,
    /// etcd's environment file, written atomically by prepare.
    #[arg(long, env = env::ENV_FILE, default_value = "/run/steadfast/etcd.env")]
    pub env_file: PathBuf,
    /// User that owns the data dir (etcd's user); unset: leave ownership alone.
    #[arg(long, env = env::ETCD_USER)]
    pub etcd_user: Option<String>,
    /// Lifecycle hook to complete (CONTINUE) once etcd is ready; unset: complete nothing.
    #[arg(long, env = env::LIFECYCLE_HOOK)]
    pub lifecycle_hook: Option<String>,
    /// How long a volume may stay attached to a terminated or stopped instance before it is
    /// force-detached.
    #[arg(long, env = env::DETACH_GRACE_SECS, default_value_t = 60)]
    pub detach_grace_secs: u64,
    /// How long a volume may stay attached to an instance that is shutting down (a clean
    /// shutdown detaches it when the instance is terminated) before it is force-detached: only a
    /// stuck host takes this long.
    #[arg(long, env = env::SHUTDOWN_GRACE_SECS, default_value_t = 600)]
    pub shutdown_grace_secs: u64,
    /// Deadline for the volume to be attached here (fencing included).
    #[arg(long, env = env::ATTACH_TIMEOUT_SECS, default_value_t = 300)]
    pub attach_timeout_secs: u64,
    /// The longest pause between looks at the volume while claiming it (from 100 ms, doubling
    /// up to this). Each look is one DescribeVolumes, plus one DescribeInstances of the holder
    /// while another instance holds it; the pause is how late a volume's release is noticed.
    #[arg(long, env = env::ATTACH_POLL_MS, default_value_t = 500)]
    pub attach_poll_ms: u64,
    /// Deadline for the block device to appear after the attach.
    #[arg(long, env = env::DEVICE_TIMEOUT_SECS, default_value_t = 120)]
    pub device_timeout_secs: u64,
    /// Deadline for this peer's name to resolve to this instance (all names on a fresh volume).
    #[arg(long, env = env::DNS_TIMEOUT_SECS, default_value_t = 300)]
    pub dns_timeout_secs: u64,
    /// Deadline for etcd to become healthy and caught up (ready).
    #[arg(long, env = env::READY_TIMEOUT_SECS, default_value_t = 600)]
    pub ready_timeout_secs: u64,
    /// How long prepare keeps retrying transient failures (a holder that has not let go yet,
    /// DNS not converged, an AWS blip) before it abandons the launch.
    #[arg(long, env = env::PREPARE_DEADLINE_SECS, default_value_t = 1500)]
    pub prepare_deadline_secs: u64,
    /// The lifecycle hook's heartbeat timeout; the node sends a heartbeat every third of it
    /// while it is still making progress.
    #[arg(long, env = env::HOOK_TIMEOUT_SECS, default_value_t = 300)]
    pub hook_timeout_secs: u64,
    /// How long the node may wait on one thing without getting anywhere before it gives up:
    /// in prepare it abandons its launch (the group replaces it), in ready it stops the
    /// heartbeats. A wait with its own end (a holder that is shutting down, within its grace)
    /// is not a stall. Unset: two thirds of the hook's timeout.
    #[arg(long, env = env::STALL_SECS)]
    pub stall_secs: Option<u64>,
    /// Grow an enlarged volume's filesystem offline (before mounting) when online growth is not
    /// possible (no CAP_SYS_RESOURCE). Off by default: offline growth is only for test machines.
    #[arg(long, env = env::GROW_OFFLINE, default_value_t = false, action = clap::ArgAction::Set)]
    pub grow_offline: bool,
    /// Deadline of each AWS operation, retries included.
    #[arg(long, env = env::AWS_DEADLINE_SECS, default_value_t = 30)]
    pub aws_deadline_secs: u64,
    /// Root under which sys/block and dev are read (the sandbox presents its own devices).
    #[arg(long, env = env::DEV_ROOT, default_value = "/")]
    pub dev_root: PathBuf,
    /// Device name given to AttachVolume (on Nitro the device is found by serial anyway).
    #[arg(long, env = env::DEVICE_NAME, default_value = "/dev/sdf")]
    pub device_name: String,
    /// etcd's heartbeat interval (ms): how often the leader tells followers it is alive.
    #[arg(long, env = env::ETCD_HEARTBEAT_MS, default_value_t = defaults::ETCD_HEARTBEAT_MS)]
    pub etcd_heartbeat_ms: u32,
    /// etcd's election timeout (ms): how long followers go without hearing the leader before
    /// one of them stands for election (at least 5 heartbeats, at most 50 s).
    #[arg(long, env = env::ETCD_ELECTION_MS, default_value_t = defaults::ETCD_ELECTION_MS)]
    pub etcd_election_ms: u32,
    /// The S3 bucket snapshots are streamed to and restored from. Unset: no backups, and a
    /// member that finds every volume fresh never restores (it bootstraps a new cluster only
    /// when no volume ever held data).
    #[arg(long, env = env::BACKUP_BUCKET)]
    pub backup_bucket: Option<String>,
    /// Key prefix in the bucket; snapshots go under `<prefix><cluster>/snapshots/`.
    #[arg(long, env = env::BACKUP_PREFIX, default_value = "")]
    pub backup_prefix: String,
    /// KMS key (id or ARN) every object is encrypted with (SSE-KMS); unset: the bucket's default.
    #[arg(long, env = env::BACKUP_KMS_KEY)]
    pub backup_kms_key: Option<String>,
    /// The backup timer's interval (s). The leader skips a firing when a snapshot is younger
    /// than half of it; the Terraform alarm fires when the newest verified one is older than 3.
    #[arg(long, env = env::BACKUP_INTERVAL_SECS, default_value_t = u64::from(defaults::BACKUP_INTERVAL_SECS))]
    pub backup_interval_secs: u64,
    /// Retention: keep every snapshot of the last this many hours...
    #[arg(long, env = env::BACKUP_KEEP_ALL_HOURS, default_value_t = RetentionPolicy::default().all_hours)]
    pub backup_keep_all_hours: u64,
    /// ...then the newest verified one of each hour for this many days...
    #[arg(long, env = env::BACKUP_KEEP_HOURLY_DAYS, default_value_t = RetentionPolicy::default().hourly_days)]
    pub backup_keep_hourly_days: u64,
    /// ...then the newest verified one of each day for this many weeks (the newest verified
    /// snapshot is never deleted).
    #[arg(long, env = env::BACKUP_KEEP_DAILY_WEEKS, default_value_t = RetentionPolicy::default().daily_weeks)]
    pub backup_keep_daily_weeks: u64,
    /// Multipart part size (MiB, 5..=512): the backup holds about this much in memory, whatever
    /// the database's size.
    #[arg(long, env = env::BACKUP_PART_MIB, default_value_t = 8)]
    pub backup_part_mib: u64,
    /// Where a snapshot read back for verification is written (on the root disk: it needs room
    /// for one snapshot; removed at once).
    #[arg(long, env = env::SCRATCH_DIR, default_value = "/var/tmp/steadfast")]
    pub scratch_dir: PathBuf,
    /// The etcdutl binary (snapshot status, snapshot restore).
    #[arg(long, env = env::ETCDUTL_BIN, default_value = "etcdutl")]
    pub etcdutl_bin: PathBuf,
    /// Mutual TLS on both of etcd's ports (https URLs, client certificate authentication, the
    /// `_etcd-server-ssl` SRV name). Must match the SRV records the cluster was given.
    #[arg(long, env = env::TLS, default_value_t = false, action = clap::ArgAction::Set)]
    pub tls: bool,
    /// Where the CA bundle, this peer's certificate and its key are written (`ca.pem`,
    /// `peer.pem`, `peer-key.pem`; the key readable by etcd's user only).
    #[arg(long, env = env::TLS_DIR, default_value = "/run/steadfast/tls")]
    pub tls_dir: PathBuf,
    /// KMS key (id or ARN) the CA secret is encrypted with when this node creates it; unset:
    /// Secrets Manager's default key.
    #[arg(long, env = env::TLS_KMS_KEY)]
    pub tls_kms_key: Option<String>,
    /// The cluster's CA secret: `steadfast/<cluster>/ca`, or that and `-<id>` (the Terraform
    /// module's: one name per deployment). Unset: `steadfast/<cluster>/ca`.
    #[arg(long, env = env::TLS_CA_NAME)]
    pub tls_ca_name: Option<String>,
    /// How long a peer certificate is valid (s); it is renewed when less than a third is left.
    #[arg(long, env = env::TLS_CERT_VALIDITY_SECS, default_value_t = i64::from(defaults::TLS_CERT_VALIDITY_DAYS) * 86_400)]
    pub tls_cert_validity_secs: i64,
    /// How long the cluster's CA is valid (days), when a node creates it.
    #[arg(long, env = env::TLS_CA_VALIDITY_DAYS, default_value_t = i64::from(defaults::TLS_CA_VALIDITY_DAYS))]
    pub tls_ca_validity_days: i64,
    /// The command that restarts etcd (the renewal timer runs it, one peer at a time, when the
    /// trusted CAs change: etcd reads its CA file only when it starts).
    #[arg(long, env = env::ETCD_RESTART_CMD, default_value = "systemctl restart etcd-member.service")]
    pub etcd_restart_cmd: String,
}

#[derive(Debug, Clone, Args)]
pub struct BackupOpts {
    #[command(flatten)]
    pub opts: Opts,
    /// Take a snapshot now, whoever leads and however recent the last one is.
    #[arg(long)]
    pub now: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RunOpts {
    #[command(flatten)]
    pub opts: Opts,
    /// The etcd binary `run` starts.
    #[arg(long, env = env::ETCD_BIN, default_value = "etcd")]
    pub etcd_bin: PathBuf,
}

/// The fence-and-attach settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachSettings {
    /// How long a terminated or stopped holder may keep the volume before it is force-detached.
    pub grace: Duration,
    /// How long a holder that is shutting down may keep it (a clean shutdown lets go by itself).
    pub shutdown_grace: Duration,
    pub deadline: Duration,
    /// The longest pause between looks while claiming the volume.
    pub poll_max: Duration,
    /// The device name passed to AttachVolume (`/dev/sdf`); on Nitro the device is found by
    /// serial, whatever this says.
    pub device_name: String,
}

impl AttachSettings {
    /// How long a dead holder in `state` may keep the volume before it is force-detached.
    pub fn grace_for(&self, state: &InstanceState) -> Duration {
        match state {
            InstanceState::ShuttingDown => self.shutdown_grace,
            _ => self.grace,
        }
    }
}

/// Where snapshots go and how long they stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSettings {
    /// `None`: no backups (and no restore source).
    pub bucket: Option<String>,
    pub prefix: String,
    pub kms_key: Option<String>,
    pub interval: Duration,
    pub retention: RetentionPolicy,
    pub part_size: usize,
    pub scratch_dir: PathBuf,
    pub etcdutl: PathBuf,
}

/// TLS: where the files go and how certificates are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub dir: PathBuf,
    pub kms_key: Option<String>,
    /// The CA secret's name when it is not the vocabulary's (checked against the cluster once
    /// the instance's tags name it).
    pub ca_secret: Option<String>,
    pub cert_validity_secs: i64,
    pub ca_validity_secs: i64,
    pub restart_cmd: String,
}

impl TlsSettings {
    /// The files in [`TlsSettings::dir`].
    pub fn paths(&self) -> TlsPaths {
        TlsPaths::in_dir(&self.dir)
    }
}

/// The TLS files etcd and node-bootstrap read, by name: the CA bundle (every trusted CA; etcd's
/// `--trusted-ca-file` and `--peer-trusted-ca-file`), this peer's certificate (both ports, and
/// node-bootstrap's own calls) and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsPaths {
    pub fn in_dir(dir: &std::path::Path) -> Self {
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("peer.pem"),
            key: dir.join("peer-key.pem"),
        }
    }
}

/// [`Opts`], validated: every value a step uses, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub domain: Domain,
    pub peer_count: u32,
    pub zone_count: u32,
    pub data_dir: PathBuf,
    pub env_file: PathBuf,
    pub etcd_user: Option<String>,
    pub lifecycle_hook: Option<String>,
    pub attach: AttachSettings,
    pub device_timeout: Duration,
    pub dns_timeout: Duration,
    pub ready_timeout: Duration,
    pub prepare_deadline: Duration,
    pub hook_timeout: Duration,
    /// How long one wait may get nowhere (`progress::plan_wait`).
    pub stall_after: Duration,
    pub aws_deadline: Duration,
    pub dev_root: PathBuf,
    pub grow_offline: bool,
    pub etcd_timing: EtcdTiming,
    pub backup: BackupSettings,
    /// Mutual TLS on etcd's ports (`None`: plain http).
    pub tls: Option<TlsSettings>,
}

impl NodeConfig {
    /// Plain http or TLS, as [`NodeConfig::tls`] says.
    pub fn transport(&self) -> Transport {
        Transport::from_flag(self.tls.is_some())
    }

    /// Checks the options; every error names its variable.
    pub fn from_opts(o: &Opts) -> Result<Self> {
        // At least a minute (renewal runs on a timer), at most 397 days (what browsers accept,
        // and far more than renewal needs).
        if !(60..=397 * 86_400).contains(&o.tls_cert_validity_secs) {
            return Err(BootstrapError::Config(format!(
                "{}: {} is outside 60..=34300800 s (1 minute to 397 days)",
                env::TLS_CERT_VALIDITY_SECS,
                o.tls_cert_validity_secs
            )));
        }
        if !(1..=36_500).contains(&o.tls_ca_validity_days)
            || o.tls_ca_validity_days * 86_400 <= o.tls_cert_validity_secs
        {
            return Err(BootstrapError::Config(format!(
                "{}: {} days must be 1..=36500 and longer than a certificate's validity",
                env::TLS_CA_VALIDITY_DAYS,
                o.tls_ca_validity_days
            )));
        }
        if o.tls && !o.tls_dir.is_absolute() {
            return Err(BootstrapError::Config(format!(
                "{}: {} is not an absolute path",
                env::TLS_DIR,
                o.tls_dir.display()
            )));
        }
        if o.tls && o.etcd_restart_cmd.trim().is_empty() {
            return Err(BootstrapError::Config(format!("{}: empty", env::ETCD_RESTART_CMD)));
        }
        let domain = Domain::new(&o.domain).map_err(|e| BootstrapError::Config(format!("{}: {e}", env::DOMAIN)))?;
        validate_sizes(o.peer_count, o.zone_count)
            .map_err(|e| BootstrapError::Config(format!("{} / {}: {e}", env::PEER_COUNT, env::ZONE_COUNT)))?;
        let secs = |var: &str, v: u64| -> Result<Duration> {
            if v == 0 {
                return Err(BootstrapError::Config(format!("{var}: must be at least 1 second")));
            }
            Ok(Duration::from_secs(v))
        };
        if !o.data_dir.is_absolute() {
            return Err(BootstrapError::Config(format!(
                "{}: {} is not an absolute path",
                env::DATA_DIR,
                o.data_dir.display()
            )));
        }
        Ok(Self {
            domain,
            peer_count: o.peer_count,
            zone_count: o.zone_count,
            data_dir: o.data_dir.clone(),
            env_file: o.env_file.clone(),
            etcd_user: o.etcd_user.clone().filter(|u| !u.is_empty()),
            lifecycle_hook: o.lifecycle_hook.clone().filter(|h| !h.is_empty()),
            attach: AttachSettings {
                grace: Duration::from_secs(o.detach_grace_secs),
                shutdown_grace: Duration::from_secs(o.shutdown_grace_secs),
                deadline: secs(env::ATTACH_TIMEOUT_SECS, o.attach_timeout_secs)?,
                poll_max: match o.attach_poll_ms {
                    100..=10_000 => Duration::from_millis(o.attach_poll_ms),
                    v => {
                        return Err(BootstrapError::Config(format!(
                            "{}: {v} is outside 100..=10000 ms",
                            env::ATTACH_POLL_MS
                        )))
                    }
                },
                device_name: o.device_name.clone(),
            },
            device_timeout: secs(env::DEVICE_TIMEOUT_SECS, o.device_timeout_secs)?,
            dns_timeout: secs(env::DNS_TIMEOUT_SECS, o.dns_timeout_secs)?,
            ready_timeout: secs(env::READY_TIMEOUT_SECS, o.ready_timeout_secs)?,
            prepare_deadline: secs(env::PREPARE_DEADLINE_SECS, o.prepare_deadline_secs)?,
            hook_timeout: secs(env::HOOK_TIMEOUT_SECS, o.hook_timeout_secs)?,
            stall_after: match o.stall_secs {
                Some(s) => secs(env::STALL_SECS, s)?,
                None => secs(env::HOOK_TIMEOUT_SECS, o.hook_timeout_secs)? * 2 / 3,
            },
            aws_deadline: secs(env::AWS_DEADLINE_SECS, o.aws_deadline_secs)?,
            dev_root: o.dev_root.clone(),
            grow_offline: o.grow_offline,
            etcd_timing: EtcdTiming::new(o.etcd_heartbeat_ms, o.etcd_election_ms).map_err(|e| {
                BootstrapError::Config(format!("{} / {}: {e}", env::ETCD_HEARTBEAT_MS, env::ETCD_ELECTION_MS))
            })?,
            backup: BackupSettings {
                bucket: o.backup_bucket.clone().filter(|b| !b.is_empty()),
                prefix: o.backup_prefix.clone(),
                kms_key: o.backup_kms_key.clone().filter(|k| !k.is_empty()),
                interval: match o.backup_interval_secs {
                    60..=86_400 => Duration::from_secs(o.backup_interval_secs),
                    v => {
                        return Err(BootstrapError::Config(format!(
                            "{}: {v} is outside 60..=86400 s",
                            env::BACKUP_INTERVAL_SECS
                        )))
                    }
                },
                retention: RetentionPolicy {
                    all_hours: o.backup_keep_all_hours,
                    hourly_days: o.backup_keep_hourly_days,
                    daily_weeks: o.backup_keep_daily_weeks,
                },
                part_size: match o.backup_part_mib {
                    5..=512 => (o.backup_part_mib as usize) << 20,
                    v => {
                        return Err(BootstrapError::Config(format!(
                            "{}: {v} is outside 5..=512 MiB (S3 parts but the last are at least 5 MiB)",
                            env::BACKUP_PART_MIB
                        )))
                    }
                },
                scratch_dir: o.scratch_dir.clone(),
                etcdutl: o.etcdutl_bin.clone(),
            },
            tls: o.tls.then(|| TlsSettings {
                dir: o.tls_dir.clone(),
                kms_key: o.tls_kms_key.clone().filter(|k| !k.is_empty()),
                ca_secret: o.tls_ca_name.clone().filter(|k| !k.is_empty()),
                cert_validity_secs: o.tls_cert_validity_secs,
                ca_validity_secs: o.tls_ca_validity_days * 86_400,
                restart_cmd: o.etcd_restart_cmd.clone(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> Opts {
        let mut argv = vec!["node-bootstrap", "prepare"];
        if !args.contains(&"--domain") {
            argv.extend(["--domain", "etcd.internal"]);
        }
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Prepare(o) => o,
            _ => unreachable!(),
        }
    }

    #[test]
    fn defaults_validate() {
        let c = NodeConfig::from_opts(&opts(&[])).unwrap();
        assert_eq!(c.domain.as_str(), "etcd.internal");
        assert_eq!((c.peer_count, c.zone_count), (9, 3));
        assert_eq!(c.attach.grace, Duration::from_secs(60));
        assert_eq!(c.lifecycle_hook, None);
        assert_eq!(c.backup.bucket, None);
        assert_eq!(c.backup.interval, Duration::from_secs(300));
        assert_eq!(c.backup.part_size, 8 << 20);
        assert_eq!(c.backup.retention, RetentionPolicy::default());
        assert_eq!(c.transport(), Transport::Plain);
        assert_eq!(c.tls, None);
        let tls = NodeConfig::from_opts(&opts(&["--tls", "true"])).unwrap();
        assert_eq!(tls.transport(), Transport::Tls);
        let t = tls.tls.unwrap();
        assert_eq!(t.cert_validity_secs, 30 * 86_400);
        assert_eq!(t.ca_validity_secs, 3650 * 86_400);
        assert_eq!(t.paths().key, std::path::Path::new("/run/steadfast/tls/peer-key.pem"));
    }

    #[test]
    fn every_error_names_its_variable() {
        for (args, var) in [
            (&["--tls-cert-validity-secs", "30"][..], env::TLS_CERT_VALIDITY_SECS),
            (&["--tls-ca-validity-days", "10"], env::TLS_CA_VALIDITY_DAYS),
            (&["--tls", "true", "--tls-dir", "tls"], env::TLS_DIR),
            (&["--tls", "true", "--etcd-restart-cmd", " "], env::ETCD_RESTART_CMD),
            (&["--domain", "a..b"], env::DOMAIN),
            (&["--peer-count", "4"], env::PEER_COUNT),
            (&["--zone-count", "0"], env::ZONE_COUNT),
            (&["--dns-timeout-secs", "0"], env::DNS_TIMEOUT_SECS),
            (&["--data-dir", "relative/dir"], env::DATA_DIR),
            (&["--etcd-heartbeat-ms", "300"], env::ETCD_HEARTBEAT_MS),
            (&["--etcd-election-ms", "60000"], env::ETCD_ELECTION_MS),
            (&["--backup-interval-secs", "5"], env::BACKUP_INTERVAL_SECS),
            (&["--backup-part-mib", "4"], env::BACKUP_PART_MIB),
        ] {
            let err = NodeConfig::from_opts(&opts(args)).unwrap_err().to_string();
            assert!(err.contains(var), "{args:?}: {err}");
        }
    }
}

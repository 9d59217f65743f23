//! `prepare`: everything that must be true before etcd may start. Each step logs what it found,
//! what it decided and how long it took, as structured fields (`step`, `elapsed_ms`, ...).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use steadfast_core::aws::{Compute, Volume};
use steadfast_core::vocab::{Transport, TAG_CLUSTER, TAG_INITIALIZED, TAG_PEER};
use steadfast_core::{Cluster, Domain, PeerIndex};
use tracing::info;

use crate::attach::{ensure_attached, AttachOptions};
use crate::config::Opts;
use crate::error::{BootstrapError, Result};
use crate::format::{plan_format, FormatDecision};
use crate::identity::{peer_of, Identity};
use crate::{device, disk, dns, envfile};

/// What prepare found and did, with the time each step took.
#[derive(Debug, Clone, Serialize)]
pub struct PrepareReport {
    pub instance_id: String,
    pub cluster: String,
    pub peer: u32,
    pub ip: Ipv4Addr,
    pub volume_id: String,
    pub device: PathBuf,
    pub formatted: bool,
    pub fresh: bool,
    /// (step, milliseconds), in order.
    pub steps: Vec<(String, f64)>,
    pub total_ms: f64,
}

struct Steps {
    start: Instant,
    last: Instant,
    done: Vec<(String, f64)>,
}

impl Steps {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            start: now,
            last: now,
            done: Vec::new(),
        }
    }
    fn mark(&mut self, step: &str) -> f64 {
        let ms = self.last.elapsed().as_secs_f64() * 1000.0;
        self.last = Instant::now();
        self.done.push((step.to_string(), ms));
        ms
    }
}

/// Exactly one volume tagged for (cluster, peer), in this instance's zone.
pub fn choose_volume(cluster: &Cluster, peer: PeerIndex, vols: Vec<Volume>, instance_az: &str) -> Result<Volume> {
    match vols.len() {
        0 => Err(BootstrapError::NoVolume {
            cluster: cluster.name().to_string(),
            peer: peer.get(),
            cluster_tag: TAG_CLUSTER,
            peer_tag: TAG_PEER,
        }),
        1 => {
            let v = vols
                .into_iter()
                .next()
                .ok_or_else(|| BootstrapError::Config("unreachable".into()))?;
            if v.availability_zone != instance_az {
                return Err(BootstrapError::WrongZone {
                    volume: v.volume_id,
                    volume_az: v.availability_zone,
                    instance_az: instance_az.to_string(),
                });
            }
            Ok(v)
        }
        n => Err(BootstrapError::SeveralVolumes {
            cluster: cluster.name().to_string(),
            peer: peer.get(),
            count: n,
            ids: vols.iter().map(|v| v.volume_id.as_str()).collect::<Vec<_>>().join(", "),
        }),
    }
}

pub async fn prepare<C: Compute>(ec2: &C, id: &Identity, opts: &Opts) -> Result<PrepareReport> {
    if opts.tls {
        return Err(BootstrapError::Config(
            "STEADFAST_TLS=true: TLS is not implemented yet in node-bootstrap; refusing to start etcd in plain text behind TLS names".into(),
        ));
    }
    let domain = Domain::new(&opts.domain).map_err(|e| BootstrapError::Config(format!("STEADFAST_DOMAIN: {e}")))?;
    let mut steps = Steps::new();
    info!(step = "identity", instance = %id.instance_id, az = %id.availability_zone, region = %id.region, ip = %id.private_ip, "identity from IMDSv2");

    // Tags -> cluster and peer.
    let (cluster, peer) = peer_of(ec2, id, &domain, opts.peer_count, opts.zone_count).await?;
    let ms = steps.mark("tags");
    info!(step = "tags", cluster = %cluster.name(), peer = peer.get(), elapsed_ms = ms, "peer identity from instance tags");

    // The volume.
    let vols = ec2.volumes_tagged(&cluster.peer_tags(peer)).await?;
    let volume = choose_volume(&cluster, peer, vols, &id.availability_zone)?;
    let ms = steps.mark("find-volume");
    info!(step = "find-volume", cluster = %cluster.name(), peer = peer.get(), volume = %volume.volume_id, az = %volume.availability_zone,
        initialized = volume.tag(TAG_INITIALIZED).is_some(), elapsed_ms = ms, "found the peer's volume");

    // Fence, then attach.
    let attach = AttachOptions {
        grace: Duration::from_secs(opts.detach_grace_secs),
        deadline: Duration::from_secs(opts.attach_timeout_secs),
        device_name: opts.device_name.clone(),
    };
    let att_device = ensure_attached(ec2, &volume.volume_id, &id.instance_id, &attach).await?;
    let ms = steps.mark("attach");
    info!(step = "attached", volume = %volume.volume_id, instance = %id.instance_id, elapsed_ms = ms, "volume attached");

    // The block device.
    let dev = device::wait_for_device(
        &opts.dev_root,
        &volume.volume_id,
        att_device.as_deref().or(Some(opts.device_name.as_str())),
        Duration::from_secs(opts.device_timeout_secs),
    )
    .await?;
    let ms = steps.mark("device");
    info!(step = "device", volume = %volume.volume_id, device = %dev.display(), elapsed_ms = ms, "block device found by serial");

    // Safe format. Re-read the tags: the initialized tag may have been set since we listed.
    let fresh_vol = ec2.describe_volume(&volume.volume_id).await?;
    let initialized = fresh_vol.tag(TAG_INITIALIZED).is_some();
    let probe = disk::probe(&dev).await?;
    let label = cluster.fs_label(peer);
    let decision = plan_format(&probe, initialized, &label);
    info!(step = "probe", volume = %volume.volume_id, device = %dev.display(), probe = ?probe, initialized, decision = ?decision, "format decision");
    let mut formatted = false;
    match decision {
        FormatDecision::DataLoss => {
            return Err(BootstrapError::DataLoss {
                volume: volume.volume_id,
                device: dev.display().to_string(),
                tag: TAG_INITIALIZED,
            })
        }
        FormatDecision::Foreign { found } => {
            return Err(BootstrapError::ForeignFilesystem {
                volume: volume.volume_id,
                device: dev.display().to_string(),
                found,
                expected: label,
            })
        }
        FormatDecision::Format => {
            disk::mkfs_ext4(&dev, &label).await?;
            ec2.tag_volume(&volume.volume_id, TAG_INITIALIZED, &cluster.member_name(peer))
                .await?;
            formatted = true;
            let ms = steps.mark("format");
            info!(step = "formatted", volume = %volume.volume_id, label = %label, elapsed_ms = ms, "blank, never-initialized volume formatted and tagged");
        }
        FormatDecision::UseExisting { tag } => {
            if disk::mounted_device(&opts.data_dir)?.is_none() {
                let fixed = disk::fsck(&dev).await?;
                info!(step = "fsck", volume = %volume.volume_id, corrected = fixed, "filesystem checked");
                // Grow when the volume was enlarged (more than 1 MiB beyond the filesystem).
                let (dev_b, fs_b) = (disk::device_bytes(&dev).await?, disk::fs_bytes(&dev).await?);
                if dev_b > fs_b + (1 << 20) {
                    disk::grow_offline(&dev).await?;
                    info!(step = "grow", volume = %volume.volume_id, from_bytes = fs_b, to_bytes = dev_b, "filesystem grown to the enlarged volume");
                }
            }
            if tag {
                ec2.tag_volume(&volume.volume_id, TAG_INITIALIZED, &cluster.member_name(peer))
                    .await?;
                info!(step = "fsck", volume = %volume.volume_id, "our filesystem lacked the initialized tag; tagged it");
            }
            let ms = steps.mark("fsck");
            info!(step = "checked", volume = %volume.volume_id, elapsed_ms = ms, "existing filesystem of this peer");
        }
    }

    // Mount.
    match disk::mounted_device(&opts.data_dir)? {
        Some(src) if disk::same_device(&src, &dev) => {
            info!(step = "mount", data_dir = %opts.data_dir.display(), "already mounted (idempotent)");
        }
        Some(src) => {
            return Err(BootstrapError::MountedElsewhere {
                path: opts.data_dir.clone(),
                device: src,
                expected: dev.display().to_string(),
            })
        }
        None => disk::mount(&dev, &opts.data_dir).await?,
    }
    set_owner(&opts.data_dir, opts.etcd_user.as_deref())?;
    let ms = steps.mark("mount");
    info!(step = "mounted", volume = %volume.volume_id, data_dir = %opts.data_dir.display(), elapsed_ms = ms, "volume mounted");

    // DNS.
    let fresh = envfile::is_fresh(&opts.data_dir);
    dns::wait(
        &cluster,
        peer,
        id.private_ip,
        fresh,
        Duration::from_secs(opts.dns_timeout_secs),
    )
    .await?;
    let ms = steps.mark("dns");
    info!(step = "dns-ok", name = %cluster.peer_host(peer), ip = %id.private_ip, fresh, elapsed_ms = ms, "DNS self-check passed");

    // etcd's environment.
    let vars = envfile::render(&cluster, peer, id.private_ip, &opts.data_dir, fresh, Transport::Plain);
    envfile::write_atomic(&opts.env_file, &envfile::to_text(&vars))?;
    let ms = steps.mark("env-file");
    info!(step = "env-file", path = %opts.env_file.display(), state = if fresh { "new" } else { "existing" }, elapsed_ms = ms, "etcd environment written");

    let total_ms = steps.start.elapsed().as_secs_f64() * 1000.0;
    let report = PrepareReport {
        instance_id: id.instance_id.clone(),
        cluster: cluster.name().to_string(),
        peer: peer.get(),
        ip: id.private_ip,
        volume_id: volume.volume_id,
        device: dev,
        formatted,
        fresh,
        steps: steps.done,
        total_ms,
    };
    info!(step = "prepared", total_ms, report = %serde_json::to_string(&report).unwrap_or_default(), "prepare done");
    Ok(report)
}

/// Data dir mode 0700, owned by the etcd user when one is configured.
fn set_owner(dir: &std::path::Path, user: Option<&str>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(BootstrapError::io(dir))?;
    if let Some(u) = user {
        let pw = nix::unistd::User::from_name(u)
            .map_err(|e| BootstrapError::Config(format!("STEADFAST_ETCD_USER {u:?}: {e}")))?
            .ok_or_else(|| BootstrapError::Config(format!("STEADFAST_ETCD_USER {u:?}: no such user")))?;
        nix::unistd::chown(dir, Some(pw.uid), Some(pw.gid))
            .map_err(|e| BootstrapError::io(dir)(std::io::Error::from(e)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use steadfast_core::ClusterName;

    fn vol(id: &str, az: &str) -> Volume {
        Volume {
            volume_id: id.into(),
            availability_zone: az.into(),
            size_gib: 1,
            state: "available".into(),
            tags: vec![],
            attachments: vec![],
        }
    }

    #[test]
    fn volume_choice_refusals() {
        let c = Cluster::new(ClusterName::new("main").unwrap(), Domain::new("d").unwrap(), 9, 3).unwrap();
        let p = c.peer(2).unwrap();
        assert_eq!(
            choose_volume(&c, p, vec![vol("vol-1", "us-east-1c")], "us-east-1c")
                .unwrap()
                .volume_id,
            "vol-1"
        );
        let e = choose_volume(&c, p, vec![], "us-east-1c").unwrap_err().to_string();
        assert!(
            e.contains("no volume tagged steadfast:cluster=main steadfast:peer=2"),
            "{e}"
        );
        let e = choose_volume(&c, p, vec![vol("vol-1", "a"), vol("vol-2", "a")], "a")
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 volumes") && e.contains("vol-1, vol-2"), "{e}");
        let e = choose_volume(&c, p, vec![vol("vol-1", "us-east-1a")], "us-east-1c")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("vol-1 is in us-east-1a but this instance is in us-east-1c"),
            "{e}"
        );
    }
}

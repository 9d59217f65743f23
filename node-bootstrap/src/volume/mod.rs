//! The peer's volume, from finding it to a filesystem ready to mount:
//! - [`find`]: exactly one volume tagged for (cluster, peer), in this instance's zone;
//! - [`claim`]: fence, then attach (`plan_attach`, pure);
//! - [`device`]: the block device by EBS serial under a configurable root;
//! - [`filesystem`]: format / check / grow / refuse (`plan_filesystem`, pure), and applying it;
//! - [`tools`]: blkid, mkfs.ext4, e2fsck, resize2fs, mount; mountinfo.

pub mod claim;
pub mod device;
pub mod filesystem;
pub mod tools;

use std::path::Path;

use steadfast_core::aws::{Volume, Volumes};
use steadfast_core::vocab::Step;
use steadfast_core::vocab::{TAG_CLUSTER, TAG_INITIALIZED, TAG_PEER};
use steadfast_core::{Cluster, PeerIndex};
use tracing::info;

use self::filesystem::{is_ours, plan_filesystem, FsDecision, FsFacts, GrowAbility, Growth, Sizes};
use crate::error::{BootstrapError, Result};

/// The peer's volume: exactly one tagged for (cluster, peer), in this instance's zone.
pub async fn find<V: Volumes>(ec2: &V, cluster: &Cluster, peer: PeerIndex, instance_az: &str) -> Result<Volume> {
    let vols = ec2.volumes_tagged(&cluster.peer_tags(peer)).await?;
    choose(cluster, peer, vols, instance_az)
}

/// Exactly one volume tagged for (cluster, peer), in this instance's zone.
pub fn choose(cluster: &Cluster, peer: PeerIndex, vols: Vec<Volume>, instance_az: &str) -> Result<Volume> {
    let mut vols = vols;
    match vols.len() {
        0 => Err(BootstrapError::NoVolume {
            cluster: cluster.name().to_string(),
            peer: peer.get(),
            cluster_tag: TAG_CLUSTER,
            peer_tag: TAG_PEER,
        }),
        1 => {
            let v = vols.remove(0);
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

/// What [`ready_filesystem`] did, and what is left for after mounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsOutcome {
    pub formatted: bool,
    /// Blank but tagged initialized: the data is gone. Nothing was touched; whether it is
    /// formatted (and its data brought back) is for the recovery plan to decide.
    pub lost: bool,
    /// Grown offline, before mounting.
    pub grown: Option<Sizes>,
    /// To grow online once mounted.
    pub grow_after_mount: Option<Sizes>,
}

/// Gathers the facts (the probe, the volume's initialized tag read afresh, our own filesystem's
/// size, how this machine can grow it), plans with [`plan_filesystem`], and applies the
/// decision up to mounting. `mounted`: the device is already mounted at the data dir.
/// `grow_offline`: offline growth is allowed where online growth is not possible.
pub async fn ready_filesystem<V: Volumes>(
    ec2: &V,
    cluster: &Cluster,
    peer: PeerIndex,
    volume_id: &str,
    dev: &Path,
    mounted: bool,
    grow_offline: bool,
) -> Result<FsOutcome> {
    // gather. Re-read the tags: the initialized tag may have been set since we listed.
    let initialized = ec2.describe_volume(volume_id).await?.tags.initialized();
    let probe = tools::probe(dev).await?;
    let label = cluster.fs_label(peer);
    let sizes = if is_ours(&probe, &label) {
        Some(Sizes {
            device_bytes: tools::device_bytes(dev).await?,
            fs_bytes: tools::fs_bytes(dev).await?,
        })
    } else {
        None
    };
    let grow = if tools::can_grow_online() {
        GrowAbility::Online
    } else if grow_offline {
        GrowAbility::Offline
    } else {
        GrowAbility::Unable
    };
    let facts = FsFacts {
        probe,
        initialized,
        label,
        mounted,
        sizes,
        grow,
    };
    // plan
    let decision = plan_filesystem(&facts);
    info!(during = %Step::Filesystem, volume = volume_id, device = %dev.display(), probe = ?facts.probe, initialized,
        mounted, decision = ?decision, "filesystem decision");
    // apply
    let member = cluster.member_name(peer);
    let tag = || ec2.tag_volume(volume_id, TAG_INITIALIZED, &member);
    match decision {
        FsDecision::DataLoss => {
            tracing::warn!(during = %Step::Filesystem, volume = volume_id, device = %dev.display(),
                "blank but tagged initialized: this peer's data is gone; not formatted (the recovery plan decides)");
            Ok(FsOutcome {
                formatted: false,
                lost: true,
                grown: None,
                grow_after_mount: None,
            })
        }
        FsDecision::Foreign { found } => Err(BootstrapError::ForeignFilesystem {
            volume: volume_id.into(),
            device: dev.display().to_string(),
            found,
            expected: facts.label,
        }),
        FsDecision::Format => {
            tools::mkfs_ext4(dev, &facts.label).await?;
            tag().await?;
            info!(during = %Step::Filesystem, volume = volume_id, label = %facts.label, "blank, never-initialized volume formatted and tagged");
            Ok(FsOutcome {
                formatted: true,
                lost: false,
                grown: None,
                grow_after_mount: None,
            })
        }
        FsDecision::Use {
            tag: needs_tag,
            check,
            grow,
        } => {
            if check {
                let fixed = tools::fsck(dev).await?;
                info!(
                    during = %Step::Filesystem,
                    volume = volume_id,
                    corrected = fixed,
                    "filesystem checked"
                );
            }
            let mut outcome = FsOutcome {
                formatted: false,
                lost: false,
                grown: None,
                grow_after_mount: None,
            };
            match grow {
                Some(Growth::Offline(s)) => {
                    tools::grow_offline(dev).await?;
                    info!(
                        during = %Step::Filesystem,
                        volume = volume_id,
                        from_bytes = s.fs_bytes,
                        to_bytes = s.device_bytes,
                        "filesystem grown to the enlarged volume (offline, as allowed)"
                    );
                    outcome.grown = Some(s);
                }
                Some(Growth::Online(s)) => outcome.grow_after_mount = Some(s),
                Some(Growth::Cannot(s)) => {
                    tracing::warn!(during = %Step::Filesystem, volume = volume_id, from_bytes = s.fs_bytes, to_bytes = s.device_bytes,
                        "the volume was enlarged but this machine cannot grow its filesystem (no CAP_SYS_RESOURCE, offline growth not allowed); it keeps its size");
                }
                None => {}
            }
            if needs_tag {
                tag().await?;
                info!(
                    during = %Step::Filesystem,
                    volume = volume_id,
                    "our filesystem lacked the initialized tag; tagged it"
                );
            }
            Ok(outcome)
        }
    }
}

/// Formats a volume the recovery plan will put data on again (blank, tagged initialized: its
/// data is gone, so formatting loses nothing; it stays tagged).
pub async fn reformat_lost(volume_id: &str, dev: &Path, label: &str) -> Result<()> {
    if tools::probe(dev).await? != filesystem::Probe::Blank {
        return Err(BootstrapError::Command {
            command: format!("mkfs.ext4 {}", dev.display()),
            status: "refused".into(),
            stderr: format!("volume {volume_id} is no longer blank; not formatting it"),
        });
    }
    tools::mkfs_ext4(dev, label).await?;
    info!(during = %Step::Filesystem, volume = volume_id, label, "blank volume of a lost peer formatted for its data to come back");
    Ok(())
}

/// Grows the mounted filesystem online when [`ready_filesystem`] left that for after mounting.
pub async fn grow_mounted(volume_id: &str, dev: &Path, fs: &FsOutcome) -> Result<()> {
    if let Some(s) = fs.grow_after_mount {
        tools::grow_online(dev).await?;
        info!(
            during = %Step::Mount,
            volume = volume_id,
            from_bytes = s.fs_bytes,
            to_bytes = s.device_bytes,
            "filesystem grown online to the enlarged volume"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use steadfast_core::aws::VolumeState;
    use steadfast_core::vocab::Tags;
    use steadfast_core::{ClusterName, Domain};

    fn vol(id: &str, az: &str) -> Volume {
        Volume {
            volume_id: id.into(),
            availability_zone: az.into(),
            size_gib: 1,
            state: VolumeState::Available,
            tags: Tags::default(),
            attachments: vec![],
        }
    }

    #[test]
    fn volume_choice_refusals() {
        let c = Cluster::new(ClusterName::new("main").unwrap(), Domain::new("d").unwrap(), 9, 3).unwrap();
        let p = c.peer(2).unwrap();
        assert_eq!(
            choose(&c, p, vec![vol("vol-1", "us-east-1c")], "us-east-1c")
                .unwrap()
                .volume_id,
            "vol-1"
        );
        let e = choose(&c, p, vec![], "us-east-1c").unwrap_err().to_string();
        assert!(
            e.contains("no volume tagged steadfast:cluster=main steadfast:peer=2"),
            "{e}"
        );
        let e = choose(&c, p, vec![vol("vol-1", "a"), vol("vol-2", "a")], "a")
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 volumes") && e.contains("vol-1, vol-2"), "{e}");
        let e = choose(&c, p, vec![vol("vol-1", "us-east-1a")], "us-east-1c")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("vol-1 is in us-east-1a but this instance is in us-east-1c"),
            "{e}"
        );
    }
}

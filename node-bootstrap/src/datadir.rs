//! The data dir: the peer's volume mounted there (`plan_mount`, pure), owned by the etcd user
//! with mode 0700, and whether it holds a member yet (`is_fresh`).

use std::path::{Path, PathBuf};

use tracing::info;

use crate::error::{BootstrapError, Result};
use crate::volume::tools;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountDecision {
    /// Already mounted there (prepare runs again after a restart): nothing to do.
    AlreadyMounted,
    /// Nothing mounted there: mount it.
    Mount,
    /// Another device is mounted there: refuse (etcd would use the wrong data).
    MountedElsewhere { device: String },
}

/// Decides from what is mounted at the data dir now (`None`: nothing) and whether that is our
/// device.
pub fn plan_mount(mounted: Option<&str>, is_our_device: bool) -> MountDecision {
    match mounted {
        None => MountDecision::Mount,
        Some(_) if is_our_device => MountDecision::AlreadyMounted,
        Some(dev) => MountDecision::MountedElsewhere {
            device: dev.to_string(),
        },
    }
}

/// What is mounted at `data_dir`, gathered once, and the decision for `dev`.
pub fn decide(data_dir: &Path, dev: &Path) -> Result<MountDecision> {
    let mounted = tools::mounted_device(data_dir)?;
    let ours = mounted.as_deref().is_some_and(|m| tools::same_device(m, dev));
    Ok(plan_mount(mounted.as_deref(), ours))
}

/// Applies `decision`, then sets mode 0700 and the owner.
pub async fn mount(decision: &MountDecision, dev: &Path, data_dir: &Path, etcd_user: Option<&str>) -> Result<()> {
    match decision {
        MountDecision::AlreadyMounted => {
            info!(during = "mount", data_dir = %data_dir.display(), "already mounted (idempotent)");
        }
        MountDecision::Mount => tools::mount(dev, data_dir).await?,
        MountDecision::MountedElsewhere { device } => {
            return Err(BootstrapError::MountedElsewhere {
                path: data_dir.to_path_buf(),
                device: device.clone(),
                expected: dev.display().to_string(),
            })
        }
    }
    set_owner(data_dir, etcd_user)
}

/// Data dir mode 0700, owned by the etcd user when one is configured.
fn set_owner(dir: &Path, user: Option<&str>) -> Result<()> {
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

/// `new` on a fresh data dir (bootstrap through SRV discovery), `existing` when the member's
/// data is there (etcd then ignores the discovery flags and rejoins as the same member).
pub fn is_fresh(data_dir: &Path) -> bool {
    let member: PathBuf = data_dir.join("member");
    !member.join("snap").exists() && !member.join("wal").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(plan_mount(None, false), MountDecision::Mount);
        assert_eq!(plan_mount(Some("/dev/loop3"), true), MountDecision::AlreadyMounted);
        assert_eq!(
            plan_mount(Some("/dev/sda1"), false),
            MountDecision::MountedElsewhere {
                device: "/dev/sda1".into()
            }
        );
    }

    #[test]
    fn freshness() {
        let d = tempfile::tempdir().unwrap();
        assert!(is_fresh(d.path()));
        std::fs::create_dir_all(d.path().join("lost+found")).unwrap();
        assert!(is_fresh(d.path()));
        std::fs::create_dir_all(d.path().join("member/wal")).unwrap();
        assert!(!is_fresh(d.path()));
    }
}

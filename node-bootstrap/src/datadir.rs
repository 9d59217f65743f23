//! The data dir: the peer's volume mounted there (`plan_mount`, pure), owned by the etcd user
//! with mode 0700, and whether it holds a member yet (`is_fresh`).

use std::path::{Path, PathBuf};

use steadfast_core::vocab::env;
use steadfast_core::vocab::Step;
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
            info!(during = %Step::Mount, data_dir = %data_dir.display(), "already mounted (idempotent)");
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

/// Data dir mode 0700; with an etcd user, the whole data tree owned by it. Files on the volume
/// keep the ids of the instance that wrote them: a replacement whose image gives its etcd user
/// another uid re-owns the tree here, or etcd could not open its own `member/` directory.
pub fn set_owner(dir: &Path, user: Option<&str>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(BootstrapError::io(dir))?;
    let Some(u) = user else { return Ok(()) };
    let pw = nix::unistd::User::from_name(u)
        .map_err(|e| BootstrapError::Config(format!("{} {u:?}: {e}", env::ETCD_USER)))?
        .ok_or_else(|| BootstrapError::Config(format!("{} {u:?}: no such user", env::ETCD_USER)))?;
    let (uid, gid) = (pw.uid.as_raw(), pw.gid.as_raw());
    let foreign = foreign_owned(dir, uid, gid)?;
    if foreign.is_empty() {
        return Ok(());
    }
    info!(during = %Step::Mount, data_dir = %dir.display(), user = u, uid, gid, entries = foreign.len(),
        first = %foreign[0].display(), "data tree owned by another user (an image change?): re-owning it");
    for p in &foreign {
        std::os::unix::fs::lchown(p, Some(uid), Some(gid)).map_err(BootstrapError::io(p))?;
    }
    Ok(())
}

/// Every entry of the tree at `root` (itself included) not owned by `uid:gid`. Symlinks are
/// not followed.
fn foreign_owned(root: &Path, uid: u32, gid: u32) -> Result<Vec<PathBuf>> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let md = std::fs::symlink_metadata(&p).map_err(BootstrapError::io(&p))?;
        if md.uid() != uid || md.gid() != gid {
            out.push(p.clone());
        }
        if md.is_dir() {
            for e in std::fs::read_dir(&p).map_err(BootstrapError::io(&p))? {
                todo.push(e.map_err(BootstrapError::io(&p))?.path());
            }
        }
    }
    Ok(out)
}

/// `new` on a fresh data dir (bootstrap through SRV discovery), `existing` when the member's
/// data is there (etcd then ignores the discovery flags and rejoins as the same member). An
/// error when that cannot be told (an unreadable `member/`): a volume whose data is there but
/// unreadable must never be taken for a fresh one.
pub fn is_fresh(data_dir: &Path) -> Result<bool> {
    let member: PathBuf = data_dir.join("member");
    for p in [member.join("snap"), member.join("wal")] {
        if p.try_exists().map_err(BootstrapError::io(&p))? {
            return Ok(false);
        }
    }
    Ok(true)
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
        assert!(is_fresh(d.path()).unwrap());
        std::fs::create_dir_all(d.path().join("lost+found")).unwrap();
        assert!(is_fresh(d.path()).unwrap());
        std::fs::create_dir_all(d.path().join("member/wal")).unwrap();
        assert!(!is_fresh(d.path()).unwrap());
    }

    #[test]
    fn a_data_dir_that_cannot_be_read_is_an_error_not_fresh() {
        // `member` is a file: looking inside fails with ENOTDIR. The old check took any error
        // for "absent", so a broken data dir bootstrapped a new cluster.
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("member"), "not a directory").unwrap();
        let err = is_fresh(d.path()).unwrap_err().to_string();
        assert!(err.contains("member/snap"), "{err}");
    }

    #[test]
    fn the_whole_tree_is_checked_for_its_owner() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("member/wal")).unwrap();
        std::fs::write(d.path().join("member/wal/0.wal"), "x").unwrap();
        let md = std::fs::metadata(d.path()).unwrap();
        assert!(foreign_owned(d.path(), md.uid(), md.gid()).unwrap().is_empty());
        let other = foreign_owned(d.path(), md.uid() + 1, md.gid()).unwrap();
        assert_eq!(other.len(), 4, "{other:?}");
        assert!(other.contains(&d.path().join("member/wal/0.wal")));
    }
}

//! Finding the volume's block device by its EBS serial (DESIGN decision 4), under a configurable
//! root so the sandbox can present its own devices.
//!
//! - Nitro (NVMe): `<root>/sys/block/nvme*/device/serial` holds the volume id without its dash
//!   (`vol0123...`); the device is `<root>/dev/<name>`.
//! - Xen: the device is the attachment's name, with `sd` rewritten to `xvd` (`/dev/sdf` ->
//!   `/dev/xvdf`); used only when no NVMe device carries a serial at all.

use std::path::{Path, PathBuf};
use std::time::Duration;

use steadfast_core::poll::{self, Backoff, Poll};

use crate::error::{BootstrapError, Result};

/// The NVMe serial EBS gives a volume: its id without the dash.
pub fn ebs_serial(volume_id: &str) -> String {
    volume_id.replacen('-', "", 1)
}

/// The device names a Xen instance may show for an attachment name.
pub fn xen_candidates(attachment_device: &str) -> Vec<String> {
    let name = attachment_device.trim_start_matches("/dev/");
    let mut out = vec![name.to_string()];
    if let Some(rest) = name.strip_prefix("sd") {
        out.push(format!("xvd{rest}"));
    }
    if let Some(rest) = name.strip_prefix("xvd") {
        out.push(format!("sd{rest}"));
    }
    out
}

/// One look: the device path for `volume_id`, if present now.
pub fn find_once(root: &Path, volume_id: &str, attachment_device: Option<&str>) -> Option<PathBuf> {
    let serial = ebs_serial(volume_id);
    let mut saw_nvme = false;
    if let Ok(entries) = std::fs::read_dir(root.join("sys/block")) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Ok(s) = std::fs::read_to_string(e.path().join("device/serial")) else {
                continue;
            };
            saw_nvme = true;
            if s.trim() == serial {
                let dev = root.join("dev").join(&name);
                if dev.exists() {
                    return Some(dev);
                }
            }
        }
    }
    if !saw_nvme {
        for cand in attachment_device.map(xen_candidates).unwrap_or_default() {
            let dev = root.join("dev").join(&cand);
            if dev.exists() {
                return Some(dev);
            }
        }
    }
    None
}

/// Waits (with backoff) until the device appears, up to `deadline`.
pub async fn wait_for_device(
    root: &Path,
    volume_id: &str,
    attachment_device: Option<&str>,
    deadline: Duration,
) -> Result<PathBuf> {
    let found = poll::until(
        deadline,
        // A look is a few reads of sysfs: 100 ms apart at most, so an attached device is seen
        // within that (a 500 ms cap cost up to 400 ms of every attach).
        Backoff::new(Duration::from_millis(20), Duration::from_millis(100)),
        || async {
            Ok::<_, BootstrapError>(match find_once(root, volume_id, attachment_device) {
                Some(p) => Poll::Ready(p),
                None => {
                    crate::progress::waiting(&format!("the block device of {volume_id}"));
                    Poll::Pending("not there yet".into())
                }
            })
        },
    )
    .await?;
    found.map_err(|_| BootstrapError::NoDevice {
        volume: volume_id.into(),
        root: root.to_path_buf(),
        detail: format!(
            "no sys/block/*/device/serial reads {} and no dev/{} after {} s",
            ebs_serial(volume_id),
            attachment_device
                .map(xen_candidates)
                .unwrap_or_default()
                .join(" or dev/"),
            deadline.as_secs()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_and_xen_names() {
        assert_eq!(ebs_serial("vol-0abc123"), "vol0abc123");
        assert_eq!(xen_candidates("/dev/sdf"), vec!["sdf", "xvdf"]);
        assert_eq!(xen_candidates("/dev/xvdg"), vec!["xvdg", "sdg"]);
    }

    #[test]
    fn finds_nvme_by_serial_and_ignores_others() {
        let root = tempfile::tempdir().unwrap();
        for (name, serial) in [
            ("nvme0n1", "vol0root"),
            ("nvme1n1", "vol0abc"),
            ("nvme2n1", "vol0other"),
        ] {
            std::fs::create_dir_all(root.path().join(format!("sys/block/{name}/device"))).unwrap();
            std::fs::write(
                root.path().join(format!("sys/block/{name}/device/serial")),
                format!("{serial}   \n"),
            )
            .unwrap();
        }
        std::fs::create_dir_all(root.path().join("dev")).unwrap();
        // The device node is not there yet: not found.
        assert_eq!(find_once(root.path(), "vol-0abc", Some("/dev/sdf")), None);
        std::fs::write(root.path().join("dev/nvme1n1"), "").unwrap();
        std::fs::write(root.path().join("dev/xvdf"), "").unwrap();
        assert_eq!(
            find_once(root.path(), "vol-0abc", Some("/dev/sdf")),
            Some(root.path().join("dev/nvme1n1"))
        );
        // On an NVMe machine the Xen name is never trusted.
        assert_eq!(find_once(root.path(), "vol-0zzz", Some("/dev/sdf")), None);
    }

    #[test]
    fn finds_xen_by_attachment_name() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("dev")).unwrap();
        std::fs::write(root.path().join("dev/xvdf"), "").unwrap();
        assert_eq!(
            find_once(root.path(), "vol-0abc", Some("/dev/sdf")),
            Some(root.path().join("dev/xvdf"))
        );
    }
}

//! The hypervisor: presents an attached EBS volume to its instance's node as a block device.
//! Each volume is an image file; when moto shows it attached, a loop device over the image is
//! presented under the node's root as `sys/block/<nvmeXn1>/device/serial` (the volume id
//! without its dash) and `dev/<nvmeXn1>` (a symlink to the loop device). When moto shows it
//! detached, or the instance is gone, it is withdrawn and the loop device released.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Result, SandboxError};

/// A volume presented to a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    pub volume_id: String,
    pub instance_id: String,
    pub loop_device: String,
    pub root: PathBuf,
    pub name: String,
}

/// Creates a sparse image file of `size_mib`.
pub fn create_image(path: &Path, size_mib: u64) -> Result<()> {
    let f = std::fs::File::create(path).map_err(SandboxError::io(format!("create {}", path.display())))?;
    f.set_len(size_mib * 1024 * 1024)
        .map_err(SandboxError::io(format!("size {}", path.display())))?;
    Ok(())
}

fn run(cmd: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(SandboxError::io(format!("run {cmd}")))?;
    if !out.status.success() {
        return Err(SandboxError::Setup(format!(
            "{cmd} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Presents `image` for `volume_id` under `root` as NVMe device `name`.
pub fn present(root: &Path, volume_id: &str, instance_id: &str, image: &Path, name: &str) -> Result<Presented> {
    let loop_device = run("losetup", &["--find", "--show", &image.to_string_lossy()])?;
    let sys = root.join("sys/block").join(name).join("device");
    std::fs::create_dir_all(&sys).map_err(SandboxError::io(format!("mkdir {}", sys.display())))?;
    std::fs::write(sys.join("serial"), format!("{}\n", volume_id.replacen('-', "", 1)))
        .map_err(SandboxError::io("write serial"))?;
    let dev = root.join("dev");
    std::fs::create_dir_all(&dev).map_err(SandboxError::io(format!("mkdir {}", dev.display())))?;
    let link = dev.join(name);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&loop_device, &link).map_err(SandboxError::io(format!("symlink {}", link.display())))?;
    Ok(Presented {
        volume_id: volume_id.into(),
        instance_id: instance_id.into(),
        loop_device,
        root: root.into(),
        name: name.into(),
    })
}

/// Withdraws a presented device and releases its loop device (lazily, if still mounted somewhere).
pub fn withdraw(p: &Presented) -> Result<()> {
    let _ = std::fs::remove_file(p.root.join("dev").join(&p.name));
    let _ = std::fs::remove_dir_all(p.root.join("sys/block").join(&p.name));
    run("losetup", &["--detach", &p.loop_device]).map(|_| ())
}

/// Loop devices currently backed by files under `dir`.
pub fn loops_under(dir: &Path) -> Vec<String> {
    let Ok(out) = run("losetup", &["--list", "--noheadings", "--output", "NAME,BACK-FILE"]) else {
        return vec![];
    };
    let d = dir.to_string_lossy().to_string();
    out.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (name, file) = (it.next()?, it.next()?);
            file.starts_with(&d).then(|| name.to_string())
        })
        .collect()
}

/// Keeps presented devices in step with moto's attachments.
#[derive(Debug, Default)]
pub struct Hypervisor {
    /// volume id -> image file.
    pub images: BTreeMap<String, PathBuf>,
    /// instance id -> node root.
    pub roots: BTreeMap<String, PathBuf>,
    pub presented: BTreeMap<String, Presented>,
    /// Volumes to lose their data (an EBS failure, a wiped disk): zeroed the first time they are
    /// presented to no one, before any instance sees them again.
    pub wipes: std::collections::BTreeSet<String>,
}

/// Zeroes an image file, keeping its size (sparse: every block reads as zeros).
pub fn zero_image(path: &Path) -> Result<()> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(SandboxError::io(format!("open {}", path.display())))?;
    let size = f
        .metadata()
        .map_err(SandboxError::io(format!("stat {}", path.display())))?
        .len();
    f.set_len(0)
        .and_then(|_| f.set_len(size))
        .and_then(|_| f.sync_all())
        .map_err(SandboxError::io(format!("zero {}", path.display())))
}

impl Hypervisor {
    /// One pass: `attached` is (volume id, instance id) for every attachment moto calls attached.
    /// Returns what changed, as (volume, instance, "presented" | "withdrawn" | "wiped").
    pub fn sync(&mut self, attached: &[(String, String)]) -> Result<Vec<(String, String, &'static str)>> {
        let mut changes = Vec::new();
        let stale: Vec<String> = self
            .presented
            .iter()
            .filter(|(v, p)| !attached.iter().any(|(av, ai)| av == *v && *ai == p.instance_id))
            .map(|(v, _)| v.clone())
            .collect();
        let mut errors = Vec::new();
        for v in stale {
            if let Some(p) = self.presented.remove(&v) {
                // Keep going on failure: the device is gone from the node either way; the loop
                // device is released by `sandbox down` at the latest.
                if let Err(e) = withdraw(&p) {
                    errors.push(e.to_string());
                }
                changes.push((p.volume_id, p.instance_id, "withdrawn"));
            }
        }
        // A volume to be wiped loses its data while no instance has it.
        for v in self.wipes.clone() {
            if self.presented.contains_key(&v) {
                continue;
            }
            // Not one of ours (no image): nothing to wipe. A failed wipe is tried again.
            let wiped = match self.images.get(&v) {
                Some(image) => zero_image(image).map(|_| true),
                None => Ok(false),
            };
            match wiped {
                Ok(true) => {
                    changes.push((v.clone(), String::new(), "wiped"));
                    self.wipes.remove(&v);
                }
                Ok(false) => {
                    self.wipes.remove(&v);
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        for (v, i) in attached {
            if self.presented.contains_key(v) {
                continue;
            }
            let (Some(image), Some(root)) = (self.images.get(v), self.roots.get(i)) else {
                continue;
            };
            match present(root, v, i, image, "nvme1n1") {
                Ok(p) => {
                    self.presented.insert(v.clone(), p);
                    changes.push((v.clone(), i.clone(), "presented"));
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        if errors.is_empty() {
            Ok(changes)
        } else {
            Err(SandboxError::Setup(format!(
                "hypervisor: {} (changes made: {changes:?})",
                errors.join("; ")
            )))
        }
    }

    pub fn withdraw_all(&mut self) {
        for (_, p) in std::mem::take(&mut self.presented) {
            let _ = withdraw(&p);
        }
    }
}

impl Drop for Hypervisor {
    fn drop(&mut self) {
        self.withdraw_all();
    }
}

//! The disk tools node-bootstrap runs: `blkid -p`, `mkfs.ext4`, `e2fsck -p`, `resize2fs`, `mount`. Each run has a
//! deadline and its failure names the command and what it printed.

use std::path::Path;
use std::time::Duration;

use tokio::process::Command;

use super::filesystem::{parse_blkid_export, Probe};
use crate::error::{BootstrapError, Result};

#[derive(Debug)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

pub async fn run(cmd: &str, args: &[&str], timeout: Duration) -> Result<Output> {
    let line = format!("{cmd} {}", args.join(" "));
    let child = Command::new(cmd)
        .args(args)
        .env("LC_ALL", "C")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(timeout, child)
        .await
        .map_err(|_| BootstrapError::Command {
            command: line.clone(),
            status: format!("no exit within {timeout:?}"),
            stderr: String::new(),
        })?
        .map_err(|e| BootstrapError::Command {
            command: line.clone(),
            status: "could not start".into(),
            stderr: e.to_string(),
        })?;
    Ok(Output {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Runs a tool that modifies a filesystem (mkfs, e2fsck, resize2fs, mount's journal replay) to
/// its end: it is never killed because a deadline passed (a half-done resize corrupts the
/// filesystem). While it runs past `warn_every`, that is logged, again and again.
pub async fn run_to_end(cmd: &str, args: &[&str], warn_every: Duration) -> Result<Output> {
    let line = format!("{cmd} {}", args.join(" "));
    let mut child = Command::new(cmd)
        .args(args)
        .env("LC_ALL", "C")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| BootstrapError::Command {
            command: line.clone(),
            status: "could not start".into(),
            stderr: e.to_string(),
        })?;
    let (mut so, mut se) = (child.stdout.take(), child.stderr.take());
    let read_all = async {
        use tokio::io::AsyncReadExt;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        if let Some(s) = so.as_mut() {
            let _ = s.read_to_end(&mut a).await;
        }
        if let Some(s) = se.as_mut() {
            let _ = s.read_to_end(&mut b).await;
        }
        (a, b)
    };
    let started = std::time::Instant::now();
    let mut out = std::pin::pin!(async {
        let (a, b) = read_all.await;
        (child.wait().await, a, b)
    });
    loop {
        tokio::select! {
            (status, stdout, stderr) = &mut out => {
                let status = status.map_err(|e| BootstrapError::Command {
                    command: line.clone(),
                    status: "could not be waited for".into(),
                    stderr: e.to_string(),
                })?;
                return Ok(Output {
                    status: status.code().unwrap_or(-1),
                    stdout: String::from_utf8_lossy(&stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&stderr).into_owned(),
                });
            }
            _ = tokio::time::sleep(warn_every) => {
                tracing::warn!(command = %line, running_s = started.elapsed().as_secs(),
                    "still running; a tool that modifies a filesystem is never interrupted");
            }
        }
    }
}

/// How long a modifying tool runs before each "still running" warning.
const WARN_EVERY: Duration = Duration::from_secs(60);

async fn run_ok(cmd: &str, args: &[&str], timeout: Duration) -> Result<Output> {
    let out = run(cmd, args, timeout).await?;
    if out.status != 0 {
        return Err(BootstrapError::Command {
            command: format!("{cmd} {}", args.join(" ")),
            status: format!("exit {}", out.status),
            stderr: out.stderr.trim().to_string(),
        });
    }
    Ok(out)
}

/// `blkid -p -o export <dev>`: low-level probe that reads the device itself (no cache).
pub async fn probe(dev: &Path) -> Result<Probe> {
    let d = dev.to_string_lossy();
    let out = run("blkid", &["-p", "-o", "export", &d], Duration::from_secs(30)).await?;
    match out.status {
        0 => Ok(parse_blkid_export(&out.stdout)),
        // 2: nothing found, or the device could not be read at all (blkid says nothing either
        // way). Blank must be proven: the device reads, and reads as zeros at both ends.
        2 => match zeroed_ends(dev) {
            Ok(true) => Ok(Probe::Blank),
            Ok(false) => Ok(Probe::Unrecognized),
            Err(e) => Err(BootstrapError::Io {
                path: dev.to_path_buf(),
                source: e,
            }),
        },
        s => Err(BootstrapError::Command {
            command: format!("blkid -p -o export {d}"),
            status: format!("exit {s}"),
            stderr: out.stderr.trim().to_string(),
        }),
    }
}

/// Whether the first and last MiB of the device read as zeros (a new EBS volume does). An
/// error when the device cannot be opened or read: never mistake an unreadable disk for a
/// blank one.
pub fn zeroed_ends(dev: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    const MIB: u64 = 1 << 20;
    let mut f = std::fs::File::open(dev)?;
    let len = f.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Err(std::io::Error::other("the device reports a size of 0 bytes"));
    }
    let mut buf = vec![0u8; MIB.min(len) as usize];
    for start in [0, len.saturating_sub(MIB)] {
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf)?;
        if buf.iter().any(|b| *b != 0) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `run_to_end`, and an error unless it exits 0.
async fn run_to_end_ok(cmd: &str, args: &[&str]) -> Result<Output> {
    let out = run_to_end(cmd, args, WARN_EVERY).await?;
    if out.status != 0 {
        return Err(BootstrapError::Command {
            command: format!("{cmd} {}", args.join(" ")),
            status: format!("exit {}", out.status),
            stderr: out.stderr.trim().to_string(),
        });
    }
    Ok(out)
}

pub async fn mkfs_ext4(dev: &Path, label: &str) -> Result<()> {
    let d = dev.to_string_lossy();
    // -F: the device may be a loop device or an image; no lazy init so the first write is not slowed.
    run_to_end_ok(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-L",
            label,
            "-E",
            "lazy_itable_init=0,lazy_journal_init=0",
            &d,
        ],
    )
    .await?;
    Ok(())
}

/// `e2fsck -p`: exit 0 clean, 1 errors corrected; anything else stops us.
pub async fn fsck(dev: &Path) -> Result<bool> {
    let d = dev.to_string_lossy();
    let out = run_to_end("e2fsck", &["-p", &d], WARN_EVERY).await?;
    match out.status {
        0 => Ok(false),
        1 => Ok(true),
        s => Err(BootstrapError::Command {
            command: format!("e2fsck -p {d}"),
            status: format!("exit {s} (the filesystem needs a manual fsck)"),
            stderr: format!("{}{}", out.stdout.trim(), out.stderr.trim()),
        }),
    }
}

/// Size of the block device in bytes (`blockdev --getsize64`).
pub async fn device_bytes(dev: &Path) -> Result<u64> {
    let d = dev.to_string_lossy();
    let out = run_ok("blockdev", &["--getsize64", &d], Duration::from_secs(30)).await?;
    out.stdout.trim().parse().map_err(|_| BootstrapError::Command {
        command: format!("blockdev --getsize64 {d}"),
        status: "unparsable output".into(),
        stderr: out.stdout.trim().to_string(),
    })
}

/// Size of the ext4 filesystem in bytes (block count x block size, from `dumpe2fs -h`).
pub async fn fs_bytes(dev: &Path) -> Result<u64> {
    let d = dev.to_string_lossy();
    let out = run_ok("dumpe2fs", &["-h", &d], Duration::from_secs(60)).await?;
    let field = |name: &str| -> Option<u64> {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
    };
    match (field("Block count:"), field("Block size:")) {
        (Some(n), Some(b)) => Ok(n * b),
        _ => Err(BootstrapError::Command {
            command: format!("dumpe2fs -h {d}"),
            status: "no Block count / Block size".into(),
            stderr: String::new(),
        }),
    }
}

/// Whether this process may grow a mounted ext4 filesystem (`resize2fs` online needs
/// CAP_SYS_RESOURCE in the effective set; a root shell on some machines lacks it).
pub fn can_grow_online() -> bool {
    const CAP_SYS_RESOURCE: u32 = 24;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let hex = s.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim().to_string();
            u64::from_str_radix(&hex, 16).ok()
        })
        .is_some_and(|caps| caps & (1 << CAP_SYS_RESOURCE) != 0)
}

/// Grows a mounted filesystem to fill its (enlarged) device: `resize2fs` online.
pub async fn grow_online(dev: &Path) -> Result<()> {
    let d = dev.to_string_lossy();
    run_to_end_ok("resize2fs", &[&d]).await?;
    Ok(())
}

/// Grows an unmounted filesystem to fill its (enlarged) device: `e2fsck -f -p`, then
/// `resize2fs`. Offline, so it needs no CAP_SYS_RESOURCE; only where explicitly allowed.
pub async fn grow_offline(dev: &Path) -> Result<()> {
    let d = dev.to_string_lossy();
    let out = run_to_end("e2fsck", &["-f", "-p", &d], WARN_EVERY).await?;
    if out.status > 1 {
        return Err(BootstrapError::Command {
            command: format!("e2fsck -f -p {d}"),
            status: format!("exit {} (the filesystem needs a manual fsck)", out.status),
            stderr: format!("{}{}", out.stdout.trim(), out.stderr.trim()),
        });
    }
    run_to_end_ok("resize2fs", &[&d]).await?;
    Ok(())
}

/// The device mounted at `path`, from `/proc/self/mountinfo`.
pub fn mounted_device(path: &Path) -> Result<Option<String>> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").map_err(BootstrapError::io("/proc/self/mountinfo"))?;
    let want = path.to_string_lossy();
    let mut found = None;
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if fields.get(4).map(|m| unescape(m)) == Some(want.to_string()) {
            found = fields.get(dash + 2).map(|s| s.to_string());
        }
    }
    Ok(found)
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Whether the mounted source `mounted` is the device `dev` (after resolving symlinks).
pub fn same_device(mounted: &str, dev: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canon(Path::new(mounted)) == canon(dev)
}

/// Mounts `dev` at `at` (mount may replay the journal: run to its end).
pub async fn mount(dev: &Path, at: &Path) -> Result<()> {
    std::fs::create_dir_all(at).map_err(BootstrapError::io(at))?;
    let (d, a) = (dev.to_string_lossy(), at.to_string_lossy());
    run_to_end_ok("mount", &["-t", "ext4", "-o", "noatime", &d, &a]).await?;
    Ok(())
}

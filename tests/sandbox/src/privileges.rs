//! What tests that need root, namespaces or loop devices check first. A missing thing is said
//! loudly; under CI (`CI=true`) it fails the test, because CI machines have all of them.

use std::path::Path;

/// `None` when everything needed is here; otherwise what is missing.
pub fn missing_for_block_devices() -> Option<String> {
    if !nix_is_root() {
        return Some("root (euid 0)".into());
    }
    if !Path::new("/dev/loop-control").exists() {
        return Some("loop devices (/dev/loop-control)".into());
    }
    for tool in [
        "losetup",
        "mkfs.ext4",
        "blkid",
        "e2fsck",
        "resize2fs",
        "mount",
        "unshare",
    ] {
        if which(tool).is_none() {
            return Some(format!("the {tool} command"));
        }
    }
    None
}

fn nix_is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub fn which(tool: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].iter().map(std::path::PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Whether this runs under CI: `CI` is `true` or `1` (any case), the one rule the shell and
/// Python checks use too.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1"))
}

/// Call at the top of such a test: `if skip_unless_block_devices("name") { return; }`.
/// Prints a loud SKIPPED banner, or panics under CI.
pub fn skip_unless_block_devices(test: &str) -> bool {
    match missing_for_block_devices() {
        None => false,
        Some(what) => {
            let msg = format!("SKIPPED {test}: needs {what}, which this machine does not have");
            if under_ci() {
                panic!("{msg} (CI must run it)");
            }
            eprintln!("\n!!!!!!!!!! {msg} !!!!!!!!!!\n");
            true
        }
    }
}

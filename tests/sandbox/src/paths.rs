//! Where things live: the workspace root, the project venv (`STEADFAST_VENV`, default
//! `<workspace>/.venv`), moto and the etcd binaries inside it.

use std::path::PathBuf;

use crate::error::{Result, SandboxError};

/// The workspace root (the directory holding `Cargo.lock`, above this crate).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .map(PathBuf::from)
        .unwrap_or(here)
}

/// The project's Python venv, made by `make deps`.
pub fn venv() -> PathBuf {
    std::env::var_os("STEADFAST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv"))
}

fn existing(p: PathBuf) -> Result<PathBuf> {
    if p.exists() {
        Ok(p)
    } else {
        Err(SandboxError::Missing(p))
    }
}

/// The venv's python and the project's moto launcher script.
pub fn moto_launcher() -> Result<(PathBuf, PathBuf)> {
    Ok((
        existing(venv().join("bin").join("python"))?,
        existing(workspace_root().join("tests/sandbox/moto/steadfast_moto.py"))?,
    ))
}

/// Directory with `etcd`, `etcdctl`, `etcdutl` 3.5.16 (Debian's packages, unpacked by `scripts/deps.sh`).
pub fn etcd_bin_dir() -> Result<PathBuf> {
    existing(venv().join("etcd"))
}

pub fn cargo_lambda() -> Result<PathBuf> {
    existing(venv().join("bin").join("cargo-lambda"))
}

/// The shared cargo target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A binary cargo built into the same profile directory as the running test executable
/// (`target/<profile>/deps/<test>` -> `target/<profile>/<name>`).
pub fn built_bin(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(crate::error::SandboxError::io("current_exe"))?;
    let profile_dir = exe.ancestors().find(|d| d.join(name).is_file()).map(|d| d.join(name));
    profile_dir.ok_or_else(|| SandboxError::Missing(exe.with_file_name(name)))
}

//! Files written atomically (temp file + fsync + rename): a reader sees the old file or the new
//! one, never half. etcd's environment file, the handoff and the TLS files all go through here.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use steadfast_core::vocab::env;

use crate::error::{BootstrapError, Result};

/// Writes `contents` to `path` atomically: a reader sees the old file or the new one, never half.
pub fn write_atomic(path: &Path, contents: &str) -> Result<()> {
    write_atomic_as(path, contents, 0o644, None)
}

/// [`write_atomic`] with the file's `mode` and `owner` (a user name) set on the temp file
/// before any contents go in: a key is never readable by others, not even for a moment.
pub fn write_atomic_as(path: &Path, contents: &str, mode: u32, owner: Option<&str>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(BootstrapError::io(dir))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(BootstrapError::io(&tmp))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).map_err(BootstrapError::io(&tmp))?;
    if let Some(user) = owner {
        let pw = nix::unistd::User::from_name(user)
            .map_err(|e| BootstrapError::Config(format!("{} {user:?}: {e}", env::ETCD_USER)))?
            .ok_or_else(|| BootstrapError::Config(format!("{} {user:?}: no such user", env::ETCD_USER)))?;
        std::os::unix::fs::chown(&tmp, Some(pw.uid.as_raw()), Some(pw.gid.as_raw()))
            .map_err(BootstrapError::io(&tmp))?;
    }
    f.write_all(contents.as_bytes()).map_err(BootstrapError::io(&tmp))?;
    f.sync_all().map_err(BootstrapError::io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(BootstrapError::io(path))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

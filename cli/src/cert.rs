//! `steadfast cert issue`: a client certificate for a named application.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use steadfast_core::clock::now;
use steadfast_core::tls::{client_credentials, CertInfo, DAY_SECS};

use crate::error::{CliError, Result};
use crate::Target;

/// What was written.
#[derive(Debug)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub info: CertInfo,
    pub issuer: CertInfo,
}

/// A client name: what goes into the certificate's CN and the file names.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "--name {name:?}: 1 to 64 of letters, digits, '-', '_', '.' (not starting with '.')"
        )))
    }
}

fn write(path: &Path, body: &str, mode: u32) -> Result<()> {
    // The key is created with its mode (never world-readable, not even for a moment).
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(CliError::io(tmp.display()))?;
    f.write_all(body.as_bytes()).map_err(CliError::io(tmp.display()))?;
    f.sync_all().map_err(CliError::io(tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).map_err(CliError::io(tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(CliError::io(path.display()))
}

/// Issues `name`'s certificate (valid `days`) and writes `<out>/<name>.pem`,
/// `<out>/<name>-key.pem` (0600) and `<out>/ca.pem` (every CA the members may present now).
pub async fn issue(target: &Target, name: &str, days: i64, out: &Path) -> Result<Issued> {
    check_name(name)?;
    if !(1..=397).contains(&days) {
        return Err(CliError::Usage(format!("--days {days}: 1 to 397")));
    }
    let c = client_credentials(&target.cloud.secrets, &target.ca_secret, name, now(), days * DAY_SECS).await?;
    std::fs::create_dir_all(out).map_err(CliError::io(out.display()))?;
    let cert = out.join(format!("{name}.pem"));
    let key = out.join(format!("{name}-key.pem"));
    let ca = out.join("ca.pem");
    write(&key, &c.cert.key_pem, 0o600)?;
    write(&cert, &c.cert.cert_pem, 0o644)?;
    write(&ca, &c.trust_bundle, 0o644)?;
    Ok(Issued {
        info: CertInfo::parse(&c.cert.cert_pem)?,
        issuer: c.issuer,
        cert,
        key,
        ca,
    })
}

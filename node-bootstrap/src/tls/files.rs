//! The files etcd and node-bootstrap read: the CA bundle, this peer's certificate and its key,
//! each replaced atomically (a reader sees the old file or the new one). The key is readable by
//! etcd's user only.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use steadfast_core::tls::{CertInfo, KeyedCert, OnDisk};

use crate::config::TlsPaths;
use crate::error::{BootstrapError, Result};

/// The TLS directory's files (named by [`TlsPaths`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    paths: TlsPaths,
}

impl Files {
    pub fn new(dir: &Path) -> Self {
        Self {
            paths: TlsPaths::in_dir(dir),
        }
    }

    /// The CA bundle: every trusted CA certificate.
    pub fn ca(&self) -> PathBuf {
        self.paths.ca.clone()
    }

    /// This peer's certificate.
    pub fn cert(&self) -> PathBuf {
        self.paths.cert.clone()
    }

    pub fn key(&self) -> PathBuf {
        self.paths.key.clone()
    }

    /// What is there now; a missing or unreadable file reads as absent.
    pub fn on_disk(&self) -> OnDisk {
        let text = |p: PathBuf| std::fs::read_to_string(p).ok();
        OnDisk {
            leaf: text(self.cert()).and_then(|t| CertInfo::parse(&t).ok()),
            trust: text(self.ca())
                .and_then(|t| CertInfo::parse_bundle(&t).ok())
                .map(|v| v.into_iter().map(|i| i.fingerprint).collect()),
        }
    }

    /// The certificate now on disk, parsed.
    pub fn leaf(&self) -> Result<CertInfo> {
        let p = self.cert();
        let text = std::fs::read_to_string(&p).map_err(BootstrapError::io(&p))?;
        Ok(CertInfo::parse(&text)?)
    }

    /// Fingerprints of the CA bundle now on disk.
    pub fn trust(&self) -> Result<Vec<String>> {
        let p = self.ca();
        let text = std::fs::read_to_string(&p).map_err(BootstrapError::io(&p))?;
        Ok(CertInfo::parse_bundle(&text)?
            .into_iter()
            .map(|i| i.fingerprint)
            .collect())
    }

    /// Writes a new certificate and its key (the key first, readable by `owner` only).
    pub fn write_leaf(&self, leaf: &KeyedCert, owner: Option<&str>) -> Result<()> {
        write(&self.key(), &leaf.key_pem, 0o600, owner)?;
        write(&self.cert(), &leaf.cert_pem, 0o644, owner)
    }

    pub fn write_trust(&self, bundle: &str, owner: Option<&str>) -> Result<()> {
        write(&self.ca(), bundle, 0o644, owner)
    }
}

/// Writes `contents` to `path` atomically with `mode`, owned by `owner` (a user name), in a
/// directory anyone may enter (etcd's user reads it).
fn write(path: &Path, contents: &str, mode: u32, owner: Option<&str>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(BootstrapError::io(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(BootstrapError::io(dir))?;
    crate::fsx::write_atomic_as(path, contents, mode, owner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use steadfast_core::tls::{cert, Usage};
    use steadfast_core::vocab::Sans;

    #[test]
    fn written_files_read_back_and_the_key_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::new(&dir.path().join("tls"));
        assert_eq!(files.on_disk(), OnDisk::default());
        let ca = cert::new_ca("steadfast main CA 1", 1_780_000_000, 86_400).unwrap();
        let sans = Sans {
            dns: vec!["peer-0.main.etcd.internal".into()],
            ips: vec!["10.0.0.1".parse().unwrap()],
        };
        let leaf = cert::issue(&ca, "peer-0", &sans, Usage::Peer, 1_780_000_000, 3600).unwrap();
        files.write_leaf(&leaf, None).unwrap();
        files.write_trust(&ca.cert_pem, None).unwrap();
        let disk = files.on_disk();
        assert_eq!(
            disk.leaf.unwrap().serial,
            CertInfo::parse(&leaf.cert_pem).unwrap().serial
        );
        assert_eq!(
            disk.trust.unwrap(),
            vec![CertInfo::parse(&ca.cert_pem).unwrap().fingerprint]
        );
        assert_eq!(std::fs::metadata(files.key()).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(files.key()).unwrap(), leaf.key_pem);
        // A broken bundle reads as absent (the plan rewrites it).
        std::fs::write(files.ca(), "garbage").unwrap();
        assert_eq!(files.on_disk().trust, None);
        assert!(files.trust().is_err());
    }
}

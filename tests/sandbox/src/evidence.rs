//! What a region leaves behind for a human when something went wrong: the event log, the
//! supervisor's, moto launcher's, peer-dns's, dnsmasq's and HAProxy's logs, and every node's log (etcd's
//! output included), its prepare report and its etcd environment, copied out of the state
//! directory before a teardown deletes it.

use std::path::{Path, PathBuf};

use crate::error::{Result, SandboxError};

/// Copies the evidence of the running (or just stopped) region into `dir`; returns `dir`.
pub fn keep(dir: &Path) -> Result<PathBuf> {
    keep_from(&crate::state::state_dir(), dir)
}

/// [`keep`] from the state directory `state`. A file that is not there is skipped; the event log
/// must be there (without it there is nothing to read).
pub fn keep_from(state: &Path, dir: &Path) -> Result<PathBuf> {
    let copy = |from: &Path, to: &Path| -> Result<()> {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(SandboxError::io(format!("mkdir {}", parent.display())))?;
        }
        std::fs::copy(from, to)
            .map(|_| ())
            .map_err(SandboxError::io(format!("copy {}", from.display())))
    };
    copy(&state.join("events.jsonl"), &dir.join("events.jsonl"))?;
    if let Ok(entries) = std::fs::read_dir(state) {
        for e in entries.flatten() {
            let name = e.file_name();
            let keep = name.to_str().is_some_and(|n| n.ends_with(".log") || n == "state.json");
            if keep && e.path().is_file() {
                copy(&e.path(), &dir.join(&name))?;
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(state.join("nodes")) {
        for e in entries.flatten() {
            for file in [
                "node.log",
                "backup.log",
                "tls.log",
                "prepare.json",
                "etcd.env",
                "handoff.json",
            ] {
                let from = e.path().join(file);
                if from.is_file() {
                    copy(&from, &dir.join("nodes").join(e.file_name()).join(file))?;
                }
            }
        }
    }
    Ok(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logs_and_every_node_are_kept_and_nothing_else() {
        let state = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let s = state.path();
        std::fs::write(s.join("events.jsonl"), "{}\n").unwrap();
        std::fs::write(s.join("supervisor.log"), "sup").unwrap();
        std::fs::write(s.join("moto.log"), "moto").unwrap();
        std::fs::create_dir_all(s.join("volumes")).unwrap();
        std::fs::write(s.join("volumes/vol-1.img"), "data").unwrap();
        std::fs::create_dir_all(s.join("nodes/i-1/tls")).unwrap();
        std::fs::write(s.join("nodes/i-1/node.log"), "node").unwrap();
        std::fs::write(s.join("nodes/i-1/tls/peer-key.pem"), "secret").unwrap();
        let dir = keep_from(s, &out.path().join("e")).unwrap();
        for f in ["events.jsonl", "supervisor.log", "moto.log", "nodes/i-1/node.log"] {
            assert!(dir.join(f).is_file(), "{f}");
        }
        assert!(!dir.join("volumes").exists(), "no volume images");
        assert!(!dir.join("nodes/i-1/tls").exists(), "no keys");
        // No event log: nothing to read, said so.
        std::fs::remove_file(s.join("events.jsonl")).unwrap();
        assert!(keep_from(s, &out.path().join("f")).is_err());
    }
}

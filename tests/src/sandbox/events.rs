//! The event log: one JSON object per line, `{"ts": <RFC 3339>, "t_ms": <ms since start>,
//! "kind": ..., ...fields}`, appended to `<state dir>/events.jsonl`. The chaos suite reads it
//! to time every step of every replacement.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct EventLog {
    path: PathBuf,
    start: Instant,
    lock: Arc<Mutex<()>>,
}

/// Now, as RFC 3339 UTC with milliseconds (`2026-11-21T19:00:00.123Z`).
pub fn rfc3339_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl EventLog {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            start: Instant::now(),
            lock: Arc::new(Mutex::new(())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `{"ts", "t_ms", "kind", ...fields}`.
    pub fn emit(&self, kind: &str, fields: Value) {
        let mut m = Map::new();
        m.insert("ts".into(), Value::String(rfc3339_now()));
        m.insert("t_ms".into(), Value::from(self.start.elapsed().as_millis() as u64));
        m.insert("kind".into(), Value::String(kind.into()));
        if let Value::Object(f) = fields {
            m.extend(f);
        }
        let line = Value::Object(m).to_string();
        let _g = self.lock.lock();
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&self.path) {
            let _ = writeln!(f, "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_look_like_rfc3339() {
        let t = rfc3339_now();
        assert_eq!(t.len(), 24, "{t}");
        assert!(
            t.starts_with("20") && t.ends_with('Z') && t.as_bytes()[10] == b'T',
            "{t}"
        );
    }

    #[test]
    fn lines_are_json_with_kind_and_fields() {
        let d = tempfile::tempdir().unwrap();
        let log = EventLog::new(&d.path().join("e.jsonl"));
        log.emit(
            "instance_launched",
            serde_json::json!({"peer": 3, "instance_id": "i-1"}),
        );
        log.emit("mounted", serde_json::json!({"peer": 3}));
        let text = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["kind"], "instance_launched");
        assert_eq!(lines[0]["peer"], 3);
        assert!(lines[1]["t_ms"].as_u64().unwrap() >= lines[0]["t_ms"].as_u64().unwrap());
    }
}

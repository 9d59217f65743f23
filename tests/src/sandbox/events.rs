//! The event log: one JSON object per line, `{"ts": <RFC 3339>, "t_ms": <ms since start>,
//! "kind": ..., ...fields}`, appended to `<state dir>/events.jsonl`. The chaos suite reads it
//! to time every step of every replacement.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct EventLog {
    path: PathBuf,
    start: Instant,
    lock: Arc<Mutex<()>>,
}

/// Seconds and milliseconds since the epoch as RFC 3339 UTC, without a date crate.
pub fn rfc3339_now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_millis()
    )
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

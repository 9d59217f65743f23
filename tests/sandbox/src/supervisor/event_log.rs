//! The event log: one JSON object per line, `{"ts": <RFC 3339>, "t_ms": <ms since start>,
//! "kind": ..., ...fields}`, appended to `<state dir>/events.jsonl`. The chaos suite reads it to
//! time every step of every replacement. Every kind is a variant of [`Event`]; a node's own
//! steps are `node.<step>`, with the step from `steadfast_core::vocab::Step`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use steadfast_core::vocab::Step;

/// Everything the supervisor reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    RegionStarting {
        cluster: String,
        domain: String,
    },
    MotoStarted {
        endpoint: String,
        pid: u32,
    },
    RegionCreated {
        vpc: String,
        zone_id: String,
        volumes: Vec<String>,
        groups: Vec<String>,
    },
    DnsStarted {
        server: String,
        records: usize,
    },
    LambdaStarted {
        invoke: String,
        /// One process per concurrent execution environment.
        pids: Vec<u32>,
    },
    InstanceLaunched {
        peer: u32,
        instance_id: String,
        ip: String,
        asg: String,
    },
    InstanceTerminated {
        peer: u32,
        instance_id: String,
    },
    /// A terminated instance's node has no process left; the cloud was told (its volumes
    /// detach now), or `error` says why it could not be.
    GuestDown {
        peer: u32,
        instance_id: String,
        error: Option<String>,
    },
    NodeStarted {
        peer: u32,
        instance_id: String,
        pgid: u32,
        restart: bool,
    },
    NodeExited {
        peer: u32,
        instance_id: String,
        status: Option<i32>,
    },
    NodeStartFailed {
        peer: u32,
        instance_id: String,
        error: String,
    },
    EventDelivered {
        event: String,
        peer: Option<u32>,
        instance_id: Option<String>,
        status: u16,
        ms: u64,
        outcome: Value,
    },
    EventFailed {
        event: String,
        peer: Option<u32>,
        instance_id: Option<String>,
        ms: u64,
        error: String,
    },
    RecordChanged {
        name: String,
        values: Vec<String>,
        previous: Option<Vec<String>>,
    },
    DnsVisible {
        name: String,
        values: Vec<String>,
        ms: u64,
    },
    DnsNotVisible {
        name: String,
        values: Vec<String>,
    },
    DnsSyncError {
        error: String,
    },
    /// The resolver stops learning changes to `name` (it keeps answering `values`).
    DnsHeld {
        name: String,
        values: Vec<String>,
    },
    DnsmasqExited {
        status: Option<i32>,
    },
    /// `scripts/tf-local.sh <command>` started (`--terraform`: up, destroy, apply).
    TerraformStarted {
        command: String,
    },
    TerraformDone {
        command: String,
        secs: f64,
    },
    /// SIGUSR1 (`sandbox redeploy`): the deployment is destroyed and applied again.
    Redeploying {},
    /// The client load balancer (HAProxy, the module's NLB) runs.
    ClientLbStarted {
        listen: String,
        pid: u32,
    },
    ClientLbExited {},
    /// The client load balancer's targets now (instance ids), after a change.
    ClientLbTargets {
        targets: Vec<String>,
    },
    VolumeAttached {
        volume_id: String,
        instance_id: String,
    },
    VolumeDetached {
        volume_id: String,
        instance_id: String,
    },
    DevicePresented {
        volume_id: String,
        instance_id: String,
    },
    DeviceWithdrawn {
        volume_id: String,
        instance_id: String,
    },
    /// A volume lost its data (a wipe request: the image zeroed while no instance had it).
    VolumeWiped {
        volume_id: String,
    },
    HypervisorError {
        error: String,
    },
    ObserveFailed {
        error: String,
    },
    RegionStopping {},
    RegionStopped {},
    /// One of a node's own steps, from its JSON log (`node.<step>`): the log line's fields plus
    /// the peer and instance.
    #[serde(skip)]
    Node {
        step: Step,
        peer: u32,
        instance_id: String,
        fields: Map<String, Value>,
    },
}

impl Event {
    /// The `kind` field and the rest of the line.
    fn into_parts(self) -> (String, Map<String, Value>) {
        if let Event::Node {
            step,
            peer,
            instance_id,
            mut fields,
        } = self
        {
            fields.insert("peer".into(), Value::from(peer));
            fields.insert("instance_id".into(), Value::from(instance_id));
            return (format!("node.{step}"), fields);
        }
        match serde_json::to_value(&self) {
            Ok(Value::Object(mut m)) => {
                let kind = m
                    .remove("kind")
                    .and_then(|k| k.as_str().map(str::to_string))
                    .unwrap_or_default();
                (kind, m)
            }
            _ => ("unserializable".into(), Map::new()),
        }
    }
}

/// One line of the log, read back: when (ms since the supervisor started) and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    pub t_ms: f64,
    pub event: Event,
}

impl Logged {
    /// Reads one line; `None` for anything that is not an event this build writes.
    pub fn parse(line: &str) -> Option<Self> {
        let Value::Object(mut m) = serde_json::from_str::<Value>(line).ok()? else {
            return None;
        };
        let t_ms = m.remove("t_ms")?.as_f64()?;
        m.remove("ts");
        let kind = m.get("kind")?.as_str()?.to_string();
        let event = match kind.strip_prefix("node.") {
            Some(step) => {
                let step: Step = step.parse().ok()?;
                m.remove("kind");
                let peer = m.remove("peer").and_then(|p| p.as_u64()).unwrap_or_default() as u32;
                let instance_id = match m.remove("instance_id") {
                    Some(Value::String(s)) => s,
                    _ => return None,
                };
                Event::Node {
                    step,
                    peer,
                    instance_id,
                    fields: m,
                }
            }
            None => serde_json::from_value(Value::Object(m)).ok()?,
        };
        Some(Self { t_ms, event })
    }

    /// Every event of `text` (a log, or the part of it written since some offset).
    pub fn parse_all(text: &str) -> Vec<Self> {
        text.lines().filter_map(Self::parse).collect()
    }

    /// The node step `step` of instance `instance`, if this is it: its fields.
    pub fn node_step(&self, step: Step, instance: &str) -> Option<&Map<String, Value>> {
        match &self.event {
            Event::Node {
                step: s,
                instance_id,
                fields,
                ..
            } if *s == step && instance_id == instance => Some(fields),
            _ => None,
        }
    }
}

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
    pub fn emit(&self, event: Event) {
        let (kind, fields) = event.into_parts();
        let mut m = Map::new();
        m.insert("ts".into(), Value::String(rfc3339_now()));
        m.insert("t_ms".into(), Value::from(self.start.elapsed().as_millis() as u64));
        m.insert("kind".into(), Value::String(kind));
        m.extend(fields);
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
        log.emit(Event::InstanceLaunched {
            peer: 3,
            instance_id: "i-1".into(),
            ip: "127.0.1.4".into(),
            asg: "local-peer-3".into(),
        });
        let mut fields = Map::new();
        fields.insert("elapsed_ms".into(), Value::from(12));
        log.emit(Event::Node {
            step: Step::Mount,
            peer: 3,
            instance_id: "i-1".into(),
            fields,
        });
        let text = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["kind"], "instance_launched");
        assert_eq!(lines[0]["peer"], 3);
        assert_eq!(lines[1]["kind"], "node.mount");
        assert_eq!(lines[1]["elapsed_ms"], 12);
        assert_eq!(lines[1]["instance_id"], "i-1");
        assert!(lines[1]["t_ms"].as_u64().unwrap() >= lines[0]["t_ms"].as_u64().unwrap());
        // And they read back as the events they were.
        let back = Logged::parse_all(&text);
        assert_eq!(back.len(), 2);
        assert!(matches!(&back[0].event, Event::InstanceLaunched { peer: 3, instance_id, .. } if instance_id == "i-1"));
        let fields = back[1].node_step(Step::Mount, "i-1").unwrap();
        assert_eq!(fields["elapsed_ms"], 12);
        assert!(back[1].node_step(Step::Dns, "i-1").is_none() && back[1].node_step(Step::Mount, "i-2").is_none());
        assert!(Logged::parse(r#"{"t_ms":1,"kind":"no_such_kind"}"#).is_none());
        assert!(Logged::parse(r#"{"t_ms":1,"kind":"node.no-such-step","instance_id":"i"}"#).is_none());
    }
}

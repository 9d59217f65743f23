//! The fleet: one node per live instance. New instances get a node (an IMDSv2 stand-in, a root,
//! `node-bootstrap run`); a node whose instance is gone shuts down (SIGTERM, then SIGKILL after
//! 5 s, as an instance's shutdown would); a node whose processes ended while its instance lives
//! is restarted after 3 s, as systemd would.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;
use steadfast_core::poll::{self, Backoff, Poll};
use steadfast_core::vocab::{env, EtcdTiming, Step};
use steadfast_core::{Cluster, PeerIndex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Child;

use super::event_log::{Event, EventLog};
use super::observe::Observation;
use super::Bins;
use crate::config::write_resolv_conf;
use crate::error::{Result, SandboxError};
use crate::node::{Names, NodeEnv, NodeSpec};
use crate::region::zone_name;
use crate::standins::imds::{Imds, InstanceIdentity};
use crate::standins::moto::REGION;
use crate::state::{self, NodeRecord};

struct NodeProc {
    peer: PeerIndex,
    ip: Ipv4Addr,
    spec: NodeSpec,
    log: PathBuf,
    child: Option<Child>,
    pgid: u32,
    /// Serves the node's identity for as long as the node lives.
    _imds: Imds,
    restart_at: Option<Instant>,
    /// The node's timers (backup, TLS), as systemd runs them on an instance.
    timers: Vec<Timer>,
}

/// One of a node's systemd timers: `node-bootstrap <command>` every `every`, never two runs at
/// once; each run is in the node's process group (a node that loses power loses it too).
struct Timer {
    command: &'static str,
    every: Duration,
    running: Option<Child>,
    next: Instant,
}

impl Timer {
    fn new(command: &'static str, every: Duration, first: Duration) -> Self {
        Self {
            command,
            every,
            running: None,
            next: Instant::now() + first,
        }
    }
}

/// The fleet's clocks: how long an instance boots before its node runs, etcd's timing, and
/// the nodes' timers.
#[derive(Debug, Clone, Copy)]
pub struct NodeTiming {
    pub boot_delay: Duration,
    pub etcd_timing: EtcdTiming,
    pub backup_every: Option<Duration>,
    /// The TLS timer (`node-bootstrap tls`: renewal, a rotation's restarts); `None`: off.
    pub tls_every: Option<Duration>,
}

/// A node that just got its instance: the EventBridge stand-in announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launched {
    pub peer: PeerIndex,
    pub group: String,
    pub instance_id: String,
}

pub struct Fleet {
    bins: Bins,
    cluster: Cluster,
    base_env: NodeEnv,
    dir: PathBuf,
    events: EventLog,
    nodes: BTreeMap<String, NodeProc>,
    announced: std::collections::BTreeSet<String>,
    /// An instance's launch until its node starts (boot + install; the timing profile's).
    boot_delay: Duration,
    /// When each announced instance's node may start.
    due: BTreeMap<String, Instant>,
    /// etcd's heartbeat interval and election timeout on every node.
    etcd_timing: EtcdTiming,
    /// The backup timer on every node (`node-bootstrap backup`, as the module's systemd timer
    /// runs it); `None`: no backups.
    backup_every: Option<Duration>,
    /// The TLS timer on every node (`node-bootstrap tls`); `None`: off.
    tls_every: Option<Duration>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("nodes", &self.nodes.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn signal_group(pgid: u32, sig: Signal) {
    if pgid > 1 {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid as i32), sig);
    }
}

/// Whether any process of group `pgid` is still alive.
fn group_alive(pgid: u32) -> bool {
    pgid > 1 && nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid as i32), None).is_ok()
}

/// Once the node's last process is gone (and with it its mount namespace, so its filesystem is
/// unmounted), tells the cloud the guest has shut down: only then does the terminating instance
/// let go of its volumes (the launcher's `guest_shutdown_secs`), as in EC2.
async fn report_guest_down(pgid: u32, peer: u32, instance_id: String, events: EventLog) {
    // Gone, or 10 s passed: either way the cloud is told (a stuck process is the guest's).
    let _ = poll::until(
        Duration::from_secs(10),
        Backoff::every(Duration::from_millis(20)),
        || async {
            Ok::<_, std::convert::Infallible>(if group_alive(pgid) {
                Poll::Pending(format!("process group {pgid} alive"))
            } else {
                Poll::Ready(())
            })
        },
    )
    .await;
    let body = serde_json::json!({ "instance_id": instance_id });
    let error = crate::standins::moto::admin(crate::config::MOTO_PORT, "guest-down", Some(&body))
        .await
        .err()
        .map(|e| e.to_string());
    events.emit(Event::GuestDown {
        peer,
        instance_id,
        error,
    });
}

impl Fleet {
    pub fn new(
        bins: Bins,
        cluster: Cluster,
        base_env: NodeEnv,
        dir: &Path,
        events: EventLog,
        timing: NodeTiming,
    ) -> Self {
        let NodeTiming {
            boot_delay,
            etcd_timing,
            backup_every,
            tls_every,
        } = timing;
        Self {
            bins,
            cluster,
            base_env,
            dir: dir.to_path_buf(),
            events,
            nodes: BTreeMap::new(),
            announced: Default::default(),
            boot_delay,
            due: BTreeMap::new(),
            etcd_timing,
            backup_every,
            tls_every,
        }
    }

    /// instance id -> node root, for the hypervisor.
    pub fn roots(&self) -> BTreeMap<String, PathBuf> {
        self.nodes
            .iter()
            .map(|(id, n)| (id.clone(), n.spec.root.clone()))
            .collect()
    }

    /// Starts, stops and restarts nodes to match `obs`. Returns the instances seen for the first
    /// time (their launch events are due).
    pub async fn reconcile(&mut self, obs: &Observation) -> Vec<Launched> {
        self.stop_gone(obs);
        let mut launched = Vec::new();
        for (id, live) in &obs.live {
            if self.nodes.contains_key(id) {
                continue;
            }
            let Some(ip) = live.ip else { continue };
            if self.announced.insert(id.clone()) {
                self.events.emit(Event::InstanceLaunched {
                    peer: live.peer.get(),
                    instance_id: id.clone(),
                    ip: ip.to_string(),
                    asg: live.group.clone(),
                });
                launched.push(Launched {
                    peer: live.peer,
                    group: live.group.clone(),
                    instance_id: id.clone(),
                });
                self.due.insert(id.clone(), Instant::now() + self.boot_delay);
            }
            // The instance boots and installs before its node runs (the timing profile).
            if self.due.get(id).is_some_and(|t| Instant::now() < *t) {
                continue;
            }
            // A node that cannot start now is tried again on the next pass.
            match self.start(id, live.peer, ip).await {
                Ok(node) => {
                    self.nodes.insert(id.clone(), node);
                }
                Err(e) => self.events.emit(Event::NodeStartFailed {
                    peer: live.peer.get(),
                    instance_id: id.clone(),
                    error: e.to_string(),
                }),
            }
        }
        self.restart_exited();
        self.run_timers();
        self.write_records();
        launched
    }

    /// The nodes' timers: on every node whose etcd runs, each timer's `node-bootstrap` command
    /// every interval, never two runs of one timer at once on a node. The backup timer: the
    /// leader takes the snapshot, the others publish its age. The TLS timer: renewal, and a CA
    /// rotation's restarts (one peer at a time, under an etcd lock).
    fn run_timers(&mut self) {
        for (id, n) in self.nodes.iter_mut() {
            for t in 0..n.timers.len() {
                if let Some(c) = n.timers[t].running.as_mut() {
                    if matches!(c.try_wait(), Ok(None)) {
                        continue;
                    }
                    n.timers[t].running = None;
                }
                if n.child.is_none() || Instant::now() < n.timers[t].next {
                    continue;
                }
                n.timers[t].next = Instant::now() + n.timers[t].every;
                // As the units' ExecCondition: a timer's run happens only while the node's etcd
                // runs (never during a long prepare).
                let etcd_runs = crate::region::verbs::processes_in_group(n.pgid)
                    .iter()
                    .any(|(_, comm)| comm == "etcd");
                if !etcd_runs {
                    continue;
                }
                let command = n.timers[t].command;
                let script = format!("exec {} {command}", self.bins.node_bootstrap.display());
                let log = n.spec.root.join(format!("{command}.log"));
                match spawn_script(n, id, &self.events, &script, Some(n.pgid), &log) {
                    Ok(child) => n.timers[t].running = Some(child),
                    Err(e) => self.events.emit(Event::NodeStartFailed {
                        peer: n.peer.get(),
                        instance_id: id.clone(),
                        error: format!("{command} timer: {e}"),
                    }),
                }
            }
        }
    }

    fn stop_gone(&mut self, obs: &Observation) {
        self.due.retain(|id, _| obs.live.contains_key(id));
        let gone: Vec<String> = self
            .nodes
            .keys()
            .filter(|id| !obs.live.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            let Some(mut n) = self.nodes.remove(&id) else { continue };
            self.events.emit(Event::InstanceTerminated {
                peer: n.peer.get(),
                instance_id: id.clone(),
            });
            signal_group(n.pgid, Signal::SIGTERM);
            let (pgid, child) = (n.pgid, n.child.take());
            let (events, peer) = (self.events.clone(), n.peer.get());
            tokio::spawn(async move {
                if let Some(mut c) = child {
                    if tokio::time::timeout(Duration::from_secs(5), c.wait()).await.is_err() {
                        signal_group(pgid, Signal::SIGKILL);
                        let _ = c.wait().await;
                    }
                }
                // Whatever is left of the group (etcd) goes too.
                signal_group(pgid, Signal::SIGKILL);
                report_guest_down(pgid, peer, id, events).await;
            });
        }
    }

    fn restart_exited(&mut self) {
        for (id, n) in self.nodes.iter_mut() {
            if let Some(c) = n.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.events.emit(Event::NodeExited {
                        peer: n.peer.get(),
                        instance_id: id.clone(),
                        status: status.code(),
                    });
                    n.child = None;
                    n.restart_at = Some(Instant::now() + Duration::from_secs(3));
                }
            } else if n.restart_at.is_some_and(|t| Instant::now() >= t) {
                match spawn(&self.bins, n, id, &self.events) {
                    Ok(child) => {
                        n.restart_at = None;
                        n.pgid = child.id().unwrap_or_default();
                        self.events.emit(Event::NodeStarted {
                            peer: n.peer.get(),
                            instance_id: id.clone(),
                            pgid: n.pgid,
                            restart: true,
                        });
                        n.child = Some(child);
                    }
                    Err(e) => {
                        n.restart_at = Some(Instant::now() + Duration::from_secs(3));
                        self.events.emit(Event::NodeStartFailed {
                            peer: n.peer.get(),
                            instance_id: id.clone(),
                            error: e.to_string(),
                        });
                    }
                }
            }
        }
    }

    /// An IMDSv2 stand-in, a root (sysfs/dev/data) and a running node for a new instance.
    async fn start(&self, id: &str, peer: PeerIndex, ip: Ipv4Addr) -> Result<NodeProc> {
        let imds = Imds::start(InstanceIdentity {
            instance_id: id.to_string(),
            availability_zone: zone_name(self.cluster.zone_of(peer)),
            region: REGION.into(),
            private_ip: ip,
        })
        .await?;
        let root = self.dir.join("nodes").join(id);
        for d in ["dev", "sys/block", "data"] {
            std::fs::create_dir_all(root.join(d)).map_err(SandboxError::io("mkdir node root"))?;
        }
        let resolv = root.join("resolv.conf");
        write_resolv_conf(&resolv)?;
        let mut spec = NodeSpec::new(
            &root,
            Names::Resolver(resolv),
            self.base_env.clone().node(&self.cluster, &root, &imds.endpoint()),
        );
        spec.set(
            "PATH",
            format!(
                "{}:{}",
                self.bins.etcd_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .set(env::ETCD_BIN, self.bins.etcd_dir.join("etcd").to_string_lossy())
        .set(env::LIFECYCLE_HOOK, self.cluster.lifecycle_hook_name())
        .set(env::DETACH_GRACE_SECS, "5")
        .set(env::DNS_TIMEOUT_SECS, "120")
        .set(env::READY_TIMEOUT_SECS, "120")
        .set(
            env::ETCD_HEARTBEAT_MS,
            self.etcd_timing.heartbeat().as_millis().to_string(),
        )
        .set(
            env::ETCD_ELECTION_MS,
            self.etcd_timing.election().as_millis().to_string(),
        );
        let mut node = NodeProc {
            peer,
            ip,
            log: root.join("node.log"),
            spec,
            child: None,
            pgid: 0,
            _imds: imds,
            restart_at: None,
            timers: [("backup", self.backup_every), ("tls", self.tls_every)]
                .into_iter()
                .filter_map(|(command, every)| every.map(|e| Timer::new(command, e, e)))
                .collect(),
        };
        let child = spawn(&self.bins, &node, id, &self.events)?;
        node.pgid = child.id().unwrap_or_default();
        self.events.emit(Event::NodeStarted {
            peer: peer.get(),
            instance_id: id.to_string(),
            pgid: node.pgid,
            restart: false,
        });
        node.child = Some(child);
        Ok(node)
    }

    fn write_records(&self) {
        let recs: BTreeMap<String, NodeRecord> = self
            .nodes
            .iter()
            .map(|(id, n)| {
                (
                    id.clone(),
                    NodeRecord {
                        peer: n.peer.get(),
                        instance_id: id.clone(),
                        ip: n.ip.to_string(),
                        pgid: n.pgid,
                        root: n.spec.root.clone(),
                        log: n.log.clone(),
                        env: n.spec.env.clone(),
                    },
                )
            })
            .collect();
        let _ = state::write_json(&self.dir.join("nodes.json"), &recs);
    }

    /// Stops every node: SIGTERM, then SIGKILL for what is left after 5 s.
    pub async fn stop_all(&mut self) {
        for n in self.nodes.values() {
            signal_group(n.pgid, Signal::SIGTERM);
        }
        let t0 = Instant::now();
        for n in self.nodes.values_mut() {
            if let Some(c) = n.child.as_mut() {
                let left = Duration::from_secs(5).saturating_sub(t0.elapsed());
                if tokio::time::timeout(left, c.wait()).await.is_err() {
                    signal_group(n.pgid, Signal::SIGKILL);
                    let _ = c.wait().await;
                }
            }
        }
    }
}

/// `node-bootstrap run` for `node`, in its own process group; its output goes to the node's log,
/// and each finished step (a JSON line with a `step` field) to the event log as `node.<step>`.
fn spawn(bins: &Bins, node: &NodeProc, instance_id: &str, events: &EventLog) -> Result<Child> {
    let script = format!("exec {} run", bins.node_bootstrap.display());
    spawn_script(node, instance_id, events, &script, None, &node.log)
}

/// `script` in `node`'s mount namespace, in process group `group` (`None`: a group of its own),
/// its output appended to `log` (the node's own process: `node.log`; a timer's run: its own
/// `backup.log`, `tls.log`), and each finished step an event.
fn spawn_script(
    node: &NodeProc,
    instance_id: &str,
    events: &EventLog,
    script: &str,
    group: Option<u32>,
    log: &Path,
) -> Result<Child> {
    let mut cmd = tokio::process::Command::from(node.spec.command(script));
    cmd.process_group(group.map(|g| g as i32).unwrap_or(0))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(SandboxError::io("start node (unshare)"))?;
    let streams: Vec<Box<dyn tokio::io::AsyncRead + Unpin + Send>> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    for stream in streams {
        let (log, events, instance, peer) = (
            log.to_path_buf(),
            events.clone(),
            instance_id.to_string(),
            node.peer.get(),
        );
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            let mut f = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .await
                .ok();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(f) = f.as_mut() {
                    let _ = f.write_all(format!("{line}\n").as_bytes()).await;
                }
                if let Some(ev) = step_event(&line, peer, &instance) {
                    events.emit(ev);
                }
            }
        });
    }
    Ok(child)
}

/// A node log line that finished a step, as an event.
fn step_event(line: &str, peer: u32, instance_id: &str) -> Option<Event> {
    let v: Value = serde_json::from_str(line).ok()?;
    let step: Step = v["fields"]["step"].as_str()?.parse().ok()?;
    let mut fields = v["fields"].as_object()?.clone();
    fields.remove("step");
    fields.remove("report");
    fields.insert("node_ts".into(), v["timestamp"].clone());
    Some(Event::Node {
        step,
        peer,
        instance_id: instance_id.to_string(),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_finished_steps_become_events() {
        let done = r#"{"timestamp":"t","level":"INFO","fields":{"message":"step done","step":"mount","elapsed_ms":3}}"#;
        let Some(Event::Node { step, fields, .. }) = step_event(done, 2, "i-1") else {
            panic!("a finished step is an event");
        };
        assert_eq!(step, Step::Mount);
        assert_eq!(fields["elapsed_ms"], 3);
        let progress = r#"{"timestamp":"t","fields":{"message":"waiting","during":"attach"}}"#;
        assert!(step_event(progress, 2, "i-1").is_none());
        assert!(step_event("not json", 2, "i-1").is_none());
        assert!(step_event(r#"{"fields":{"step":"no-such-step"}}"#, 2, "i-1").is_none());
    }
}

//! The supervisor: runs inside the region's network namespace (loopback only) and plays AWS.
//!
//! - moto on 127.0.0.1:5000, set up the way Terraform does ([`crate::region`]);
//! - dnsmasq on 127.0.53.1:53, authoritative for the cluster domain: SRV records static (from
//!   Route 53 at start), A records synced from moto's Route 53 into `--hostsdir` by atomic rename;
//! - peer-dns under `cargo lambda watch` on 127.0.0.1:9000, fed by an EventBridge stand-in (the
//!   launch lifecycle action and launch-successful for every new instance, a periodic sweep);
//! - the hypervisor: loop devices presented under each node's root while moto shows the volume
//!   attached to that node's instance;
//! - per instance, an IMDSv2 stand-in and a node: `node-bootstrap run` (and so etcd 3.5.1) in
//!   its own mount namespace whose resolv.conf points at dnsmasq.
//!
//! Everything it sees goes to the event log.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use steadfast_core::aws::is_live_state;
use steadfast_core::vocab::Transport;
use steadfast_core::{Cluster, PeerIndex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use super::events::EventLog;
use super::state::{self, NodeRecord, State};
use super::{cluster, DNS_ADDR, LAMBDA_PORT, MOTO_PORT};
use crate::dnsq::query_a;
use crate::error::{Result, SandboxError};
use crate::hypervisor::{create_image, Hypervisor};
use crate::imds::{Imds, InstanceIdentity};
use crate::lambda::{peer_dns_env, LambdaWatch};
use crate::moto::{Moto, REGION};
use crate::region::{zone_name, Region, RegionOptions};
use crate::stage::attached_pairs;

/// The binaries the region runs.
#[derive(Debug, Clone)]
pub struct Bins {
    pub node_bootstrap: PathBuf,
    pub peer_dns: PathBuf,
    pub etcd_dir: PathBuf,
}

impl Bins {
    /// node-bootstrap and peer-dns next to this executable (cargo puts them together), etcd
    /// from the project venv.
    pub fn locate() -> Result<Self> {
        let exe = std::env::current_exe().map_err(SandboxError::io("current_exe"))?;
        let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        let find = |name: &str| -> Result<PathBuf> {
            let p = dir.join(name);
            if p.exists() {
                Ok(p)
            } else {
                Err(SandboxError::Setup(format!(
                    "{} is missing: build it first (`cargo build --workspace --bins`, or `make sandbox`)",
                    p.display()
                )))
            }
        };
        Ok(Self {
            node_bootstrap: find("node-bootstrap")?,
            peer_dns: find("peer-dns")?,
            etcd_dir: crate::paths::etcd_bin_dir()?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub sweep_every: Duration,
    /// Size of each volume's sparse image file.
    pub volume_mib: u64,
}

struct NodeProc {
    peer: PeerIndex,
    instance_id: String,
    ip: Ipv4Addr,
    root: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    pgid: u32,
    imds: Imds,
    restart_at: Option<Instant>,
}

async fn live_instances(region: &Region) -> Result<BTreeMap<String, PeerIndex>> {
    let out = region
        .clients
        .autoscaling
        .describe_auto_scaling_groups()
        .send()
        .await
        .map_err(|e| {
            SandboxError::Aws(steadfast_core::Error::from_sdk(
                "autoscaling",
                "DescribeAutoScalingGroups",
                e,
            ))
        })?;
    let mut m = BTreeMap::new();
    for g in out.auto_scaling_groups() {
        let Some(peer) = region
            .groups
            .iter()
            .position(|n| Some(n.as_str()) == g.auto_scaling_group_name())
        else {
            continue;
        };
        let peer = region.cluster.peer(peer as u32)?;
        for i in g.instances() {
            if i.lifecycle_state().map(|s| s.as_str()).is_some_and(is_live_state) {
                if let Some(id) = i.instance_id() {
                    m.insert(id.to_string(), peer);
                }
            }
        }
    }
    Ok(m)
}

fn launch_event(kind: &str, group: &str, instance: &str) -> Value {
    let mut detail = json!({"AutoScalingGroupName": group, "EC2InstanceId": instance});
    if kind == "EC2 Instance-launch Lifecycle Action" {
        detail["LifecycleTransition"] = json!("autoscaling:EC2_INSTANCE_LAUNCHING");
        detail["LifecycleHookName"] = json!(crate::region::LAUNCH_HOOK);
        detail["LifecycleActionToken"] = json!(format!("token-{instance}"));
    } else {
        detail["StatusCode"] = json!("InProgress");
        detail["Description"] = json!(format!("Launching a new EC2 instance: {instance}"));
    }
    json!({"version": "0", "id": format!("sandbox-{instance}-{}", kind.len()), "detail-type": kind,
           "source": "aws.autoscaling", "account": "123456789012", "time": super::events::rfc3339_now(),
           "region": REGION, "resources": [], "detail": detail})
}

fn sweep_event() -> Value {
    json!({"version": "0", "id": "sandbox-sweep", "detail-type": "Scheduled Event", "source": "aws.events",
           "account": "123456789012", "time": super::events::rfc3339_now(), "region": REGION,
           "resources": ["arn:aws:events:us-east-1:123456789012:rule/steadfast-sweep"], "detail": {}})
}

/// Delivers one event to peer-dns, as EventBridge would, and logs the outcome.
async fn deliver(port: u16, events: &EventLog, event: Value, peer: Option<u32>, instance: Option<&str>) {
    let kind = event["detail-type"].as_str().unwrap_or_default().to_string();
    let t0 = Instant::now();
    let r = crate::lambda::http_post(
        port,
        &format!("/2015-03-31/functions/{}/invocations", crate::lambda::FUNCTION),
        &event.to_string(),
        Duration::from_secs(60),
    )
    .await;
    let ms = t0.elapsed().as_millis() as u64;
    match r {
        Ok((status, body)) => {
            let out: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
            events.emit("event_delivered", json!({"event": kind, "peer": peer, "instance_id": instance, "status": status, "ms": ms, "outcome": out}));
        }
        Err(e) => events.emit(
            "event_failed",
            json!({"event": kind, "peer": peer, "instance_id": instance, "ms": ms, "error": e.to_string()}),
        ),
    }
}

/// The Route 53 -> dnsmasq syncer's view: record name -> values.
async fn route53_a(region: &Region) -> Option<BTreeMap<String, Vec<String>>> {
    region.a_records().await.ok()
}

fn write_hosts(dir: &Path, staging: &Path, records: &BTreeMap<String, Vec<String>>) -> Result<()> {
    let mut text = String::new();
    for (name, ips) in records {
        for ip in ips {
            text.push_str(&format!("{ip} {}\n", name.trim_end_matches('.')));
        }
    }
    let tmp = staging.join("records.tmp");
    std::fs::write(&tmp, text).map_err(SandboxError::io("write dns records"))?;
    std::fs::rename(&tmp, dir.join("records")).map_err(SandboxError::io("rename dns records"))?;
    Ok(())
}

async fn start_dnsmasq(region: &Region, dir: &Path, log: &Path) -> Result<Child> {
    let c = &region.cluster;
    let all = region.all_records().await?;
    let mut args = vec![
        "--keep-in-foreground".to_string(),
        "--conf-file=/dev/null".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--no-poll".into(),
        format!("--listen-address={DNS_ADDR}"),
        "--bind-interfaces".into(),
        "--port=53".into(),
        format!("--local=/{}/", c.cluster_domain()),
        format!("--hostsdir={}", dir.display()),
        "--local-ttl=0".into(),
        "--neg-ttl=1".into(),
        "--user=root".into(),
        "--pid-file=".into(),
        "--log-facility=-".into(),
    ];
    // SRV records are static: read them from Route 53 once.
    for ((name, ty), values) in &all {
        if ty != "SRV" {
            continue;
        }
        for v in values {
            let parts: Vec<&str> = v.split_whitespace().collect();
            if let [prio, weight, port, target] = parts.as_slice() {
                args.push(format!(
                    "--srv-host={},{},{port},{prio},{weight}",
                    name.trim_end_matches('.'),
                    target.trim_end_matches('.')
                ));
            }
        }
    }
    let f = std::fs::File::create(log).map_err(SandboxError::io("dnsmasq log"))?;
    let f2 = f.try_clone().map_err(SandboxError::io("dnsmasq log"))?;
    Command::new("dnsmasq")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(f)
        .stderr(f2)
        .kill_on_drop(true)
        .spawn()
        .map_err(SandboxError::io("start dnsmasq (apt-get install dnsmasq-base)"))
}

/// The node-bootstrap log steps forwarded to the event log.
const NODE_STEPS: &[&str] = &[
    "find-volume",
    "fence",
    "attached",
    "device",
    "formatted",
    "checked",
    "mounted",
    "dns-ok",
    "env-file",
    "etcd-started",
    "ready",
    "lifecycle",
    "etcd-exited",
    "failed",
    "prepared",
];

fn spawn_node(bins: &Bins, moto_env: &[(String, String)], node: &NodeProc, events: &EventLog) -> Result<Child> {
    let resolv = node.root.join("resolv.conf");
    super::write_resolv_conf(&resolv)?;
    let script = format!(
        "mount --bind {} /etc/resolv.conf && exec {} run",
        resolv.display(),
        bins.node_bootstrap.display()
    );
    let path = format!(
        "{}:{}",
        bins.etcd_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env_clear()
        .env("PATH", path)
        .envs(
            moto_env
                .iter()
                .filter(|(k, _)| k != "AWS_EC2_METADATA_DISABLED")
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", node.imds.endpoint())
        .env("STEADFAST_DOMAIN", super::DOMAIN)
        .env("STEADFAST_PEER_COUNT", "9")
        .env("STEADFAST_DATA_DIR", node.root.join("data"))
        .env("STEADFAST_ETCD_ENV_FILE", node.root.join("etcd.env"))
        .env("STEADFAST_DEV_ROOT", &node.root)
        .env("STEADFAST_ETCD_BIN", bins.etcd_dir.join("etcd"))
        .env("STEADFAST_DETACH_GRACE_SECS", "5")
        .env("STEADFAST_DNS_TIMEOUT_SECS", "120")
        .env("STEADFAST_READY_TIMEOUT_SECS", "120")
        .env("RUST_LOG", "info")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(SandboxError::io("start node (unshare)"))?;
    let peer = node.peer.get();
    let instance = node.instance_id.clone();
    for stream in [
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
    {
        let log = node.log.clone();
        let events = events.clone();
        let instance = instance.clone();
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
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let step = v["fields"]["step"].as_str().unwrap_or_default();
                if NODE_STEPS.contains(&step) {
                    let mut fields = v["fields"].clone();
                    if let Some(o) = fields.as_object_mut() {
                        o.remove("report");
                        o.insert("peer".into(), json!(peer));
                        o.insert("instance_id".into(), json!(instance));
                        o.insert("node_ts".into(), v["timestamp"].clone());
                    }
                    events.emit(&format!("node.{step}"), fields);
                }
            }
        });
    }
    Ok(child)
}

fn signal_group(pgid: u32, sig: nix::sys::signal::Signal) {
    if pgid > 1 {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid as i32), sig);
    }
}

/// An IMDSv2 stand-in, a root (sysfs/dev/data) and a running node for a new instance.
#[allow(clippy::too_many_arguments)]
async fn start_node(
    bins: &Bins,
    moto_env: &[(String, String)],
    events: &EventLog,
    dir: &Path,
    cluster: &Cluster,
    id: &str,
    peer: PeerIndex,
    ip: Ipv4Addr,
) -> Result<NodeProc> {
    let identity = InstanceIdentity {
        instance_id: id.to_string(),
        availability_zone: zone_name(cluster.zone_of(peer)),
        region: REGION.into(),
        private_ip: ip,
    };
    let imds = Imds::start(identity).await?;
    let root = dir.join("nodes").join(id);
    for d in ["dev", "sys/block", "data"] {
        std::fs::create_dir_all(root.join(d)).map_err(SandboxError::io("mkdir node root"))?;
    }
    let mut node = NodeProc {
        peer,
        instance_id: id.to_string(),
        ip,
        log: root.join("node.log"),
        root,
        child: None,
        pgid: 0,
        imds,
        restart_at: None,
    };
    let child = spawn_node(bins, moto_env, &node, events)?;
    node.pgid = child.id().unwrap_or_default();
    events.emit(
        "node_started",
        json!({"peer": peer.get(), "instance_id": id, "pgid": node.pgid}),
    );
    node.child = Some(child);
    Ok(node)
}

/// Runs the region until SIGTERM/SIGINT, then stops everything it started.
pub async fn supervise(opts: Options) -> Result<()> {
    let dir = state::state_dir();
    let events = EventLog::new(&dir.join("events.jsonl"));
    let bins = Bins::locate()?;
    let cluster: Cluster = cluster()?;
    events.emit(
        "region_starting",
        json!({"cluster": cluster.name().as_str(), "domain": super::DOMAIN}),
    );

    let moto = Moto::start_on(MOTO_PORT)?;
    events.emit("moto_started", json!({"endpoint": moto.endpoint(), "pid": moto.pid()}));
    let region = Region::create(
        &moto.sdk_config().await,
        cluster.clone(),
        Transport::Plain,
        RegionOptions::default(),
    )
    .await?;
    events.emit(
        "region_created",
        json!({"vpc": region.vpc_id, "zone_id": region.zone_id, "volumes": region.volumes, "groups": region.groups}),
    );

    let mut hv = Hypervisor::default();
    let vols = dir.join("volumes");
    std::fs::create_dir_all(&vols).map_err(SandboxError::io("mkdir volumes"))?;
    for v in &region.volumes {
        let img = vols.join(format!("{v}.img"));
        create_image(&img, opts.volume_mib)?;
        hv.images.insert(v.clone(), img);
    }

    // DNS.
    let hostsdir = dir.join("dns/hosts.d");
    let staging = dir.join("dns");
    std::fs::create_dir_all(&hostsdir).map_err(SandboxError::io("mkdir dns"))?;
    let mut records = route53_a(&region).await.unwrap_or_default();
    write_hosts(&hostsdir, &staging, &records)?;
    let mut dnsmasq = start_dnsmasq(&region, &hostsdir, &dir.join("dnsmasq.log")).await?;
    events.emit(
        "dns_started",
        json!({"server": format!("{DNS_ADDR}:53"), "records": records.len()}),
    );

    // peer-dns under cargo lambda watch.
    let mut watch = LambdaWatch::start_on(LAMBDA_PORT)?;
    let fn_env = peer_dns_env(&moto, &region, "info");
    let fn_pid = watch.start_function(&bins.peer_dns, &fn_env, Some(&dir.join("peer-dns.log")))?;
    events.emit(
        "lambda_started",
        json!({"invoke": format!("http://127.0.0.1:{LAMBDA_PORT}{}", watch.invoke_path()), "pid": fn_pid}),
    );

    state::write_json(
        &dir.join("state.json"),
        &State {
            supervisor_pid: std::process::id(),
            zone_id: region.zone_id.clone(),
            started_at: super::events::rfc3339_now(),
        },
    )?;

    let moto_env = moto.env();
    let mut nodes: BTreeMap<String, NodeProc> = BTreeMap::new();
    let mut attachments: BTreeSet<(String, String)> = BTreeSet::new();
    let mut launched: BTreeSet<String> = BTreeSet::new();
    let mut last_sweep = Instant::now();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(SandboxError::io("SIGTERM"))?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(SandboxError::io("SIGINT"))?;
    let dns_server: SocketAddr = (DNS_ADDR.parse::<Ipv4Addr>().unwrap_or(Ipv4Addr::LOCALHOST), 53).into();

    loop {
        // Instances: new ones get events and a node; gone ones lose theirs. A terminated
        // instance shuts down: its node gets SIGTERM, then SIGKILL after 5 s (`sandbox kill
        // --hard` SIGKILLs first, as a power loss would).
        if let Ok(live) = live_instances(&region).await {
            let gone: Vec<String> = nodes.keys().filter(|id| !live.contains_key(*id)).cloned().collect();
            for id in gone {
                if let Some(mut n) = nodes.remove(&id) {
                    events.emit("instance_terminated", json!({"peer": n.peer.get(), "instance_id": id}));
                    signal_group(n.pgid, nix::sys::signal::Signal::SIGTERM);
                    let (pgid, child) = (n.pgid, n.child.take());
                    tokio::spawn(async move {
                        if let Some(mut c) = child {
                            if tokio::time::timeout(Duration::from_secs(5), c.wait()).await.is_err() {
                                signal_group(pgid, nix::sys::signal::Signal::SIGKILL);
                                let _ = c.wait().await;
                            }
                        }
                        // Whatever is left of the group (etcd) goes too.
                        signal_group(pgid, nix::sys::signal::Signal::SIGKILL);
                    });
                    hv.roots.remove(&id);
                }
            }
            for (id, peer) in &live {
                if nodes.contains_key(id) {
                    continue;
                }
                let ip = match region.instance_ip(id).await {
                    Ok(ip) => ip,
                    Err(_) => continue,
                };
                if launched.insert(id.clone()) {
                    events.emit("instance_launched", json!({"peer": peer.get(), "instance_id": id, "ip": ip.to_string(), "asg": region.groups[peer.get() as usize]}));
                    let group = region.groups[peer.get() as usize].clone();
                    let (ev, idc, pn) = (events.clone(), id.clone(), peer.get());
                    tokio::spawn(async move {
                        for kind in ["EC2 Instance-launch Lifecycle Action", "EC2 Instance Launch Successful"] {
                            deliver(LAMBDA_PORT, &ev, launch_event(kind, &group, &idc), Some(pn), Some(&idc)).await;
                        }
                    });
                }
                // A node that cannot start now is tried again on the next pass.
                match start_node(&bins, &moto_env, &events, &dir, &cluster, id, *peer, ip).await {
                    Ok(node) => {
                        hv.roots.insert(id.clone(), node.root.clone());
                        nodes.insert(id.clone(), node);
                    }
                    Err(e) => events.emit(
                        "node_start_failed",
                        json!({"peer": peer.get(), "instance_id": id, "error": e.to_string()}),
                    ),
                }
            }
        }

        // Nodes whose processes ended while their instance lives: restarted, like systemd would.
        for n in nodes.values_mut() {
            if let Some(c) = n.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    events.emit(
                        "node_exited",
                        json!({"peer": n.peer.get(), "instance_id": n.instance_id, "status": status.code()}),
                    );
                    n.child = None;
                    n.restart_at = Some(Instant::now() + Duration::from_secs(3));
                }
            } else if n.restart_at.is_some_and(|t| Instant::now() >= t) {
                match spawn_node(&bins, &moto_env, n, &events) {
                    Ok(child) => {
                        n.restart_at = None;
                        n.pgid = child.id().unwrap_or_default();
                        events.emit("node_started", json!({"peer": n.peer.get(), "instance_id": n.instance_id, "pgid": n.pgid, "restart": true}));
                        n.child = Some(child);
                    }
                    Err(e) => {
                        n.restart_at = Some(Instant::now() + Duration::from_secs(3));
                        events.emit(
                            "node_start_failed",
                            json!({"peer": n.peer.get(), "instance_id": n.instance_id, "error": e.to_string()}),
                        );
                    }
                }
            }
        }
        let recs: BTreeMap<String, NodeRecord> = nodes
            .iter()
            .map(|(id, n)| {
                (
                    id.clone(),
                    NodeRecord {
                        peer: n.peer.get(),
                        instance_id: id.clone(),
                        ip: n.ip.to_string(),
                        pgid: n.pgid,
                        root: n.root.clone(),
                        log: n.log.clone(),
                    },
                )
            })
            .collect();
        let _ = state::write_json(&dir.join("nodes.json"), &recs);

        // Volumes: attach/detach as moto sees them, and the hypervisor follows. A pass where
        // moto could not be asked is skipped, never taken for "nothing attached".
        if let Some(pairs) = attached_pairs(&region).await {
            // Only the peers' data volumes (moto also attaches a root volume to every instance).
            let now: BTreeSet<(String, String)> = pairs
                .iter()
                .filter(|(v, _)| hv.images.contains_key(v))
                .cloned()
                .collect();
            for (v, i) in now.difference(&attachments) {
                events.emit("volume_attached", json!({"volume_id": v, "instance_id": i}));
            }
            for (v, i) in attachments.difference(&now) {
                events.emit("volume_detached", json!({"volume_id": v, "instance_id": i}));
            }
            attachments = now;
            match hv.sync(&pairs) {
                Ok(changes) => {
                    for (v, i, what) in changes {
                        events.emit(&format!("device_{what}"), json!({"volume_id": v, "instance_id": i}));
                    }
                }
                Err(e) => events.emit("hypervisor_error", json!({"error": e.to_string()})),
            }
        }

        // DNS: Route 53 -> dnsmasq.
        if let Some(now) = route53_a(&region).await {
            if now != records {
                for (name, ips) in &now {
                    if records.get(name) != Some(ips) {
                        events.emit(
                            "record_changed",
                            json!({"name": name, "values": ips, "previous": records.get(name)}),
                        );
                        let (ev, name, want) = (events.clone(), name.clone(), ips.clone());
                        tokio::spawn(async move {
                            let t0 = Instant::now();
                            while t0.elapsed() < Duration::from_secs(10) {
                                if let Ok(got) = query_a(dns_server, &name, Duration::from_millis(300)).await {
                                    if got.iter().map(|i| i.to_string()).collect::<Vec<_>>() == want {
                                        ev.emit("dns_visible", json!({"name": name, "values": want, "ms": t0.elapsed().as_millis() as u64}));
                                        return;
                                    }
                                }
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            ev.emit("dns_not_visible", json!({"name": name, "values": want}));
                        });
                    }
                }
                if let Err(e) = write_hosts(&hostsdir, &staging, &now) {
                    events.emit("dns_sync_error", json!({"error": e.to_string()}));
                }
                records = now;
            }
        }

        // The sweep schedule.
        if last_sweep.elapsed() >= opts.sweep_every {
            last_sweep = Instant::now();
            let ev = events.clone();
            tokio::spawn(async move { deliver(LAMBDA_PORT, &ev, sweep_event(), None, None).await });
        }

        if let Ok(Some(st)) = dnsmasq.try_wait() {
            events.emit("dnsmasq_exited", json!({"status": st.code()}));
            dnsmasq = start_dnsmasq(&region, &hostsdir, &dir.join("dnsmasq.log")).await?;
        }

        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }

    events.emit("region_stopping", json!({}));
    for n in nodes.values() {
        signal_group(n.pgid, nix::sys::signal::Signal::SIGTERM);
    }
    let t0 = Instant::now();
    for n in nodes.values_mut() {
        if let Some(c) = n.child.as_mut() {
            let left = Duration::from_secs(5).saturating_sub(t0.elapsed());
            if tokio::time::timeout(left, c.wait()).await.is_err() {
                signal_group(n.pgid, nix::sys::signal::Signal::SIGKILL);
                let _ = c.wait().await;
            }
        }
    }
    hv.withdraw_all();
    watch.stop_function();
    drop(watch);
    let _ = dnsmasq.kill().await;
    drop(moto);
    events.emit("region_stopped", json!({}));
    Ok(())
}

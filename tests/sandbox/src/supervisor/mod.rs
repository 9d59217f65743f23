//! The supervisor: runs inside the region's network namespace (loopback only) and plays AWS.
//!
//! At start it brings up the stand-ins: moto on 127.0.0.1:5000 with the region set up the way
//! Terraform does ([`crate::region`]), dnsmasq on 127.0.53.1:53, peer-dns under `cargo lambda
//! watch` on 127.0.0.1:9000 (nine function processes), and a volume image per peer for the
//! hypervisor. Then, each time moto's change counter moves (at most every 100 ms, at least every
//! 500 ms), it takes one typed [`observe::Observation`] of the region, through core's adapters
//! (reading again only what changed), and hands it to small reconcilers:
//! - [`fleet`]: one node (`node-bootstrap run`, and so etcd) per live instance;
//! - [`disks`]: the hypervisor presents each attached volume to its instance's node;
//! - [`dns_mirror`]: dnsmasq follows Route 53;
//! - [`eventbridge`]: launch events for new instances, and the sweep;
//! - [`client_lb`]: the client load balancer's targets are the instances in service.
//!
//! Everything it sees goes to the typed event log ([`event_log`]).

pub mod client_lb;
pub mod disks;
pub mod dns_mirror;
pub mod event_log;
pub mod eventbridge;
pub mod fleet;
pub mod observe;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest wait between two passes over the region, when nothing changes.
const PASS_EVERY: Duration = Duration::from_millis(500);
/// How often a pass reads everything, whatever moto's change counts say.
const FULL_PASS_EVERY: Duration = Duration::from_secs(2);
/// The shortest gap between the starts of two passes.
const PASS_MIN_GAP: Duration = Duration::from_millis(100);

use steadfast_core::vocab::{env, Transport};
use steadfast_core::PeerIndex;

use self::client_lb::ClientLbTargets;
use self::disks::Disks;
use self::dns_mirror::DnsMirror;
use self::event_log::{rfc3339_now, Event, EventLog};
use self::eventbridge::EventBridge;
use self::fleet::Fleet;
use crate::config::{cluster, CLIENT_LB_ADDR, LAMBDA_INSTANCES, LAMBDA_PORT, MOTO_PORT, NODE_KEY, SUPERVISOR_KEY};
use crate::error::{Result, SandboxError};
use crate::node::NodeEnv;
use crate::profile::Profile;
use crate::region::{Region, RegionOptions};
use crate::standins::hypervisor::{create_image, Hypervisor};
use crate::standins::lambda::{peer_dns_env, LambdaWatch};
use crate::standins::moto::{Changes, Moto};
use crate::state::{self, State};

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
    /// The delays the stand-ins add (`sandbox`: none; `aws`: a real region's).
    pub profile: Profile,
    /// The nodes' backup timer; `None`: no backups are taken (a restore still reads the bucket).
    pub backup_every: Option<Duration>,
    /// Mutual TLS on etcd's ports (the default), or plain http.
    pub transport: Transport,
    /// The nodes' TLS timer (renewal, a rotation's restarts); `None`: off.
    pub tls_every: Option<Duration>,
    /// The peers' certificate validity (s); `None`: node-bootstrap's default (30 days).
    pub cert_validity_secs: Option<i64>,
    /// The LAUNCHING hook's heartbeat timeout (s), in the region and on every node.
    pub hook_timeout_secs: u32,
    /// A peer whose name the resolver never learns a new address for (a Route 53 change that
    /// never propagates): its node waits on it. For the stall detector's and the node's tests.
    pub hold_dns: Option<PeerIndex>,
}

/// The services the region's nodes may reach: the module's `required_vpc_endpoints` for the
/// region's features (TLS as given; no Session Manager: the sandbox runs no SSM agent).
pub fn reachable(transport: Transport) -> Vec<&'static str> {
    steadfast_core::vocab::node_services(transport == Transport::Tls, false)
}

/// The stand-ins the supervisor started, and the region in moto.
struct Running {
    moto: Moto,
    region: Region,
    disks: Disks,
    dns: DnsMirror,
    watch: LambdaWatch,
    bridge: EventBridge,
    lb: ClientLbTargets,
}

/// Starts moto (with the region), a volume image per peer, dnsmasq and peer-dns.
async fn start(opts: &Options, bins: &Bins, dir: &Path, events: &EventLog) -> Result<Running> {
    let cluster = cluster()?;
    let moto = Moto::start_logged(MOTO_PORT, &dir.join("moto.log"))?;
    events.emit(Event::MotoStarted {
        endpoint: moto.endpoint(),
        pid: moto.pid(),
    });
    moto.admin("config", Some(&opts.profile.launcher_config())).await?;
    // The nodes reach only what the deployment provides endpoints for (a subnet with no route out).
    let reach = reachable(opts.transport);
    moto.admin("reach", Some(&serde_json::json!({ "allow": { NODE_KEY: reach } })))
        .await?;
    // The supervisor plays the cloud: it signs with its own key, which fault injection exempts.
    let conf = crate::standins::moto::sdk_config_as(&moto.endpoint(), SUPERVISOR_KEY).await;
    let region = Region::create(
        &conf,
        cluster.clone(),
        opts.transport,
        RegionOptions {
            hook_timeout_secs: opts.hook_timeout_secs as i32,
            ..RegionOptions::default()
        },
    )
    .await?;
    events.emit(Event::RegionCreated {
        vpc: region.vpc_id.clone(),
        zone_id: region.zone_id.clone(),
        volumes: region.volumes.clone(),
        groups: region.groups.clone(),
    });

    let mut hv = Hypervisor::default();
    let vols = dir.join("volumes");
    std::fs::create_dir_all(&vols).map_err(SandboxError::io("mkdir volumes"))?;
    for v in &region.volumes {
        let img = vols.join(format!("{v}.img"));
        create_image(&img, opts.volume_mib)?;
        hv.images.insert(v.clone(), img);
    }
    let disks = Disks::new(hv, events.clone());

    // DNS: SRV records are static, read from Route 53 once.
    let srv = region.srv_records().await?;
    let dns = DnsMirror::start(
        &cluster.cluster_domain(),
        srv,
        region.a_records().await?,
        dir,
        events.clone(),
        opts.profile.dns_propagation,
    )?;
    let mut dns = dns;
    if let Some(p) = opts.hold_dns {
        dns.hold(&cluster.peer_record_name(p));
    }

    // peer-dns under cargo lambda watch, and the EventBridge stand-in that feeds it.
    let mut watch = LambdaWatch::start_on(LAMBDA_PORT)?;
    let pids = watch.start_functions(
        &bins.peer_dns,
        &peer_dns_env(&moto, &region, "info"),
        Some(&dir.join("peer-dns.log")),
        LAMBDA_INSTANCES,
    )?;
    events.emit(Event::LambdaStarted {
        invoke: format!("http://127.0.0.1:{LAMBDA_PORT}{}", watch.invoke_path()),
        pids,
    });
    let bridge = EventBridge::new(LAMBDA_PORT, events.clone(), &cluster, opts.sweep_every, &opts.profile);
    // The client endpoint's load balancer (the zone's record for the endpoint points at it).
    let listen = CLIENT_LB_ADDR
        .parse()
        .map_err(|e| SandboxError::Setup(format!("CLIENT_LB_ADDR {CLIENT_LB_ADDR}: {e}")))?;
    let lb = ClientLbTargets::start(listen, dir, events.clone())?;
    Ok(Running {
        moto,
        region,
        disks,
        dns,
        watch,
        bridge,
        lb,
    })
}

/// Runs the region until SIGTERM/SIGINT, then stops everything it started.
pub async fn supervise(opts: Options) -> Result<()> {
    let dir = state::state_dir();
    let events = EventLog::new(&dir.join("events.jsonl"));
    let bins = Bins::locate()?;
    let cluster = cluster()?;
    events.emit(Event::RegionStarting {
        cluster: cluster.name().to_string(),
        domain: cluster.domain().to_string(),
    });
    let Running {
        moto,
        region,
        mut disks,
        mut dns,
        mut watch,
        mut bridge,
        mut lb,
    } = start(&opts, &bins, &dir, &events).await?;
    state::write_json(
        &dir.join("state.json"),
        &State {
            supervisor_pid: std::process::id(),
            zone_id: region.zone_id.clone(),
            started_at: rfc3339_now(),
            tls: opts.transport == Transport::Tls,
        },
    )?;

    let mut fleet = Fleet::new(
        bins,
        cluster.clone(),
        {
            let mut base = NodeEnv::new().cloud(&moto.env()).region(&region);
            if let Some(d) = opts.backup_every {
                base.set(env::BACKUP_INTERVAL_SECS, d.as_secs().to_string());
            }
            if let Some(v) = opts.cert_validity_secs {
                base.set(env::TLS_CERT_VALIDITY_SECS, v.to_string());
            }
            base.set(env::HOOK_TIMEOUT_SECS, opts.hook_timeout_secs.to_string());
            // The nodes sign as themselves: the launcher holds them to the services they may reach.
            base.set("AWS_ACCESS_KEY_ID", NODE_KEY);
            base
        },
        &dir,
        events.clone(),
        fleet::NodeTiming {
            boot_delay: opts.profile.boot + opts.profile.install,
            etcd_timing: crate::config::etcd_timing()?,
            backup_every: opts.backup_every,
            tls_every: (opts.transport == Transport::Tls).then_some(opts.tls_every).flatten(),
        },
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(SandboxError::io("SIGTERM"))?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(SandboxError::io("SIGINT"))?;
    // Each pass starts once moto says something changed (a write, a timer), or after PASS_EVERY:
    // the hypervisor presents a volume as soon as it is attached, as EC2's does. It reads again
    // only what changed (observe::Observer).
    let mut observer = observe::Observer::new(FULL_PASS_EVERY);
    let mut seen: Option<Changes> = None;
    let mut stale = observe::Stale::ALL;
    loop {
        match observer.observe(&region.cloud, &cluster, &region.zone_id, stale).await {
            Ok(obs) => {
                let launched = fleet.reconcile(&obs).await;
                bridge.launched(&launched);
                disks.sync(&obs, fleet.roots());
                dns.sync(&obs.a_records);
                lb.sync(&obs);
            }
            Err(e) => events.emit(Event::ObserveFailed { error: e.to_string() }),
        }
        bridge.tick();
        let started = tokio::time::Instant::now();
        tokio::select! {
            changed = moto.changes(seen.as_ref(), PASS_EVERY) => match changed {
                Ok(now) => {
                    stale = observe::Stale::between(seen.as_ref(), &now);
                    seen = Some(now);
                }
                // An unreachable admin API: read everything after a blind wait.
                Err(_) => {
                    stale = observe::Stale::ALL;
                    tokio::time::sleep_until(started + PASS_EVERY).await;
                }
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
        // Never more than one pass per PASS_MIN_GAP, however busy the region: each pass is four
        // reads of moto, which serves everyone on one lock.
        tokio::time::sleep_until(started + PASS_MIN_GAP).await;
    }

    events.emit(Event::RegionStopping {});
    lb.stop();
    fleet.stop_all().await;
    disks.hv.withdraw_all();
    watch.stop_function();
    drop(watch);
    dns.stop().await;
    drop(moto);
    events.emit(Event::RegionStopped {});
    Ok(())
}

//! The supervisor: runs inside the region's network namespace (loopback only) and plays AWS.
//!
//! At start it brings up the stand-ins: moto on 127.0.0.1:5000 with the region set up the way
//! Terraform does ([`crate::region`]) or, with `--terraform`, by `terraform apply` of the module
//! itself ([`crate::region::terraform`]), dnsmasq on 127.0.53.1:53, peer-dns under `cargo lambda
//! watch` on 127.0.0.1:9000 (nine function processes), HAProxy on 127.0.60.1:2379 as the client
//! load balancer, and a volume image per peer for the hypervisor. With `--terraform`, SIGUSR1
//! makes a new deployment of the same name (destroy, apply); the stand-ins stay. Then, each time moto's change counter moves (at most every 100 ms, at least every
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

use serde_json::Value;
use steadfast_core::vocab::{env, Transport};
use steadfast_core::PeerIndex;

use self::client_lb::ClientLbTargets;
use self::disks::Disks;
use self::dns_mirror::DnsMirror;
use self::event_log::{rfc3339_now, Event, EventLog};
use self::eventbridge::EventBridge;
use self::fleet::Fleet;
use crate::config::{
    cluster, CLIENT_LB_ADDR, LAMBDA_INSTANCES, LAMBDA_PORT, MOTO_PORT, MOTO_SSL_PORT, NODE_KEY, SUPERVISOR_KEY,
};
use crate::error::{Result, SandboxError};
use crate::node::NodeEnv;
use crate::profile::Profile;
use crate::region::terraform::{self, Applied};
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
    /// The region as Terraform makes it: `terraform apply` of `terraform/examples/local` (the
    /// real module) against the region's moto, adopted from its outputs ([`crate::region::terraform`]);
    /// SIGUSR1 then destroys it and applies it again (a new deployment of the same name).
    pub terraform: bool,
}

/// The services the region's nodes may reach: the module's `required_vpc_endpoints` for the
/// region's features (TLS as given; no Session Manager: the sandbox runs no SSM agent).
pub fn reachable(transport: Transport) -> Vec<&'static str> {
    steadfast_core::vocab::node_services(transport == Transport::Tls, false)
}

/// The stand-ins the supervisor started. They outlive a deployment (`--terraform`'s SIGUSR1):
/// the launcher and its state (an account), the resolver, the Lambda runtime, EventBridge and
/// the load balancer.
struct Running {
    moto: Moto,
    watch: LambdaWatch,
    bridge: EventBridge,
    lb: ClientLbTargets,
}

/// One deployment: the region in moto (made by the supervisor or by Terraform) and what serves
/// it (the hypervisor's images, the nodes' environment).
struct Deployment {
    region: Region,
    disks: Disks,
    /// What Terraform printed (`--terraform`).
    applied: Option<Applied>,
    /// The nodes' environment before each node's own part.
    node_env: NodeEnv,
}

/// Where `--terraform` keeps Terraform's state, configuration and logs.
fn terraform_dir(dir: &Path) -> PathBuf {
    dir.join("terraform")
}

/// `tf-local.sh`'s inputs for the sandbox's region: its cluster, its launcher's fixed ports and
/// log, the hook's timeout.
fn terraform_vars(opts: &Options, dir: &Path) -> Vec<(String, String)> {
    let c = crate::config::CLUSTER;
    vec![
        ("STEADFAST_TF_MOTO_PORT".into(), MOTO_PORT.to_string()),
        ("STEADFAST_TF_MOTO_SSL_PORT".into(), MOTO_SSL_PORT.to_string()),
        (
            "STEADFAST_TF_MOTO_LOG".into(),
            dir.join("moto.log").to_string_lossy().into_owned(),
        ),
        ("TF_VAR_cluster_name".into(), c.to_string()),
        ("TF_VAR_domain".into(), crate::config::DOMAIN.to_string()),
        ("TF_VAR_peer_count".into(), "9".into()),
        (
            "TF_VAR_lifecycle_hook_heartbeat_timeout".into(),
            opts.hook_timeout_secs.to_string(),
        ),
    ]
}

/// `tf-local.sh <cmd>` off the async runtime (it runs Terraform for a minute or two).
async fn tf_local(cmd: &'static str, opts: &Options, dir: &Path, events: &EventLog) -> Result<Value> {
    let (state, vars) = (terraform_dir(dir), terraform_vars(opts, dir));
    events.emit(Event::TerraformStarted { command: cmd.into() });
    let t0 = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || terraform::tf_local(cmd, &state, &vars))
        .await
        .map_err(|e| SandboxError::Setup(format!("tf-local.sh {cmd}: {e}")))??;
    events.emit(Event::TerraformDone {
        command: cmd.into(),
        secs: t0.elapsed().as_secs_f64(),
    });
    Ok(out)
}

/// The cloud: moto (with `--terraform`, the launcher `tf-local.sh up` started and the region it
/// applied), peer-dns's runtime, EventBridge and the client load balancer.
async fn start(opts: &Options, dir: &Path, events: &EventLog) -> Result<(Running, Option<Applied>)> {
    let cluster = cluster()?;
    let (moto, applied) = if opts.terraform {
        if opts.transport != Transport::Tls {
            return Err(SandboxError::Setup(
                "--terraform applies terraform/examples/local, whose cluster talks TLS: leave --tls on".into(),
            ));
        }
        let applied = Applied::parse(tf_local("up", opts, dir, events).await?)?;
        let pid = applied
            .moto_pid()
            .ok_or_else(|| SandboxError::Setup("tf-local.sh up printed no launcher pid".into()))?;
        (Moto::attach(MOTO_PORT, Some(MOTO_SSL_PORT), pid), Some(applied))
    } else {
        (Moto::start_logged(MOTO_PORT, &dir.join("moto.log"))?, None)
    };
    events.emit(Event::MotoStarted {
        endpoint: moto.endpoint(),
        pid: moto.pid(),
    });
    moto.admin("config", Some(&opts.profile.launcher_config())).await?;
    let watch = LambdaWatch::start_on(LAMBDA_PORT)?;
    let bridge = EventBridge::new(LAMBDA_PORT, events.clone(), &cluster, opts.sweep_every, &opts.profile);
    let listen = CLIENT_LB_ADDR
        .parse()
        .map_err(|e| SandboxError::Setup(format!("CLIENT_LB_ADDR {CLIENT_LB_ADDR}: {e}")))?;
    let lb = ClientLbTargets::start(listen, dir, events.clone())?;
    Ok((
        Running {
            moto,
            watch,
            bridge,
            lb,
        },
        applied,
    ))
}

/// The resolver, from the first deployment's zone: its SRV records are static (the same in
/// every deployment of the cluster), its A records follow Route 53 from then on.
async fn start_dns(opts: &Options, dir: &Path, events: &EventLog, region: &Region) -> Result<DnsMirror> {
    let cluster = &region.cluster;
    let mut dns = DnsMirror::start(
        &cluster.cluster_domain(),
        region.srv_records().await?,
        region.a_records().await?,
        dir,
        events.clone(),
        opts.profile.dns_propagation,
    )?;
    if let Some(p) = opts.hold_dns {
        dns.hold(&cluster.peer_record_name(p));
    }
    // The client endpoint: the zone's alias of the load balancer resolves to its address.
    dns.alias(
        &format!("{}.", cluster.client_endpoint()),
        vec![CLIENT_LB_ADDR.to_string()],
    );
    Ok(dns)
}

/// A deployment on the running cloud: the region (made here, or adopted from what Terraform
/// applied), what the nodes may reach, a volume image per volume, peer-dns started with its
/// environment, and the nodes' environment.
async fn deploy(
    opts: &Options,
    bins: &Bins,
    dir: &Path,
    events: &EventLog,
    running: &mut Running,
    applied: Option<Applied>,
) -> Result<Deployment> {
    let cluster = cluster()?;
    let moto = &running.moto;
    // The supervisor plays the cloud: it signs with its own key, which fault injection exempts.
    let conf = crate::standins::moto::sdk_config_as(&moto.endpoint(), SUPERVISOR_KEY).await;
    let region = match &applied {
        Some(a) => Region::adopt(&conf, cluster.clone(), opts.transport, a).await?,
        None => {
            Region::create(
                &conf,
                cluster.clone(),
                opts.transport,
                RegionOptions {
                    hook_timeout_secs: opts.hook_timeout_secs as i32,
                    ..RegionOptions::default()
                },
            )
            .await?
        }
    };
    events.emit(Event::RegionCreated {
        vpc: region.vpc_id.clone(),
        zone_id: region.zone_id.clone(),
        volumes: region.volumes.clone(),
        groups: region.groups.clone(),
    });
    // The nodes reach only what the deployment provides endpoints for (a subnet with no route
    // out): with Terraform, the module's own required_vpc_endpoints output.
    let reach: Vec<String> = match &applied {
        Some(a) => a.reachable()?,
        None => reachable(opts.transport).into_iter().map(str::to_string).collect(),
    };
    moto.admin("reach", Some(&serde_json::json!({ "allow": { NODE_KEY: reach } })))
        .await?;

    let mut hv = Hypervisor::default();
    let vols = dir.join("volumes");
    std::fs::create_dir_all(&vols).map_err(SandboxError::io("mkdir volumes"))?;
    for v in &region.volumes {
        let img = vols.join(format!("{v}.img"));
        create_image(&img, opts.volume_mib)?;
        hv.images.insert(v.clone(), img);
    }
    let disks = Disks::new(hv, events.clone());

    // peer-dns, with the environment Terraform gave the function (or the region's).
    let lambda_env = match &applied {
        Some(a) => {
            let mut e = moto.env();
            e.extend(terraform::function_env(moto.port, &a.string("lambda_function_name")?).await?);
            e.push(("RUST_LOG".into(), "info".into()));
            e
        }
        None => peer_dns_env(moto, &region, "info"),
    };
    let pids = running.watch.start_functions(
        &bins.peer_dns,
        &lambda_env,
        Some(&dir.join("peer-dns.log")),
        LAMBDA_INSTANCES,
    )?;
    events.emit(Event::LambdaStarted {
        invoke: format!("http://127.0.0.1:{LAMBDA_PORT}{}", running.watch.invoke_path()),
        pids,
    });

    let node_env = node_env(opts, moto, &region, applied.as_ref()).await?;
    Ok(Deployment {
        region,
        disks,
        applied,
        node_env,
    })
}

/// The nodes' environment, before each node's own part (its root, its identity): with
/// Terraform, node-bootstrap's configuration as the launch template writes it and the
/// launcher's https endpoint (the module's buckets refuse plain http); else the region's.
async fn node_env(opts: &Options, moto: &Moto, region: &Region, applied: Option<&Applied>) -> Result<NodeEnv> {
    let mut base = match applied {
        Some(a) => {
            let mut cloud = moto.env();
            for (k, v) in cloud.iter_mut() {
                if k == "AWS_ENDPOINT_URL" {
                    *v = a.https_endpoint()?;
                }
            }
            cloud.push(("SSL_CERT_FILE".into(), a.cert_file()?.to_string_lossy().into_owned()));
            let mut e = NodeEnv::from_vars(&region.bootstrap_env().await?).cloud(&cloud);
            e.set(
                env::ETCDUTL_BIN,
                crate::paths::etcd_bin_dir()?.join("etcdutl").to_string_lossy(),
            );
            e
        }
        None => NodeEnv::new().cloud(&moto.env()).region(region),
    };
    if let Some(d) = opts.backup_every {
        base.set(env::BACKUP_INTERVAL_SECS, d.as_secs().to_string());
    }
    if let Some(v) = opts.cert_validity_secs {
        base.set(env::TLS_CERT_VALIDITY_SECS, v.to_string());
    }
    base.set(env::HOOK_TIMEOUT_SECS, opts.hook_timeout_secs.to_string());
    // The nodes sign as themselves: the launcher holds them to the services they may reach.
    base.set("AWS_ACCESS_KEY_ID", NODE_KEY);
    Ok(base)
}

/// What the CLI reads: the supervisor, the deployment's zone and CA secret.
fn write_state(dir: &Path, opts: &Options, d: &Deployment) -> Result<()> {
    state::write_json(
        &dir.join("state.json"),
        &State {
            supervisor_pid: std::process::id(),
            zone_id: d.region.zone_id.clone(),
            started_at: rfc3339_now(),
            tls: opts.transport == Transport::Tls,
            ca_secret: match &d.applied {
                Some(a) => Some(a.string("ca_secret_name")?),
                None => None,
            },
            terraform: opts.terraform,
        },
    )
}

fn fleet(opts: &Options, bins: &Bins, dir: &Path, events: &EventLog, d: &Deployment) -> Result<Fleet> {
    Ok(Fleet::new(
        bins.clone(),
        cluster()?,
        d.node_env.clone(),
        dir,
        events.clone(),
        fleet::NodeTiming {
            boot_delay: opts.profile.boot + opts.profile.install,
            etcd_timing: crate::config::etcd_timing()?,
            backup_every: opts.backup_every,
            tls_every: (opts.transport == Transport::Tls).then_some(opts.tls_every).flatten(),
        },
    ))
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
    let (mut running, applied) = start(&opts, &dir, &events).await?;
    let mut d = deploy(&opts, &bins, &dir, &events, &mut running, applied).await?;
    let mut dns = start_dns(&opts, &dir, &events, &d.region).await?;
    write_state(&dir, &opts, &d)?;
    let mut fleet = fleet(&opts, &bins, &dir, &events, &d)?;

    let signal = |kind| tokio::signal::unix::signal(kind).map_err(SandboxError::io(format!("signal {kind:?}")));
    use tokio::signal::unix::SignalKind;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    // Each pass starts once moto says something changed (a write, a timer), or after PASS_EVERY:
    // the hypervisor presents a volume as soon as it is attached, as EC2's does. It reads again
    // only what changed (observe::Observer).
    let mut observer = observe::Observer::new(FULL_PASS_EVERY);
    let mut seen: Option<Changes> = None;
    let mut stale = observe::Stale::ALL;
    loop {
        match observer
            .observe(&d.region.cloud, &cluster, &d.region.zone_id, stale)
            .await
        {
            Ok(obs) => {
                let launched = fleet.reconcile(&obs).await;
                running.bridge.launched(&launched);
                d.disks.sync(&obs, fleet.roots());
                dns.sync(&obs.a_records);
                running.lb.sync(&obs);
            }
            Err(e) => events.emit(Event::ObserveFailed { error: e.to_string() }),
        }
        running.bridge.tick();
        let started = tokio::time::Instant::now();
        tokio::select! {
            changed = running.moto.changes(seen.as_ref(), PASS_EVERY) => match changed {
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
            _ = usr1.recv(), if opts.terraform => {
                // A new deployment of the same name: everything Terraform made goes (the nodes
                // first, as their instances would), whatever it does not own stays in moto.
                events.emit(Event::Redeploying {});
                fleet.stop_all().await;
                d.disks.hv.withdraw_all();
                for v in &d.region.volumes {
                    let _ = std::fs::remove_file(dir.join("volumes").join(format!("{v}.img")));
                }
                tf_local("destroy", &opts, &dir, &events).await?;
                let applied = Applied::parse(tf_local("apply", &opts, &dir, &events).await?)?;
                d = deploy(&opts, &bins, &dir, &events, &mut running, Some(applied)).await?;
                write_state(&dir, &opts, &d)?;
                fleet = self::fleet(&opts, &bins, &dir, &events, &d)?;
                observer = observe::Observer::new(FULL_PASS_EVERY);
                seen = None;
                stale = observe::Stale::ALL;
            }
        }
        // Never more than one pass per PASS_MIN_GAP, however busy the region: each pass is four
        // reads of moto, which serves everyone on one lock.
        tokio::time::sleep_until(started + PASS_MIN_GAP).await;
    }

    events.emit(Event::RegionStopping {});
    running.lb.stop();
    fleet.stop_all().await;
    d.disks.hv.withdraw_all();
    running.watch.stop_function();
    let Running { moto, watch, .. } = running;
    drop(watch);
    dns.stop().await;
    drop(moto);
    events.emit(Event::RegionStopped {});
    Ok(())
}

//! `prepare`: everything that must be true before etcd may start, as named [`Step`]s. Each step
//! is timed and, when it finishes, logged once under its name (`step`, `elapsed_ms` and what it
//! found); progress inside a step is logged with `during`. The report lists the same steps.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use steadfast_core::aws::{Instances, Objects, Secrets, Volume, Volumes};
use steadfast_core::backup::OwnVolume;
use steadfast_core::vocab::{Step, TAG_BLANK, TAG_JOINED};
use tracing::info;

use crate::config::NodeConfig;
use crate::envfile::Start;
use crate::error::Result;
use crate::identity::{self, Identity};
use crate::recovery::{self, Fresh, Handoff, MakeReady, Recovered};
use crate::volume::{self, claim, device};
use crate::{datadir, dns, envfile, fsx, tls};

pub use steadfast_core::report::PrepareReport;

/// Runs steps, timing each and logging it under its name when it finishes.
#[derive(Debug)]
pub struct Steps {
    start: Instant,
    done: Vec<(Step, f64)>,
}

impl Default for Steps {
    fn default() -> Self {
        Self::new()
    }
}

impl Steps {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            done: Vec::new(),
        }
    }

    /// Runs `step`; on success logs `step`, `elapsed_ms` and `detail(&value)`.
    pub async fn run<T, F>(&mut self, step: Step, work: F, detail: impl FnOnce(&T) -> String) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        self.run_waiting(step, work, |_| Duration::ZERO, detail).await
    }

    /// [`run`](Self::run) for a step that may wait on the cloud: also logs `waited_ms`, the part
    /// of `elapsed_ms` that `waited(&value)` says was spent waiting on something outside this
    /// node (another instance letting go of the volume), so the node's own share can be told
    /// apart.
    pub async fn run_waiting<T, F>(
        &mut self,
        step: Step,
        work: F,
        waited: impl FnOnce(&T) -> Duration,
        detail: impl FnOnce(&T) -> String,
    ) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let t0 = Instant::now();
        let v = work.await?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        let waited_ms = waited(&v).as_secs_f64() * 1000.0;
        info!(step = %step, elapsed_ms = ms, waited_ms, detail = %detail(&v), "step done");
        crate::progress::moved(step.as_str());
        self.done.push((step, ms));
        Ok(v)
    }

    pub fn total_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }
}

/// A lost volume's way back to a mounted, empty data dir: format (it is blank), mount, own it.
/// Run by recovery only once its plan says data will come.
struct Reformat<'a> {
    lost: bool,
    volume_id: &'a str,
    dev: &'a Path,
    label: String,
    cfg: &'a NodeConfig,
}

impl MakeReady for Reformat<'_> {
    async fn make_ready(&self) -> Result<()> {
        if !self.lost {
            return Ok(());
        }
        volume::reformat_lost(self.volume_id, self.dev, &self.label).await?;
        let mount = datadir::decide(&self.cfg.data_dir, self.dev)?;
        datadir::mount(&mount, self.dev, &self.cfg.data_dir, self.cfg.etcd_user.as_deref()).await
    }
}

pub async fn run<E: Instances + Volumes, O: Objects, S: Secrets>(
    ec2: &E,
    objects: Option<&O>,
    secrets: &S,
    id: &Identity,
    cfg: &NodeConfig,
) -> Result<PrepareReport> {
    info!(during = %Step::Identity, instance = %id.instance_id, az = %id.availability_zone, region = %id.region,
        ip = %id.private_ip, "identity from IMDSv2");
    let mut s = Steps::new();
    let (cluster, peer) = s
        .run(Step::Tags, identity::cluster_and_peer(ec2, id, cfg), |(c, p)| {
            format!("cluster {} peer {}", c.name(), p)
        })
        .await?;
    let vol = s
        .run(
            Step::FindVolume,
            volume::find(ec2, &cluster, peer, &id.availability_zone),
            |v| {
                format!(
                    "{} in {} (initialized: {}, joined: {}, blank: {})",
                    v.volume_id,
                    v.availability_zone,
                    v.tags.initialized(),
                    v.tags.joined(),
                    v.tags.blank()
                )
            },
        )
        .await?;
    let claimed = s
        .run_waiting(
            Step::Attach,
            claim::claim(ec2, &vol.volume_id, &id.instance_id, &cfg.attach),
            |c| c.held_by_another,
            |c| {
                format!(
                    "{} attached to {} as {:?} (held by another instance for {} ms)",
                    vol.volume_id,
                    id.instance_id,
                    c.device,
                    c.held_by_another.as_millis()
                )
            },
        )
        .await?;
    let att_device = claimed.device;
    let dev = s
        .run(
            Step::Device,
            device::wait_for_device(
                &cfg.dev_root,
                &vol.volume_id,
                att_device.as_deref().or(Some(cfg.attach.device_name.as_str())),
                cfg.device_timeout,
            ),
            |d| format!("{} by serial", d.display()),
        )
        .await?;
    // The mount state is read once: a data dir mounted from another device is refused before
    // the volume is touched.
    let mount = datadir::decide(&cfg.data_dir, &dev)?;
    let already = mount == datadir::MountDecision::AlreadyMounted;
    let fs = s
        .run(
            Step::Filesystem,
            volume::ready_filesystem(ec2, &cluster, peer, &vol.volume_id, &dev, already, cfg.grow_offline),
            |o| format!("{o:?}"),
        )
        .await?;
    // A lost volume is blank: nothing to mount until recovery decides its data comes back.
    let fresh = s
        .run(
            Step::Mount,
            async {
                if fs.lost {
                    return Ok(true);
                }
                datadir::mount(&mount, &dev, &cfg.data_dir, cfg.etcd_user.as_deref()).await?;
                volume::grow_mounted(&vol.volume_id, &dev, &fs).await?;
                let fresh = datadir::is_fresh(&cfg.data_dir)?;
                if !fresh {
                    note_data(ec2, &vol).await?;
                }
                Ok(fresh)
            },
            |fresh| {
                if fs.lost {
                    "not mounted: the volume is blank and its data is gone".to_string()
                } else {
                    format!("{mount:?} at {} (fresh: {fresh})", cfg.data_dir.display())
                }
            },
        )
        .await?;
    // The operator's restore request (a chosen snapshot): wait until it is armed, or discard
    // this member so the fresh path below restores like every other peer.
    let fresh = recovery::request::follow(objects, &cluster, &vol, !fs.lost, cfg).await? || fresh;
    s.run(
        Step::Dns,
        dns::wait(&cluster, peer, id.private_ip, fresh, cfg.dns_timeout),
        |_| {
            format!(
                "{} resolves to {} (fresh: {fresh})",
                cluster.peer_host(peer),
                id.private_ip
            )
        },
    )
    .await?;
    // TLS before anything talks to etcd (a fresh data dir asks the other members first).
    if let Some(t) = &cfg.tls {
        s.run(
            Step::Tls,
            tls::ensure(secrets, &cluster, peer, id.private_ip, t, cfg.etcd_user.as_deref()),
            |e| {
                format!(
                    "certificate {} until {} from {} (created the CA: {}, {:?})",
                    e.leaf.serial, e.leaf.not_after, e.leaf.issuer, e.created_ca, e.plan
                )
            },
        )
        .await?;
    }
    let access = tls::access(cfg)?;
    let recovered = if fresh {
        // Its data was there once (the volume says so), or never.
        let own = if fs.lost || vol.tags.joined() || vol.tags.blank() {
            OwnVolume::Lost
        } else {
            OwnVolume::NeverJoined
        };
        let f = Fresh {
            cluster: &cluster,
            peer,
            id,
            volume: &vol,
            own,
            cfg,
            access: &access,
        };
        let reformat = Reformat {
            lost: fs.lost,
            volume_id: &vol.volume_id,
            dev: &dev,
            label: cluster.fs_label(peer),
            cfg,
        };
        s.run(Step::Recovery, recovery::recover(ec2, objects, &f, &reformat), |r| {
            format!("{r:?}")
        })
        .await?
    } else {
        Recovered::Existing
    };
    let start = match &recovered {
        Recovered::NewCluster => Start::New,
        Recovered::Existing | Recovered::Restored { .. } => Start::Existing,
        Recovered::Joined { initial_cluster, .. } => Start::Join {
            initial_cluster: initial_cluster.clone(),
        },
    };
    let tls_paths = cfg.tls.as_ref().map(|t| t.paths());
    let vars = envfile::render(
        &cluster,
        peer,
        id.private_ip,
        &cfg.data_dir,
        &start,
        tls_paths.as_ref(),
        cfg.etcd_timing,
    );
    let handoff = Handoff {
        volume_id: vol.volume_id.clone(),
        peer: peer.get(),
        recovered: recovered.clone(),
    };
    s.run(
        Step::EnvFile,
        async {
            fsx::write_atomic(
                &Handoff::path(&cfg.env_file),
                &serde_json::to_string(&handoff).unwrap_or_default(),
            )?;
            fsx::write_atomic(&cfg.env_file, &envfile::to_text(&vars))
        },
        |_| format!("{} ({start:?})", cfg.env_file.display()),
    )
    .await?;
    let fresh = start != Start::Existing;

    let total_ms = s.total_ms();
    let report = PrepareReport {
        instance_id: id.instance_id.clone(),
        cluster: cluster.name().to_string(),
        peer: peer.get(),
        ip: id.private_ip,
        volume_id: vol.volume_id,
        device: dev,
        formatted: fs.formatted,
        fresh,
        recovered,
        steps: s.done,
        total_ms,
    };
    let json = serde_json::to_string(&report).unwrap_or_default();
    // For whoever reads it back (`PrepareReport` itself): beside etcd's environment file.
    fsx::write_atomic(&PrepareReport::path(&cfg.env_file), &json)?;
    info!(step = %Step::Prepared, total_ms, report = %json, "prepare done");
    Ok(report)
}

/// The volume holds member data: say so in its tags (`joined`; a `blank` mark is stale).
async fn note_data<V: Volumes>(ec2: &V, vol: &Volume) -> Result<()> {
    if !vol.tags.joined() {
        ec2.tag_volume(
            &vol.volume_id,
            TAG_JOINED,
            &steadfast_core::clock::now_secs().to_string(),
        )
        .await?;
    }
    if vol.tags.blank() {
        ec2.untag_volume(&vol.volume_id, TAG_BLANK).await?;
        info!(during = %Step::Mount, volume = %vol.volume_id, "the volume holds data again: its blank mark removed");
    }
    Ok(())
}

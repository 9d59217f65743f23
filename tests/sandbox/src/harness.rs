//! A stage for node-bootstrap: moto with the region, a hypervisor syncing loop devices to
//! moto's attachments, and nodes (an IMDSv2 stand-in, a sysfs/dev root and an /etc/hosts each,
//! launched by [`crate::node`]) booted with `node-bootstrap prepare`.
//! Used by node-bootstrap's emulator tests and by `bench`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast_core::aws::{Volume, Volumes};
use steadfast_core::vocab::{env, Transport};
use steadfast_core::{Cluster, PeerIndex};
use tokio::task::JoinHandle;

use crate::error::{Result, SandboxError};
use crate::node::{Names, NodeEnv, NodeSpec};
use crate::region::{zone_name, Region, RegionOptions};
use crate::standins::hypervisor::{create_image, Hypervisor};
use crate::standins::imds::{Imds, InstanceIdentity};
use crate::standins::moto::{Moto, REGION};

#[derive(Debug)]
pub struct Stage {
    /// The node-bootstrap binary.
    pub nb: PathBuf,
    pub moto: Moto,
    pub region: Region,
    pub dir: tempfile::TempDir,
    pub hv: Arc<Mutex<Hypervisor>>,
    sync: JoinHandle<()>,
}

#[derive(Debug)]
pub struct Node {
    pub id: InstanceIdentity,
    pub imds: Imds,
    pub spec: NodeSpec,
    pub root: PathBuf,
    pub data: PathBuf,
    pub hosts: PathBuf,
    pub env_file: PathBuf,
}

/// (volume id, instance id) for every attachment moto calls `attached`; `None` when moto could
/// not be asked (callers skip that pass rather than take it for "nothing attached").
pub async fn attached_pairs(region: &Region) -> Option<Vec<(String, String)>> {
    let out = region.clients.ec2.describe_volumes().send().await.ok()?;
    Some(
        out.volumes()
            .iter()
            .flat_map(|v| {
                v.attachments()
                    .iter()
                    .filter(|a| {
                        a.state()
                            .is_some_and(|s| *s == aws_sdk_ec2::types::VolumeAttachmentState::Attached)
                    })
                    .filter_map(|a| Some((v.volume_id()?.to_string(), a.instance_id()?.to_string())))
            })
            .collect(),
    )
}

impl Stage {
    /// moto, the region for `cluster`, a 64 MiB image per volume and the hypervisor loop.
    pub async fn new(nb: &Path, cluster: Cluster) -> Result<Self> {
        Self::with_region(nb, cluster, RegionOptions::default()).await
    }

    /// The same, with the region made with `opts` (e.g. a short lifecycle hook timeout).
    pub async fn with_region(nb: &Path, cluster: Cluster, opts: RegionOptions) -> Result<Self> {
        let moto = Moto::start()?;
        let conf = moto.sdk_config().await;
        let region = Region::create(&conf, cluster, Transport::Plain, opts).await?;
        let dir = tempfile::tempdir().map_err(SandboxError::io("tempdir"))?;
        let hv = Arc::new(Mutex::new(Hypervisor::default()));
        for v in &region.volumes {
            let img = dir.path().join(format!("{v}.img"));
            create_image(&img, 64)?;
            if let Ok(mut g) = hv.lock() {
                g.images.insert(v.clone(), img);
            }
        }
        let (hv2, r2) = (hv.clone(), region.clone());
        let sync = tokio::spawn(async move {
            loop {
                let Some(pairs) = attached_pairs(&r2).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                if let Ok(mut h) = hv2.lock() {
                    if let Err(e) = h.sync(&pairs) {
                        eprintln!("hypervisor: {e}");
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Ok(Self {
            nb: nb.to_path_buf(),
            moto,
            region,
            dir,
            hv,
            sync,
        })
    }

    pub fn image(&self, peer: u32) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}.img", self.region.volumes[peer as usize]))
    }

    /// A node for `instance_id` (which must exist in moto). Its /etc/hosts gives `dns_peer`'s
    /// name this instance's address and every other peer its placeholder.
    pub async fn node(&self, instance_id: &str, az: &str, dns_peer: Option<PeerIndex>) -> Result<Node> {
        let ip = self.region.instance_ip(instance_id).await?;
        let id = InstanceIdentity {
            instance_id: instance_id.into(),
            availability_zone: az.into(),
            region: REGION.into(),
            private_ip: ip,
        };
        let imds = Imds::start(id.clone()).await?;
        let root = self.dir.path().join(instance_id);
        for d in ["dev", "sys/block"] {
            std::fs::create_dir_all(root.join(d)).map_err(SandboxError::io(format!("mkdir {d}")))?;
        }
        let c = &self.region.cluster;
        let mut text = String::from("127.0.0.1 localhost\n");
        for p in c.peers() {
            let addr = if Some(p) == dns_peer {
                ip
            } else {
                self.region.placeholder(p)
            };
            text.push_str(&format!("{addr} {}\n", c.peer_host(p)));
        }
        let hosts = root.join("hosts");
        std::fs::write(&hosts, text).map_err(SandboxError::io("write hosts"))?;
        if let Ok(mut g) = self.hv.lock() {
            g.roots.insert(instance_id.into(), root.clone());
        }
        let mut spec = NodeSpec::new(
            &root,
            Names::Hosts(hosts.clone()),
            NodeEnv::new()
                .cloud(&self.moto.env())
                .region(&self.region)
                .node(c, &root, &imds.endpoint()),
        );
        spec.set(env::DETACH_GRACE_SECS, "1")
            .set(env::ATTACH_TIMEOUT_SECS, "30")
            .set(env::DEVICE_TIMEOUT_SECS, "10")
            .set(env::DNS_TIMEOUT_SECS, "5");
        Ok(Node {
            id,
            imds,
            data: spec.data_dir(),
            env_file: spec.env_file(),
            spec,
            hosts,
            root,
        })
    }

    /// The node of `peer`'s current live instance.
    pub async fn peer_node(&self, peer: u32) -> Result<Node> {
        let p = self.region.cluster.peer(peer)?;
        let id = self
            .region
            .live_instance(p)
            .await?
            .ok_or_else(|| SandboxError::Setup(format!("peer {peer} has no live instance")))?;
        self.node(&id, &zone_name(self.region.cluster.zone_of(p)), Some(p))
            .await
    }

    /// Boots `node`: `node-bootstrap prepare` in its own mount namespace, then `after` (a shell
    /// snippet, same namespace, `$DATA` set) if it succeeded. Returns (success, everything
    /// printed).
    pub fn boot(&self, node: &Node, after: &str, extra_env: &[(String, String)]) -> (bool, String) {
        let mut spec = node.spec.clone();
        for (k, v) in extra_env {
            spec.set(k, v.clone());
        }
        let mut cmd = spec.command(&format!("{} prepare; {after}", self.nb.display()));
        match cmd.output() {
            Ok(out) => {
                let log = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                (out.status.success(), log)
            }
            Err(e) => (false, format!("could not run unshare: {e}")),
        }
    }

    /// A peer's volume as moto describes it (through core's adapter).
    async fn describe_volume(&self, peer: u32) -> Result<Volume> {
        Ok(self
            .region
            .cloud
            .ec2
            .describe_volume(&self.region.volumes[peer as usize])
            .await?)
    }

    /// A volume's tags in moto.
    pub async fn volume_tags(&self, peer: u32) -> Result<Vec<(String, String)>> {
        Ok(self
            .describe_volume(peer)
            .await?
            .tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    /// (instance, state) of a volume's current attachment, if any.
    pub async fn attachment(&self, peer: u32) -> Result<Option<(String, String)>> {
        Ok(self
            .describe_volume(peer)
            .await?
            .active_attachments()
            .next()
            .map(|a| (a.instance_id.clone(), a.state.to_string())))
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.sync.abort();
        if let Ok(mut hv) = self.hv.lock() {
            hv.withdraw_all();
        }
    }
}

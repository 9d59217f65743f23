//! One typed observation of the region per pass, read through core's adapters (the same code the
//! Lambda and node-bootstrap use): the cluster's groups, their live instances, the cluster's
//! volumes and the cluster's A records. Every reconciler works from it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use steadfast_core::aws::{Groups, Instance, Instances, LifecycleState, Records, Volume, Volumes};
use steadfast_core::vocab::{Tags, TAG_CLUSTER};
use steadfast_core::{Cluster, PeerIndex};

use crate::error::{Result, SandboxError};
use crate::region::Cloud;
use crate::standins::moto::Changes;

/// A live instance of one of the cluster's groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveInstance {
    pub peer: PeerIndex,
    pub group: String,
    pub lifecycle_state: LifecycleState,
    pub ip: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// instance id -> where it lives.
    pub live: BTreeMap<String, LiveInstance>,
    pub volumes: Vec<Volume>,
    /// record name -> values.
    pub a_records: BTreeMap<String, Vec<String>>,
}

impl Observation {
    /// (volume id, instance id) of every attachment in state `attached`.
    pub fn attached(&self) -> Vec<(String, String)> {
        self.volumes
            .iter()
            .flat_map(|v| {
                v.attachments
                    .iter()
                    .filter(|a| a.state == steadfast_core::aws::AttachmentState::Attached)
                    .map(|a| (v.volume_id.clone(), a.instance_id.clone()))
            })
            .collect()
    }
}

/// Reads the region once: the groups and then their instances, alongside the volumes and the
/// records. Any failed call fails the whole observation: a pass is then skipped, never taken
/// for "nothing there".
pub async fn observe(cloud: &Cloud, cluster: &Cluster, zone_id: &str) -> Result<Observation> {
    Observer::new(Duration::ZERO)
        .observe(cloud, cluster, zone_id, Stale::ALL)
        .await
}

/// What a pass must read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stale {
    /// The groups and their instances.
    pub instances: bool,
    /// The volumes and their attachments.
    pub volumes: bool,
    /// The A records.
    pub records: bool,
}

impl Stale {
    pub const ALL: Stale = Stale {
        instances: true,
        volumes: true,
        records: true,
    };

    /// From two readings of the moto launcher's change counts (`None`: no earlier reading).
    pub fn between(before: Option<&Changes>, now: &Changes) -> Stale {
        match before {
            None => Stale::ALL,
            Some(b) => Stale {
                instances: now.since(b, &["instances"]),
                volumes: now.since(b, &["volumes"]),
                records: now.since(b, &["records"]),
            },
        }
    }
}

/// Observes pass after pass, reading again only what changed (the launcher counts writes by
/// what they touch: instances, volumes, records), and an instance's address only once (it never
/// changes). Everything is read again at least every `full_every`, whatever the change
/// counts say. Each pass is a handful of reads of moto, which serves every caller on one lock:
/// reads that cannot have changed would only slow the nodes and the Lambda down.
#[derive(Debug)]
pub struct Observer {
    last: Option<Observation>,
    ips: BTreeMap<String, Ipv4Addr>,
    last_full: Option<Instant>,
    full_every: Duration,
}

impl Observer {
    pub fn new(full_every: Duration) -> Self {
        Self {
            last: None,
            ips: BTreeMap::new(),
            last_full: None,
            full_every,
        }
    }

    /// One observation: what `stale` names read again, the rest as the last pass saw it.
    pub async fn observe(
        &mut self,
        cloud: &Cloud,
        cluster: &Cluster,
        zone_id: &str,
        stale: Stale,
    ) -> Result<Observation> {
        let full = self.last.is_none() || self.last_full.is_none_or(|t| t.elapsed() >= self.full_every);
        let stale = if full { Stale::ALL } else { stale };
        let volumes_filter = Tags::from_pairs([(TAG_CLUSTER, cluster.name().as_str())]);
        let records_suffix = format!("{}.", cluster.cluster_domain());
        let known = &self.ips;
        let (live, volumes, records) = tokio::try_join!(
            async {
                if !stale.instances {
                    return Ok(None);
                }
                Ok::<_, SandboxError>(Some(live_instances(cloud, cluster, known).await?))
            },
            async {
                if !stale.volumes {
                    return Ok(None);
                }
                Ok::<_, SandboxError>(Some(cloud.ec2.volumes_tagged(&volumes_filter).await?))
            },
            async {
                if !stale.records {
                    return Ok(None);
                }
                let records = cloud.records.list_a_records(zone_id, &records_suffix).await?;
                Ok::<_, SandboxError>(Some(records.into_iter().map(|r| (r.name, r.values)).collect()))
            },
        )?;
        let mut obs = self.last.take().unwrap_or_default();
        if let Some(live) = live {
            self.ips = live
                .iter()
                .filter_map(|(id, l)| l.ip.map(|ip| (id.clone(), ip)))
                .collect();
            obs.live = live;
        }
        if let Some(volumes) = volumes {
            obs.volumes = volumes;
        }
        if let Some(a_records) = records {
            obs.a_records = a_records;
        }
        if full {
            self.last_full = Some(Instant::now());
        }
        self.last = Some(obs.clone());
        Ok(obs)
    }
}

/// The live instances of the cluster's groups, with their addresses: those in `known`, and
/// one DescribeInstances for the rest.
async fn live_instances(
    cloud: &Cloud,
    cluster: &Cluster,
    known: &BTreeMap<String, Ipv4Addr>,
) -> Result<BTreeMap<String, LiveInstance>> {
    let groups = cloud.groups.cluster_groups(cluster.name()).await?;
    let mut live = BTreeMap::new();
    for g in &groups {
        let Ok(Some(peer)) = cluster.peer_from_tags(&g.tags) else {
            continue;
        };
        for i in g.live_instances() {
            live.insert(
                i.instance_id.clone(),
                LiveInstance {
                    peer,
                    group: g.name.clone(),
                    lifecycle_state: i.lifecycle_state.clone(),
                    ip: known.get(&i.instance_id).copied(),
                },
            );
        }
    }
    let unknown: Vec<String> = live
        .iter()
        .filter(|(_, l)| l.ip.is_none())
        .map(|(id, _)| id.clone())
        .collect();
    if !unknown.is_empty() {
        let instances: Vec<Instance> = cloud.ec2.describe_instances(&unknown).await?;
        for i in instances {
            if let Some(l) = live.get_mut(&i.instance_id) {
                l.ip = i.private_ip;
            }
        }
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(instances: u64, volumes: u64, records: u64, tags: u64) -> Changes {
        Changes {
            generation: instances + volumes + records + tags,
            counts: [
                ("instances", instances),
                ("volumes", volumes),
                ("records", records),
                ("tags", tags),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        }
    }

    #[test]
    fn only_what_changed_is_read_again() {
        let before = changes(3, 2, 1, 0);
        let cases = [
            (None, changes(0, 0, 0, 0), Stale::ALL),
            (
                Some(&before),
                changes(3, 2, 1, 0),
                Stale {
                    instances: false,
                    volumes: false,
                    records: false,
                },
            ),
            (
                Some(&before),
                changes(3, 3, 1, 0),
                Stale {
                    instances: false,
                    volumes: true,
                    records: false,
                },
            ),
            (
                Some(&before),
                changes(4, 2, 2, 0),
                Stale {
                    instances: true,
                    volumes: false,
                    records: true,
                },
            ),
            // A tag write touches nothing a reconciler reads.
            (
                Some(&before),
                changes(3, 2, 1, 5),
                Stale {
                    instances: false,
                    volumes: false,
                    records: false,
                },
            ),
        ];
        for (earlier, now, want) in cases {
            assert_eq!(Stale::between(earlier, &now), want, "{earlier:?} -> {now:?}");
        }
    }

    #[test]
    fn a_topic_missing_from_one_reading_counts_as_zero() {
        let mut now = changes(1, 0, 0, 0);
        now.counts.remove("volumes");
        assert!(!now.since(&changes(1, 0, 0, 0), &["volumes"]));
        assert!(now.since(&changes(0, 0, 0, 0), &["instances"]));
    }
}

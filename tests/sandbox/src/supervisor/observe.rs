//! One typed observation of the region per pass, read through core's adapters (the same code the
//! Lambda and node-bootstrap use): the cluster's groups, their live instances, the cluster's
//! volumes and the cluster's A records. Every reconciler works from it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use steadfast_core::aws::{Groups, Instance, Instances, LifecycleState, Records, Volume, Volumes};
use steadfast_core::vocab::{Tags, TAG_CLUSTER};
use steadfast_core::{Cluster, PeerIndex};

use crate::error::Result;
use crate::region::Cloud;

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

/// Reads the region once. Any failed call fails the whole observation: a pass is then skipped,
/// never taken for "nothing there".
pub async fn observe(cloud: &Cloud, cluster: &Cluster, zone_id: &str) -> Result<Observation> {
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
                    ip: None,
                },
            );
        }
    }
    let ids: Vec<String> = live.keys().cloned().collect();
    let instances: Vec<Instance> = cloud.ec2.describe_instances(&ids).await?;
    for i in instances {
        if let Some(l) = live.get_mut(&i.instance_id) {
            l.ip = i.private_ip;
        }
    }
    let volumes = cloud
        .ec2
        .volumes_tagged(&Tags::from_pairs([(TAG_CLUSTER, cluster.name().as_str())]))
        .await?;
    let a_records = cloud
        .records
        .list_a_records(zone_id, &format!("{}.", cluster.cluster_domain()))
        .await?
        .into_iter()
        .map(|r| (r.name, r.values))
        .collect();
    Ok(Observation {
        live,
        volumes,
        a_records,
    })
}

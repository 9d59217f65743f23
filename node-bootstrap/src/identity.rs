//! Who this instance is: IMDSv2 (aws-config's client; `AWS_EC2_METADATA_SERVICE_ENDPOINT`
//! overrides the endpoint), then its tags from EC2.

use std::net::Ipv4Addr;
use std::time::Duration;

use aws_config::imds::client::Client as Imds;
use steadfast_core::aws::Instances;
use steadfast_core::error::error_chain;
use steadfast_core::vocab::{TAG_CLUSTER, TAG_PEER};
use steadfast_core::{Cluster, ClusterName, PeerIndex};

use crate::config::NodeConfig;
use crate::error::{BootstrapError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub instance_id: String,
    pub availability_zone: String,
    pub region: String,
    pub private_ip: Ipv4Addr,
}

/// Reads the identity over IMDSv2 (token flow), each call with a deadline.
pub async fn from_imds(timeout: Duration) -> Result<Identity> {
    let imds = Imds::builder()
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .max_attempts(4)
        .build();
    let get = |path: &'static str| {
        let imds = imds.clone();
        async move {
            let v = tokio::time::timeout(timeout * 4, imds.get(path))
                .await
                .map_err(|_| BootstrapError::Imds(format!("{path}: no answer within {:?}", timeout * 4)))?
                .map_err(|e| BootstrapError::Imds(format!("{path}: {}", error_chain(&e))))?;
            Ok::<String, BootstrapError>(String::from(v).trim().to_string())
        }
    };
    let instance_id = get("/latest/meta-data/instance-id").await?;
    let availability_zone = get("/latest/meta-data/placement/availability-zone").await?;
    let region = get("/latest/meta-data/placement/region").await?;
    let ip = get("/latest/meta-data/local-ipv4").await?;
    let private_ip = ip
        .parse()
        .map_err(|_| BootstrapError::Imds(format!("local-ipv4 {ip:?} is not an IPv4 address")))?;
    if !instance_id.starts_with("i-") {
        return Err(BootstrapError::Imds(format!(
            "instance-id {instance_id:?} is not an instance id"
        )));
    }
    Ok(Identity {
        instance_id,
        availability_zone,
        region,
        private_ip,
    })
}

/// The instance's cluster and peer, from its `steadfast:cluster` / `steadfast:peer` tags.
pub async fn cluster_and_peer<I: Instances>(ec2: &I, id: &Identity, cfg: &NodeConfig) -> Result<(Cluster, PeerIndex)> {
    let found = ec2.describe_instances(std::slice::from_ref(&id.instance_id)).await?;
    let inst = found
        .into_iter()
        .find(|i| i.instance_id == id.instance_id)
        .ok_or_else(|| BootstrapError::Imds(format!("EC2 does not know instance {}", id.instance_id)))?;
    let missing = |tag| BootstrapError::MissingTag {
        instance: id.instance_id.clone(),
        tag,
    };
    let cluster_name = inst.tags.cluster().ok_or_else(|| missing(TAG_CLUSTER))?;
    let peer_value = inst.tags.peer().ok_or_else(|| missing(TAG_PEER))?;
    let cluster = Cluster::new(
        ClusterName::new(cluster_name)?,
        cfg.domain.clone(),
        cfg.peer_count,
        cfg.zone_count,
    )?;
    let peer = cluster.parse_peer_tag(peer_value)?;
    Ok((cluster, peer))
}

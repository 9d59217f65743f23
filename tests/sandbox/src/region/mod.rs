//! Stands the region up in moto the way the Terraform module does, from `steadfast_core`'s
//! vocabulary: a VPC `127.0.0.0/16`, subnet `127.0.<z+1>.0/24` per zone, a private hosted zone
//! with the static SRV records and A records seeded with the placeholders, a tagged volume per
//! peer in its zone, and one single-instance ASG (launch template, tags propagated, the
//! cluster's LAUNCHING hook) per peer.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_route53::types::RrType;
pub use steadfast_core::aws::sdk::Cloud;
use steadfast_core::aws::LifecycleResult;
use steadfast_core::aws::{Groups, Instances};
use steadfast_core::poll::{self, Backoff, Poll};
use steadfast_core::retry::Retry;
use steadfast_core::vocab::{
    events, PlaceholderNetwork, Tags, Transport, CLIENT_PORT, PEER_PORT, TAG_CLUSTER, TAG_PEER,
};
use steadfast_core::{Cluster, Error as CoreError, PeerIndex};

pub mod health;
pub mod terraform;
pub mod verbs;

use crate::error::{Result, SandboxError};
use crate::standins::moto::REGION;

fn aws<E, R>(service: &'static str, op: &'static str) -> impl FnOnce(aws_sdk_ec2::error::SdkError<E, R>) -> SandboxError
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    move |e| SandboxError::Aws(CoreError::from_sdk(service, op, e))
}

/// Availability zone `z` (0-based) of the local region: `us-east-1a`, `-1b`, ...
pub fn zone_name(z: u32) -> String {
    format!("{REGION}{}", (b'a' + (z % 26) as u8) as char)
}

/// The subnet CIDR of zone `z`: `127.0.<z+1>.0/24`.
pub fn subnet_cidr(z: u32) -> String {
    format!("127.0.{}.0/24", z + 1)
}

/// Raw SDK clients, for the setup calls no port covers (creating the region, terminating).
#[derive(Debug, Clone)]
pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub route53: aws_sdk_route53::Client,
    pub s3: aws_sdk_s3::Client,
}

impl Clients {
    pub fn new(conf: &SdkConfig, cloud: &Cloud) -> Self {
        Self {
            ec2: aws_sdk_ec2::Client::new(conf),
            autoscaling: aws_sdk_autoscaling::Client::new(conf),
            route53: aws_sdk_route53::Client::new(conf),
            s3: cloud.s3_client().clone(),
        }
    }
}

/// core's adapters over the region's endpoint: how the region is read (the same code the Lambda
/// and node-bootstrap read AWS with).
pub fn cloud(conf: &SdkConfig) -> Cloud {
    Cloud::from_conf(conf, Retry::with_deadline(Duration::from_secs(10)))
}

/// What [`Region::create`] made.
#[derive(Debug, Clone)]
pub struct Region {
    pub cluster: Cluster,
    pub transport: Transport,
    pub clients: Clients,
    pub cloud: Cloud,
    /// The network the seeded A records point into.
    pub placeholders: PlaceholderNetwork,
    pub vpc_id: String,
    /// Subnet id per zone index.
    pub subnets: Vec<String>,
    /// Hosted zone id without the `/hostedzone/` prefix.
    pub zone_id: String,
    pub launch_template: String,
    /// Volume id per peer index.
    pub volumes: Vec<String>,
    /// ASG name per peer index.
    pub groups: Vec<String>,
    /// The backup bucket and the KMS key its objects are encrypted with, as the module makes
    /// them (none when the options turn backups off).
    pub backups: Option<Backups>,
}

/// The cluster's backup bucket, as Terraform makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backups {
    pub bucket: String,
    pub kms_key: String,
}

#[derive(Debug, Clone)]
pub struct RegionOptions {
    pub volume_size_gib: i32,
    /// Create the ASGs (and so the instances). Off when a test wants to drive instances itself.
    pub groups: bool,
    /// Where the seeded A records point (loopback: the sandbox never sends traffic elsewhere).
    pub placeholders: PlaceholderNetwork,
    /// The LAUNCHING hook's heartbeat timeout and default result (the module's defaults: 300 s,
    /// CONTINUE; the moto launcher holds each new instance in `Pending:Wait` until its node
    /// completes the action).
    pub hook_timeout_secs: i32,
    pub hook_default_result: LifecycleResult,
    /// Make the backup bucket and its KMS key, and give nodes their names.
    pub backups: bool,
}

impl Default for RegionOptions {
    fn default() -> Self {
        Self {
            volume_size_gib: 1,
            groups: true,
            placeholders: crate::config::placeholders().unwrap_or_default(),
            hook_timeout_secs: 300,
            hook_default_result: LifecycleResult::Continue,
            backups: true,
        }
    }
}

impl Region {
    pub async fn create(conf: &SdkConfig, cluster: Cluster, transport: Transport, opts: RegionOptions) -> Result<Self> {
        let cloud = cloud(conf);
        let clients = Clients::new(conf, &cloud);
        let (vpc_id, subnets) = create_network(&clients, &cluster).await?;
        let zone_id = create_zone(&clients, &cluster, transport, &vpc_id, &opts.placeholders).await?;
        let volumes = create_volumes(&clients, &cluster, opts.volume_size_gib).await?;
        let launch_template = create_launch_template(&clients, &cluster).await?;
        let backups = match opts.backups {
            true => Some(create_backups(conf, &clients, &cluster).await?),
            false => None,
        };
        let mut groups = Vec::new();
        for p in cluster.peers() {
            if opts.groups {
                create_group(
                    &clients,
                    &cluster,
                    p,
                    &launch_template,
                    &subnets[cluster.zone_of(p) as usize],
                    &opts,
                )
                .await?;
            }
            groups.push(cluster.group_name(p));
        }
        Ok(Self {
            cluster,
            transport,
            clients,
            cloud,
            placeholders: opts.placeholders,
            vpc_id,
            subnets,
            zone_id,
            launch_template,
            volumes,
            groups,
            backups,
        })
    }

    /// Peer `peer`'s placeholder address.
    pub fn placeholder(&self, peer: PeerIndex) -> Ipv4Addr {
        self.placeholders.address(peer)
    }

    /// The live (pending or in-service) instance of a peer's ASG, if exactly one.
    pub async fn live_instance(&self, peer: PeerIndex) -> Result<Option<String>> {
        let groups = self
            .cloud
            .groups
            .describe_groups(std::slice::from_ref(&self.groups[peer.get() as usize]))
            .await?;
        let live: Vec<String> = groups
            .iter()
            .flat_map(|g| g.live_instances())
            .map(|i| i.instance_id.clone())
            .collect();
        Ok(if live.len() == 1 { live.into_iter().next() } else { None })
    }

    /// Waits until a peer's ASG holds one live instance other than `not` (at most `timeout`).
    pub async fn wait_live_instance(&self, peer: PeerIndex, not: Option<&str>, timeout: Duration) -> Result<String> {
        poll::until(timeout, Backoff::every(Duration::from_millis(100)), || async move {
            Ok::<_, SandboxError>(match self.live_instance(peer).await? {
                Some(id) if Some(id.as_str()) != not => Poll::Ready(id),
                _ => Poll::Pending("no new live instance".into()),
            })
        })
        .await?
        .map_err(|t| {
            SandboxError::Setup(format!(
                "{} has no new live instance after {:?}",
                self.groups[peer.get() as usize],
                t.waited
            ))
        })
    }

    /// An instance's private IP.
    pub async fn instance_ip(&self, instance_id: &str) -> Result<Ipv4Addr> {
        self.cloud
            .ec2
            .describe_instances(&[instance_id.to_string()])
            .await?
            .iter()
            .find(|i| i.instance_id == instance_id)
            .and_then(|i| i.private_ip)
            .ok_or_else(|| SandboxError::Setup(format!("{instance_id} has no private IP")))
    }

    /// Terminates a peer's instance through its ASG (desired capacity kept), as a lost node.
    pub async fn terminate(&self, instance_id: &str) -> Result<()> {
        self.clients
            .autoscaling
            .terminate_instance_in_auto_scaling_group()
            .instance_id(instance_id)
            .should_decrement_desired_capacity(false)
            .send()
            .await
            .map_err(aws("autoscaling", "TerminateInstanceInAutoScalingGroup"))?;
        Ok(())
    }

    /// Every A record of the zone: name (with trailing dot) -> values.
    pub async fn a_records(&self) -> Result<BTreeMap<String, Vec<String>>> {
        Ok(self
            .all_records()
            .await?
            .into_iter()
            .filter(|((_, ty), _)| *ty == RrType::A)
            .map(|((name, _), v)| (name, v))
            .collect())
    }

    /// Every SRV record of the zone: (name, value) pairs.
    pub async fn srv_records(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .all_records()
            .await?
            .into_iter()
            .filter(|((_, ty), _)| *ty == RrType::Srv)
            .flat_map(|((name, _), values)| values.into_iter().map(move |v| (name.clone(), v)))
            .collect())
    }

    /// Every record of the zone: (name, type) -> values.
    pub async fn all_records(&self) -> Result<BTreeMap<(String, RrType), Vec<String>>> {
        let out = self
            .clients
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .send()
            .await
            .map_err(aws("route53", "ListResourceRecordSets"))?;
        Ok(out
            .resource_record_sets()
            .iter()
            .map(|r| {
                (
                    (r.name().to_string(), r.r#type().clone()),
                    r.resource_records().iter().map(|v| v.value().to_string()).collect(),
                )
            })
            .collect())
    }

    /// A group of another cluster (or of none) in zone 0, for "not ours" tests.
    pub async fn create_foreign_group(&self, name: &str, cluster_tag: Option<&str>) -> Result<()> {
        self.create_extra_group(name, cluster_tag.map(|c| (c, "0")), false)
            .await
    }

    /// A group outside the region's own in zone 0: tagged `(cluster, peer)` when given, with the
    /// cluster's LAUNCHING hook when `hook` (its instance then waits in `Pending:Wait`).
    pub async fn create_extra_group(&self, name: &str, tags: Option<(&str, &str)>, hook: bool) -> Result<()> {
        use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, LifecycleHookSpecification, Tag as AsgTag};
        let mut req = self
            .clients
            .autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_name(&self.launch_template)
                    .version("$Latest")
                    .build(),
            )
            .min_size(1)
            .max_size(1)
            .desired_capacity(1)
            .vpc_zone_identifier(&self.subnets[0]);
        if hook {
            req = req.lifecycle_hook_specification_list(
                LifecycleHookSpecification::builder()
                    .lifecycle_hook_name(self.cluster.lifecycle_hook_name())
                    .lifecycle_transition(events::TRANSITION_LAUNCHING)
                    .heartbeat_timeout(300)
                    .default_result(LifecycleResult::Continue.as_str())
                    .build(),
            );
        }
        if let Some((c, peer)) = tags {
            for (k, v) in [(TAG_CLUSTER, c), (TAG_PEER, peer)] {
                req = req.tags(
                    AsgTag::builder()
                        .key(k)
                        .value(v)
                        .propagate_at_launch(true)
                        .resource_id(name)
                        .resource_type("auto-scaling-group")
                        .build(),
                );
            }
        }
        req.send().await.map_err(aws("autoscaling", "CreateAutoScalingGroup"))?;
        Ok(())
    }
}

/// The VPC `127.0.0.0/16` and one subnet per zone; returns (vpc id, subnet id per zone).
async fn create_network(clients: &Clients, cluster: &Cluster) -> Result<(String, Vec<String>)> {
    let vpc = clients
        .ec2
        .create_vpc()
        .cidr_block("127.0.0.0/16")
        .send()
        .await
        .map_err(aws("ec2", "CreateVpc"))?;
    let vpc_id = vpc
        .vpc()
        .and_then(|v| v.vpc_id())
        .ok_or_else(|| SandboxError::Setup("CreateVpc returned no id".into()))?
        .to_string();
    let mut subnets = Vec::new();
    for z in 0..cluster.zone_count() {
        let s = clients
            .ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(subnet_cidr(z))
            .availability_zone(zone_name(z))
            .send()
            .await
            .map_err(aws("ec2", "CreateSubnet"))?;
        subnets.push(
            s.subnet()
                .and_then(|s| s.subnet_id())
                .ok_or_else(|| SandboxError::Setup("CreateSubnet returned no id".into()))?
                .to_string(),
        );
    }
    Ok((vpc_id, subnets))
}

/// The private zone with the static SRV records and the seeded A records; returns its id.
async fn create_zone(
    clients: &Clients,
    cluster: &Cluster,
    transport: Transport,
    vpc_id: &str,
    placeholders: &PlaceholderNetwork,
) -> Result<String> {
    use aws_sdk_route53::types::{HostedZoneConfig, Vpc, VpcRegion};
    let hz = clients
        .route53
        .create_hosted_zone()
        .name(cluster.domain().as_str())
        .caller_reference(format!("steadfast-{}-{}", cluster.name(), std::process::id()))
        .vpc(
            Vpc::builder()
                .vpc_id(vpc_id)
                .vpc_region(VpcRegion::from(REGION))
                .build(),
        )
        .hosted_zone_config(
            HostedZoneConfig::builder()
                .private_zone(true)
                .comment("steadfast sandbox")
                .build(),
        )
        .send()
        .await
        .map_err(aws("route53", "CreateHostedZone"))?;
    let zone_id = hz
        .hosted_zone()
        .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
        .ok_or_else(|| SandboxError::Setup("CreateHostedZone returned no zone".into()))?;
    let mut changes = vec![
        rrset(
            &cluster.server_srv_name(transport),
            "SRV",
            300,
            cluster.srv_values(PEER_PORT),
        )?,
        rrset(
            &cluster.client_srv_name(transport),
            "SRV",
            300,
            cluster.srv_values(CLIENT_PORT),
        )?,
    ];
    for p in cluster.peers() {
        changes.push(rrset(
            &cluster.peer_record_name(p),
            "A",
            5,
            vec![placeholders.address(p).to_string()],
        )?);
    }
    // The client endpoint: Terraform's is an alias of the client NLB; the sandbox's load
    // balancer (standins::haproxy) listens on a fixed address.
    changes.push(rrset(
        &format!("{}.", cluster.client_endpoint()),
        "A",
        60,
        vec![crate::config::CLIENT_LB_ADDR.to_string()],
    )?);
    clients
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(
            aws_sdk_route53::types::ChangeBatch::builder()
                .set_changes(Some(changes))
                .build()
                .map_err(|e| SandboxError::Setup(e.to_string()))?,
        )
        .send()
        .await
        .map_err(aws("route53", "ChangeResourceRecordSets"))?;
    Ok(zone_id)
}

fn ec2_tags(tags: &Tags) -> Vec<aws_sdk_ec2::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// One tagged, encrypted gp3 volume per peer, in the peer's zone; returns their ids by peer.
async fn create_volumes(clients: &Clients, cluster: &Cluster, size_gib: i32) -> Result<Vec<String>> {
    use aws_sdk_ec2::types::{ResourceType, TagSpecification, VolumeType};
    let mut volumes = Vec::new();
    for p in cluster.peers() {
        let mut tags = cluster.peer_tags(p);
        tags.set("Name", &format!("{}-{}", cluster.name(), cluster.member_name(p)));
        let v = clients
            .ec2
            .create_volume()
            .availability_zone(zone_name(cluster.zone_of(p)))
            .size(size_gib)
            .volume_type(VolumeType::Gp3)
            .encrypted(true)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Volume)
                    .set_tags(Some(ec2_tags(&tags)))
                    .build(),
            )
            .send()
            .await
            .map_err(aws("ec2", "CreateVolume"))?;
        volumes.push(
            v.volume_id()
                .ok_or_else(|| SandboxError::Setup("CreateVolume returned no id".into()))?
                .to_string(),
        );
    }
    Ok(volumes)
}

/// The peers' launch template (any image moto lists); returns its name.
async fn create_launch_template(clients: &Clients, cluster: &Cluster) -> Result<String> {
    use aws_sdk_ec2::types::RequestLaunchTemplateData;
    let images = clients
        .ec2
        .describe_images()
        .send()
        .await
        .map_err(aws("ec2", "DescribeImages"))?;
    let image_id = images
        .images()
        .iter()
        .find_map(|i| i.image_id())
        .ok_or_else(|| SandboxError::Setup("moto lists no images".into()))?
        .to_string();
    let name = format!("{}-peer", cluster.name());
    clients
        .ec2
        .create_launch_template()
        .launch_template_name(&name)
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .image_id(image_id)
                .instance_type(aws_sdk_ec2::types::InstanceType::T4gSmall)
                .build(),
        )
        .send()
        .await
        .map_err(aws("ec2", "CreateLaunchTemplate"))?;
    Ok(name)
}

/// Peer `p`'s single-instance group in its zone's subnet, tags propagated, with the cluster's
/// LAUNCHING hook (given at creation, as Terraform's `initial_lifecycle_hook`, so the first
/// instance is held too).
async fn create_group(
    clients: &Clients,
    cluster: &Cluster,
    p: PeerIndex,
    template: &str,
    subnet: &str,
    opts: &RegionOptions,
) -> Result<()> {
    use aws_sdk_autoscaling::types::LifecycleHookSpecification;
    use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, Tag as AsgTag};
    let name = cluster.group_name(p);
    let tags: Vec<AsgTag> = cluster
        .peer_tags(p)
        .iter()
        .map(|(k, v)| {
            AsgTag::builder()
                .key(k)
                .value(v)
                .propagate_at_launch(true)
                .resource_id(&name)
                .resource_type("auto-scaling-group")
                .build()
        })
        .collect();
    clients
        .autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name(&name)
        .launch_template(
            LaunchTemplateSpecification::builder()
                .launch_template_name(template)
                .version("$Latest")
                .build(),
        )
        .min_size(1)
        .max_size(1)
        .desired_capacity(1)
        .vpc_zone_identifier(subnet)
        .set_tags(Some(tags))
        .lifecycle_hook_specification_list(
            LifecycleHookSpecification::builder()
                .lifecycle_hook_name(cluster.lifecycle_hook_name())
                .lifecycle_transition(events::TRANSITION_LAUNCHING)
                .heartbeat_timeout(opts.hook_timeout_secs)
                .default_result(opts.hook_default_result.as_str())
                .build(),
        )
        .send()
        .await
        .map_err(aws("autoscaling", "CreateAutoScalingGroup"))?;
    Ok(())
}

fn rrset(name: &str, ty: &str, ttl: i64, values: Vec<String>) -> Result<aws_sdk_route53::types::Change> {
    use aws_sdk_route53::types::{Change, ChangeAction, ResourceRecord, ResourceRecordSet, RrType};
    let err = |e: aws_sdk_route53::error::BuildError| SandboxError::Setup(e.to_string());
    let mut rs = ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::from(ty))
        .ttl(ttl);
    for v in values {
        rs = rs.resource_records(ResourceRecord::builder().value(v).build().map_err(err)?);
    }
    Change::builder()
        .action(ChangeAction::Upsert)
        .resource_record_set(rs.build().map_err(err)?)
        .build()
        .map_err(err)
}

/// The sandbox's backup bucket for `cluster`.
pub fn backup_bucket(cluster: &Cluster) -> String {
    format!("{}-backups", cluster.name())
}

/// The backup bucket (private, versioned, SSE-KMS by default, as the module makes it) and a KMS
/// key of its own, through moto's KMS JSON API.
async fn create_backups(conf: &SdkConfig, clients: &Clients, cluster: &Cluster) -> Result<Backups> {
    let port: u16 = conf
        .endpoint_url()
        .and_then(|u| u.rsplit(':').next())
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .ok_or_else(|| SandboxError::Setup("the moto endpoint has no port".into()))?;
    let body = serde_json::json!({"Description": format!("steadfast {} backups", cluster.name())}).to_string();
    let auth =
        "AWS4-HMAC-SHA256 Credential=testing/20261202/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0";
    let (status, text) = crate::standins::http::request(
        port,
        "POST",
        "/",
        &[
            ("X-Amz-Target", "TrentService.CreateKey"),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Authorization", auth),
        ],
        &body,
        Duration::from_secs(10),
    )
    .await?;
    let key: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let kms_key = key["KeyMetadata"]["Arn"]
        .as_str()
        .filter(|_| status == 200)
        .ok_or_else(|| SandboxError::Setup(format!("KMS CreateKey answered {status}: {text}")))?
        .to_string();
    let bucket = backup_bucket(cluster);
    clients
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .map_err(aws("s3", "CreateBucket"))?;
    Ok(Backups { bucket, kms_key })
}

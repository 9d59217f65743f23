//! EC2: [`Instances`] and [`Volumes`].

use std::net::Ipv4Addr;

use aws_sdk_ec2::types::{Filter, Tag};

use super::{call, tags};
use crate::aws::{Attachment, AttachmentState, Instance, InstanceState, Instances, Volume, VolumeState, Volumes};
use crate::error::{Error, Result};
use crate::retry::Retry;
use crate::vocab::Tags;

const SERVICE: &str = "ec2";
/// The operations this adapter pages through, each named once for its calls and its errors.
const DESCRIBE_VOLUMES: &str = "DescribeVolumes";
const DESCRIBE_INSTANCES: &str = "DescribeInstances";

#[derive(Debug, Clone)]
pub struct Ec2 {
    client: aws_sdk_ec2::Client,
    retry: Retry,
}

impl Ec2 {
    pub fn new(client: aws_sdk_ec2::Client, retry: Retry) -> Self {
        Self { client, retry }
    }

    /// The same client with another retry policy (e.g. one shortened to an invocation's deadline).
    pub fn with_retry(self, retry: Retry) -> Self {
        Self { retry, ..self }
    }

    async fn describe_volumes(&self, filters: Vec<Filter>, ids: &[&str]) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = call(&self.retry, SERVICE, DESCRIBE_VOLUMES, || {
                self.client
                    .describe_volumes()
                    .set_filters((!filters.is_empty()).then(|| filters.clone()))
                    .set_volume_ids((!ids.is_empty()).then(|| ids.iter().map(|s| s.to_string()).collect()))
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
            for v in page.volumes() {
                out.push(volume(v)?);
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }
}

fn volume(v: &aws_sdk_ec2::types::Volume) -> Result<Volume> {
    let (Some(id), Some(az)) = (v.volume_id(), v.availability_zone()) else {
        return Err(Error::Incomplete {
            operation: DESCRIBE_VOLUMES,
            field: "VolumeId/AvailabilityZone",
        });
    };
    Ok(Volume {
        volume_id: id.to_string(),
        availability_zone: az.to_string(),
        size_gib: v.size().unwrap_or_default(),
        state: VolumeState::from_aws(v.state().map(|s| s.as_str()).unwrap_or_default()),
        tags: tags(v.tags(), Tag::key, Tag::value),
        attachments: v
            .attachments()
            .iter()
            .filter_map(|a| {
                Some(Attachment {
                    instance_id: a.instance_id()?.to_string(),
                    state: AttachmentState::from_aws(a.state().map(|s| s.as_str()).unwrap_or_default()),
                    device: a.device().map(str::to_string),
                })
            })
            .collect(),
    })
}

fn instance(i: &aws_sdk_ec2::types::Instance) -> Result<Instance> {
    let Some(id) = i.instance_id() else {
        return Err(Error::Incomplete {
            operation: DESCRIBE_INSTANCES,
            field: "InstanceId",
        });
    };
    let private_ip = match i.private_ip_address() {
        Some(s) if !s.is_empty() => Some(s.parse::<Ipv4Addr>().map_err(|_| Error::Invalid {
            what: "private IP address",
            value: s.to_string(),
            reason: format!("EC2 returned it for {id}; it is not an IPv4 address"),
        })?),
        _ => None,
    };
    Ok(Instance {
        instance_id: id.to_string(),
        state: InstanceState::from_aws(i.state().and_then(|s| s.name()).map(|n| n.as_str()).unwrap_or_default()),
        private_ip,
        availability_zone: i.placement().and_then(|p| p.availability_zone()).map(str::to_string),
        tags: tags(i.tags(), Tag::key, Tag::value),
    })
}

impl Instances for Ec2 {
    /// Through the `instance-id` filter, not `InstanceIds`: an id EC2 cannot show yet (a new
    /// instance, eventual consistency) is left out instead of failing the whole call with
    /// `InvalidInstanceID.NotFound`. Not found is not dead.
    async fn describe_instances(&self, ids: &[String]) -> Result<Vec<Instance>> {
        let mut out = Vec::new();
        // EC2 takes at most 200 values per filter.
        for chunk in ids.chunks(200) {
            let filter = Filter::builder()
                .name("instance-id")
                .set_values(Some(chunk.to_vec()))
                .build();
            let mut token: Option<String> = None;
            loop {
                let page = call(&self.retry, SERVICE, DESCRIBE_INSTANCES, || {
                    self.client
                        .describe_instances()
                        .filters(filter.clone())
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
                for i in page.reservations().iter().flat_map(|r| r.instances()) {
                    out.push(instance(i)?);
                }
                match page.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        Ok(out)
    }
}

impl Volumes for Ec2 {
    async fn volumes_tagged(&self, wanted: &Tags) -> Result<Vec<Volume>> {
        let filters = wanted
            .iter()
            .map(|(k, v)| Filter::builder().name(format!("tag:{k}")).values(v).build())
            .collect();
        let vols = self.describe_volumes(filters, &[]).await?;
        // Check the tags ourselves too: a lax filter must never hand us a foreign volume.
        Ok(vols.into_iter().filter(|v| v.tags.contains_all(wanted)).collect())
    }

    async fn describe_volume(&self, volume_id: &str) -> Result<Volume> {
        self.describe_volumes(Vec::new(), &[volume_id])
            .await?
            .into_iter()
            .find(|v| v.volume_id == volume_id)
            .ok_or_else(|| Error::NotFound {
                what: "volume",
                detail: volume_id.to_string(),
            })
    }

    async fn attach_volume(&self, volume_id: &str, instance_id: &str, device: &str) -> Result<()> {
        call(&self.retry, SERVICE, "AttachVolume", || {
            self.client
                .attach_volume()
                .volume_id(volume_id)
                .instance_id(instance_id)
                .device(device)
                .send()
        })
        .await?;
        Ok(())
    }

    async fn detach_volume(&self, volume_id: &str, instance_id: &str, force: bool) -> Result<()> {
        call(&self.retry, SERVICE, "DetachVolume", || {
            self.client
                .detach_volume()
                .volume_id(volume_id)
                .instance_id(instance_id)
                .force(force)
                .send()
        })
        .await?;
        Ok(())
    }

    async fn tag_volume(&self, volume_id: &str, key: &str, value: &str) -> Result<()> {
        call(&self.retry, SERVICE, "CreateTags", || {
            self.client
                .create_tags()
                .resources(volume_id)
                .tags(Tag::builder().key(key).value(value).build())
                .send()
        })
        .await?;
        Ok(())
    }

    async fn untag_volume(&self, volume_id: &str, key: &str) -> Result<()> {
        call(&self.retry, SERVICE, "DeleteTags", || {
            self.client
                .delete_tags()
                .resources(volume_id)
                .tags(Tag::builder().key(key).build())
                .send()
        })
        .await?;
        Ok(())
    }
}

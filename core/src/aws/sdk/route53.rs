//! Route 53: [`Records`] over `ListResourceRecordSets` and `ChangeResourceRecordSets`.

use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};

use super::call;
use crate::aws::Records;
use crate::error::{Error, Result};
use crate::records::{CurrentRecord, RecordChange};
use crate::retry::Retry;

const SERVICE: &str = "route53";

#[derive(Debug, Clone)]
pub struct Route53 {
    client: aws_sdk_route53::Client,
    retry: Retry,
}

impl Route53 {
    pub fn new(client: aws_sdk_route53::Client, retry: Retry) -> Self {
        Self { client, retry }
    }

    /// The same client with another retry policy (e.g. one shortened to an invocation's deadline).
    pub fn with_retry(self, retry: Retry) -> Self {
        Self { retry, ..self }
    }
}

fn build_error(what: &'static str) -> impl Fn(aws_sdk_route53::error::BuildError) -> Error {
    move |e| Error::Invalid {
        what,
        value: String::new(),
        reason: e.to_string(),
    }
}

impl Records for Route53 {
    async fn list_a_records(&self, zone_id: &str, suffix: &str) -> Result<Vec<CurrentRecord>> {
        let suffix = suffix.trim_end_matches('.').to_ascii_lowercase();
        let mut out = Vec::new();
        let mut start: Option<(String, RrType)> = None;
        loop {
            let page = call(&self.retry, SERVICE, "ListResourceRecordSets", || {
                let mut req = self.client.list_resource_record_sets().hosted_zone_id(zone_id);
                if let Some((name, ty)) = &start {
                    req = req.start_record_name(name).start_record_type(ty.clone());
                }
                req.send()
            })
            .await?;
            for rr in page.resource_record_sets() {
                if *rr.r#type() != RrType::A {
                    continue;
                }
                let name = rr.name().to_ascii_lowercase();
                let bare = name.trim_end_matches('.');
                if bare == suffix || bare.ends_with(&format!(".{suffix}")) {
                    out.push(CurrentRecord {
                        name: rr.name().to_string(),
                        values: rr.resource_records().iter().map(|r| r.value().to_string()).collect(),
                        ttl: rr.ttl(),
                    });
                }
            }
            match (page.is_truncated(), page.next_record_name(), page.next_record_type()) {
                (true, Some(name), Some(ty)) => start = Some((name.to_string(), ty.clone())),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn change_a_records(&self, zone_id: &str, changes: &[RecordChange], comment: &str) -> Result<String> {
        let mut batch = ChangeBatch::builder().comment(comment);
        for ch in changes {
            let rrset = ResourceRecordSet::builder()
                .name(&ch.name)
                .r#type(RrType::A)
                .ttl(ch.ttl)
                .resource_records(
                    ResourceRecord::builder()
                        .value(ch.ip.to_string())
                        .build()
                        .map_err(build_error("resource record"))?,
                )
                .build()
                .map_err(build_error("record set"))?;
            batch = batch.changes(
                Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(rrset)
                    .build()
                    .map_err(build_error("change"))?,
            );
        }
        let batch = batch.build().map_err(build_error("change batch"))?;
        let out = call(&self.retry, SERVICE, "ChangeResourceRecordSets", || {
            self.client
                .change_resource_record_sets()
                .hosted_zone_id(zone_id)
                .change_batch(batch.clone())
                .send()
        })
        .await?;
        Ok(out.change_info().map(|c| c.id().to_string()).unwrap_or_default())
    }
}

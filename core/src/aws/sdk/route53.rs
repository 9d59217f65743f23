//! Route 53: [`Records`] over `ListResourceRecordSets` and `ChangeResourceRecordSets`.

use std::time::Instant;

use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};

use super::call;
use crate::aws::Records;
use crate::aws::{CurrentRecord, RecordChange};
use crate::error::{Error, Result};
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

/// One change of an A record set.
fn change(action: ChangeAction, name: &str, ttl: Option<i64>, values: &[String]) -> Result<Change> {
    let mut rrset = ResourceRecordSet::builder().name(name).r#type(RrType::A).set_ttl(ttl);
    for v in values {
        rrset = rrset.resource_records(
            ResourceRecord::builder()
                .value(v)
                .build()
                .map_err(build_error("resource record"))?,
        );
    }
    Change::builder()
        .action(action)
        .resource_record_set(rrset.build().map_err(build_error("record set"))?)
        .build()
        .map_err(build_error("change"))
}

fn build_error(what: &'static str) -> impl Fn(aws_sdk_route53::error::BuildError) -> Error {
    move |e| Error::Invalid {
        what,
        value: String::new(),
        reason: e.to_string(),
    }
}

impl Records for Route53 {
    async fn list_a_records(&self, zone_id: &str, domain: &str) -> Result<Vec<CurrentRecord>> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let inside = |name: &str| {
            let bare = name.trim_end_matches('.').to_ascii_lowercase();
            bare == domain || bare.ends_with(&format!(".{domain}"))
        };
        let mut out = Vec::new();
        // Route 53 lists in the order of reversed labels, so everything under `domain` comes
        // together, right after `domain` itself.
        let mut start: (String, Option<RrType>) = (format!("{domain}."), None);
        loop {
            let page = call(&self.retry, SERVICE, "ListResourceRecordSets", || {
                self.client
                    .list_resource_record_sets()
                    .hosted_zone_id(zone_id)
                    .start_record_name(&start.0)
                    .set_start_record_type(start.1.clone())
                    .send()
            })
            .await?;
            for rr in page.resource_record_sets() {
                if !inside(rr.name()) {
                    return Ok(out);
                }
                if *rr.r#type() == RrType::A {
                    out.push(CurrentRecord {
                        name: rr.name().to_string(),
                        values: rr.resource_records().iter().map(|r| r.value().to_string()).collect(),
                        ttl: rr.ttl(),
                    });
                }
            }
            match (page.is_truncated(), page.next_record_name(), page.next_record_type()) {
                (true, Some(name), ty) if inside(name) => start = (name.to_string(), ty.cloned()),
                _ => return Ok(out),
            }
        }
    }

    async fn change_a_records(
        &self,
        zone_id: &str,
        changes: &[RecordChange],
        comment: &str,
        fresh_until: Instant,
    ) -> Result<String> {
        let mut batch = ChangeBatch::builder().comment(comment);
        for ch in changes {
            if let Some(prev) = &ch.previous {
                batch = batch.changes(change(ChangeAction::Delete, &prev.name, prev.ttl, &prev.values)?);
            }
            batch = batch.changes(change(
                ChangeAction::Create,
                &ch.name,
                Some(ch.ttl),
                &[ch.ip.to_string()],
            )?);
        }
        let batch = batch.build().map_err(build_error("change batch"))?;
        let until = self.retry.until.map_or(fresh_until, |u| u.min(fresh_until));
        let retry = self.retry.until(until);
        let out = call(&retry, SERVICE, "ChangeResourceRecordSets", || {
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

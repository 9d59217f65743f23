//! TLS under load: every certificate renewed by its own timer, and the CA rotated.

use std::time::Duration;

use steadfast_core::poll::{self, Backoff, Poll};
use steadfast_core::Cluster;

use super::{Ctx, Inject, Injected};
use crate::error::{Result, SandboxError};
use crate::region::verbs;

/// Every peer's certificate replaced by its own TLS timer (the region runs with a short
/// validity for this: the spec's environment), while the load runs.
pub fn renewal<'a>(c: &'a Ctx<'a>) -> Inject<'a> {
    Box::pin(async move {
        let before = serials(c.cluster)?;
        let renewed = poll::until(c.settle.timeout, Backoff::every(Duration::from_millis(500)), || async {
            let now = serials(c.cluster)?;
            let left: Vec<String> = now
                .iter()
                .zip(&before)
                .filter(|(n, b)| n == b)
                .map(|(n, _)| n.0.to_string())
                .collect();
            Ok::<_, SandboxError>(if left.is_empty() {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("not yet renewed: peer {}", left.join(", ")))
            })
        })
        .await?;
        renewed.map_err(|t| SandboxError::Setup(format!("certificates not renewed in time: {}", t.last)))?;
        c.marks.mark("every peer's certificate renewed");
        Ok(Injected::default())
    })
}

/// `steadfast ca rotate`, as an operator runs it, in its three stops. Between them the load's
/// clients do what an application's operator must: take the new bundle once both CAs are
/// trusted, and a certificate from the new CA before the old one is dropped.
pub fn rotation<'a>(c: &'a Ctx<'a>) -> Inject<'a> {
    Box::pin(async move {
        let op = crate::operator::current().await?;
        verbs::ca_rotate(c.cluster, "trust-both").await?;
        c.marks.mark("every peer trusts both CAs");
        op.refresh().await?;
        verbs::ca_rotate(c.cluster, "reissued").await?;
        c.marks.mark("every certificate is from the new CA");
        op.refresh().await?;
        verbs::ca_rotate(c.cluster, "done").await?;
        c.marks.mark("the old CA is dropped");
        Ok(Injected::default())
    })
}

/// Every peer's certificate serial, as its node's TLS directory holds it.
fn serials(cluster: &Cluster) -> Result<Vec<(u32, String)>> {
    cluster
        .peers()
        .map(|p| {
            let n = verbs::node(p)?;
            let pem = std::fs::read_to_string(n.root.join("tls/peer.pem"))
                .map_err(SandboxError::io(format!("peer-{p}'s certificate")))?;
            let info = steadfast_core::tls::CertInfo::parse(&pem)
                .map_err(|e| SandboxError::Setup(format!("peer-{p}'s certificate: {e}")))?;
            Ok((p.get(), info.serial))
        })
        .collect()
}

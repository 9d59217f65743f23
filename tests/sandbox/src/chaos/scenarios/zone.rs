//! A zone at a time: lost, lost with one more node, frozen, lost while the APIs throttle.

use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::json;

use super::{terminate_all, zone_plus, Ctx, Inject, Injected};
use crate::region::verbs;

/// The leader's zone loses power.
pub fn whole<'a>(c: &'a Ctx<'a>) -> Inject<'a> {
    Box::pin(async move {
        terminate_all(&zone_plus(c.cluster, 0, 0).await, true, c.marks).await?;
        Ok(Injected::default())
    })
}

/// The leader's zone and one more node lose power: 4 of 9, what the design survives.
pub fn plus_one<'a>(c: &'a Ctx<'a>) -> Inject<'a> {
    Box::pin(async move {
        terminate_all(&zone_plus(c.cluster, 0, 1).await, true, c.marks).await?;
        Ok(Injected::default())
    })
}

/// A zone's nodes frozen (SIGSTOP to node-bootstrap and etcd) for 30 s, then thawed.
pub fn freeze<'a>(c: &'a Ctx<'a>) -> Inject<'a> {
    Box::pin(async move {
        let zone = zone_plus(c.cluster, 1, 0).await;
        for p in &zone {
            verbs::signal_node(*p, Signal::SIGSTOP)?;
        }
        c.marks.mark("SIGSTOP zone");
        tokio::time::sleep(Duration::from_secs(30)).await;
        for p in &zone {
            verbs::signal_node(*p, Signal::SIGCONT)?;
        }
        c.marks.mark("SIGCONT zone");
        Ok(Injected::default())
    })
}

/// Route 53 and EC2 throttle most calls for a minute while a zone is lost.
pub fn throttled<'a>(c: &'a Ctx<'a>) -> Inject<'a> {
    Box::pin(async move {
        verbs::moto_admin(
            "faults",
            &json!({"throttle": {"route53": 0.8, "ec2": 0.8}, "seconds": 60,
                    "exempt_access_keys": [crate::config::SUPERVISOR_KEY]}),
        )
        .await?;
        c.marks.mark("Route 53 and EC2 throttle 80% of calls for 60 s");
        terminate_all(&zone_plus(c.cluster, 2, 0).await, true, c.marks).await?;
        Ok(Injected::default())
    })
}

//! The EventBridge stand-in: delivers to peer-dns (under `cargo lambda watch`) the launch
//! lifecycle action and launch-successful events of every new instance, and the sweep on its
//! schedule, after the timing profile's delivery latency; a failed invocation is retried twice,
//! as Lambda's asynchronous invocation does. Events are built by
//! `steadfast_core::vocab::eventbridge`, as AWS shapes them.

use std::time::{Duration, Instant};

use serde_json::Value;
use steadfast_core::vocab::eventbridge::{self, Origin};
use steadfast_core::Cluster;

use super::event_log::{rfc3339_now, Event, EventLog};
use super::fleet::Launched;
use crate::profile::Profile;
use crate::standins::http;
use crate::standins::lambda::FUNCTION;
use crate::standins::moto::REGION;

#[derive(Debug)]
pub struct EventBridge {
    courier: Courier,
    hook: String,
    /// The sweep rule's name (the scheduled events carry it, as Terraform's rule does).
    sweep_rule: String,
    sweep_every: Duration,
    last_sweep: Instant,
}

fn origin() -> Origin {
    Origin {
        region: REGION.into(),
        time: rfc3339_now(),
        ..Origin::default()
    }
}

impl EventBridge {
    pub fn new(port: u16, events: EventLog, cluster: &Cluster, sweep_every: Duration, profile: &Profile) -> Self {
        Self {
            courier: Courier {
                port,
                events,
                delay: profile.event_delivery,
                retries: profile.event_retries,
            },
            hook: cluster.lifecycle_hook_name(),
            sweep_rule: cluster.sweep_rule_name(),
            sweep_every,
            last_sweep: Instant::now(),
        }
    }

    /// The two launch events of each new instance, in order, in the background.
    pub fn launched(&self, new: &[Launched]) {
        for l in new {
            let batch = [
                eventbridge::launch_lifecycle_action(&origin(), &l.group, &l.instance_id, &self.hook),
                eventbridge::launch_successful(&origin(), &l.group, &l.instance_id),
            ];
            let (courier, peer, id) = (self.courier.clone(), l.peer.get(), l.instance_id.clone());
            tokio::spawn(async move {
                for ev in batch {
                    courier.deliver(ev, Some(peer), Some(&id)).await;
                }
            });
        }
    }

    /// The sweep, when it is due.
    pub fn tick(&mut self) {
        if self.last_sweep.elapsed() >= self.sweep_every {
            self.last_sweep = Instant::now();
            let courier = self.courier.clone();
            let rule = self.sweep_rule.clone();
            tokio::spawn(async move {
                courier
                    .deliver(eventbridge::scheduled(&origin(), &rule), None, None)
                    .await
            });
        }
    }
}

/// Delivers events as EventBridge and Lambda's asynchronous invocation do: after the delivery
/// latency, retried twice when the function fails.
#[derive(Debug, Clone)]
struct Courier {
    port: u16,
    events: EventLog,
    delay: Duration,
    retries: [Duration; 2],
}

impl Courier {
    async fn deliver(&self, event: Value, peer: Option<u32>, instance: Option<&str>) {
        tokio::time::sleep(self.delay).await;
        for wait in std::iter::once(None).chain(self.retries.iter().map(Some)) {
            if let Some(w) = wait {
                tokio::time::sleep(*w).await;
            }
            if self.once(event.clone(), peer, instance).await {
                return;
            }
        }
    }

    /// One invocation, logged; whether the function succeeded.
    async fn once(&self, event: Value, peer: Option<u32>, instance: Option<&str>) -> bool {
        let kind = event["detail-type"].as_str().unwrap_or_default().to_string();
        let t0 = Instant::now();
        let r = http::request(
            self.port,
            "POST",
            &format!("/2015-03-31/functions/{FUNCTION}/invocations"),
            &[],
            &event.to_string(),
            Duration::from_secs(60),
        )
        .await;
        let ms = t0.elapsed().as_millis() as u64;
        let ok = matches!(r, Ok((200, _)));
        self.events.emit(match r {
            Ok((status, body)) => Event::EventDelivered {
                event: kind,
                peer,
                instance_id: instance.map(str::to_string),
                status,
                ms,
                outcome: serde_json::from_str(&body).unwrap_or(Value::String(body)),
            },
            Err(e) => Event::EventFailed {
                event: kind,
                peer,
                instance_id: instance.map(str::to_string),
                ms,
                error: e.to_string(),
            },
        });
        ok
    }
}

//! Timing profiles of the local region. `sandbox`: the stand-ins as fast as they are. `aws`: the
//! stand-ins add the delays a real region adds, each a knob (`STEADFAST_AWS_*` variables) whose
//! default comes with its source, so a recovery can be split into the cloud's share and ours.

use std::time::Duration;

use serde::Serialize;

use crate::error::{Result, SandboxError};

/// One delay the `aws` profile adds, and where its default comes from.
#[derive(Debug, Clone, Serialize)]
pub struct Knob {
    pub name: &'static str,
    pub env: &'static str,
    pub secs: f64,
    pub what: &'static str,
    pub source: &'static str,
}

/// The delays of a profile.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub name: &'static str,
    /// An instance's launch until its user-data runs (the node starts).
    pub boot: Duration,
    /// The install script (download and install the binaries, start the units).
    pub install: Duration,
    /// AttachVolume until the attachment is `attached` (the moto launcher's knob).
    pub attach: Duration,
    /// A Route 53 change until resolvers answer it (the DNS mirror applies it this late).
    pub dns_propagation: Duration,
    /// An event until EventBridge has delivered it to the function.
    pub event_delivery: Duration,
    /// A terminated instance until its group launches the replacement (the launcher's knob).
    pub replacement: Duration,
    /// A terminating instance stays `shutting-down`, its volumes attached, this long.
    pub shutting_down: Duration,
    /// Lambda's asynchronous retries of a failed invocation (EventBridge -> Lambda async).
    pub event_retries: [Duration; 2],
    pub knobs: Vec<Knob>,
}

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v)
}

/// `(env, default, what, source)` of the `aws` profile's delays, in the order of [`Profile`].
const AWS: [(&str, &str, f64, &str, &str); 7] = [
    (
        "boot",
        "STEADFAST_AWS_BOOT_SECS",
        AWS_BOOT_SECS,
        "instance launch until its user-data runs",
        AWS_BOOT_SOURCE,
    ),
    (
        "install",
        "STEADFAST_AWS_INSTALL_SECS",
        AWS_INSTALL_SECS,
        "the install script: two binaries from S3 in-region, the units started",
        AWS_INSTALL_SOURCE,
    ),
    (
        "attach",
        "STEADFAST_AWS_ATTACH_SECS",
        AWS_ATTACH_SECS,
        "AttachVolume until the attachment is attached",
        AWS_ATTACH_SOURCE,
    ),
    (
        "dns_propagation",
        "STEADFAST_AWS_DNS_SECS",
        AWS_DNS_SECS,
        "a Route 53 change until the resolvers answer it (INSYNC)",
        AWS_DNS_SOURCE,
    ),
    (
        "event_delivery",
        "STEADFAST_AWS_EVENT_SECS",
        AWS_EVENT_SECS,
        "an Auto Scaling event until EventBridge has invoked the function",
        AWS_EVENT_SOURCE,
    ),
    (
        "replacement",
        "STEADFAST_AWS_REPLACEMENT_SECS",
        AWS_REPLACEMENT_SECS,
        "a terminated instance until its group launches the replacement",
        AWS_REPLACEMENT_SOURCE,
    ),
    (
        "shutting_down",
        "STEADFAST_AWS_SHUTTING_DOWN_SECS",
        AWS_SHUTTING_DOWN_SECS,
        "a terminating instance stays shutting-down, its volumes attached",
        AWS_SHUTTING_DOWN_SOURCE,
    ),
];

// The defaults and their sources (also in docs/chaos.md's profile table).
const AWS_BOOT_SECS: f64 = 20.0;
const AWS_BOOT_SOURCE: &str = "measured: RunInstances to a booted AL2023 guest 22.6-25.8 s end to end, an upper bound \
(brevdev/ec2-coldboot-research, docs/cold-baseline-results.md); c5.xlarge API 1.5 s + pending->running 4.9 s + boot \
(daemonology.net/blog/2021-08-12-EC2-boot-time-benchmarking.html); AL2023 cloud-final at ~8 s of uptime";
const AWS_INSTALL_SECS: f64 = 2.0;
const AWS_INSTALL_SOURCE: &str =
    "derived, not measured: S3 small-object GET medians in the tens of ms and ~85-90 MB/s \
per connection (AWS whitepaper 's3-optimizing-performance-best-practices', Timeouts and Retries; S3 user guide, \
optimizing-performance-design-patterns) for two binaries, plus unpacking and starting the units";
const AWS_ATTACH_SECS: f64 = 5.0;
const AWS_ATTACH_SOURCE: &str = "'EBS volumes typically take ... 5 seconds to attach' (aws/karpenter-provider-aws, \
designs/statefulset-disruption.md, by an EBS CSI engineer); Kubernetes PR #84181 measured a 3.7-4.1 s average";
const AWS_DNS_SECS: f64 = 30.0;
const AWS_DNS_SOURCE: &str = "'Changes generally propagate to all Route 53 name servers within 60 seconds' \
(docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-editing.html: an upper bound); typical \
10-30 s reported (openshift/verification-tests PR #1630); no published measurement for private zones";
const AWS_EVENT_SECS: f64 = 0.15;
const AWS_EVENT_SOURCE: &str = "EventBridge to an async Lambda invocation: p50 148 ms, p90 241 ms, p99 387 ms \
(bitesizedserverless.com/bite/serverless-messaging-latency-compared/, Feb 2023); Auto Scaling events are \
'near real time' (no figure published)";
const AWS_REPLACEMENT_SECS: f64 = 30.0;
const AWS_REPLACEMENT_SOURCE: &str = "Auto Scaling activity logs: 14 s from a capacity change to the launch, 32-39 s \
from an unhealthy mark to the replacement (convox/rack issue #2724, PR #759); AWS documents no interval";
const AWS_SHUTTING_DOWN_SECS: f64 = 60.0;
const AWS_SHUTTING_DOWN_SOURCE: &str = "volumes stay attached until the old instance terminates: '1 minute for \
m5a.large, up to 15 minutes for certain GPU/Windows instances' (aws/karpenter-provider-aws, \
designs/statefulset-disruption.md)";

/// The longest a terminating instance waits for its node to report that it is down (the fleet
/// reports within the node's 5 s SIGTERM-to-SIGKILL window).
pub const GUEST_SHUTDOWN_CAP: Duration = Duration::from_secs(30);

impl Profile {
    /// The stand-ins as fast as they are.
    pub fn sandbox() -> Self {
        Self {
            name: "sandbox",
            boot: Duration::ZERO,
            install: Duration::ZERO,
            attach: Duration::ZERO,
            dns_propagation: Duration::ZERO,
            event_delivery: Duration::ZERO,
            replacement: Duration::ZERO,
            shutting_down: Duration::ZERO,
            event_retries: [Duration::from_secs(1), Duration::from_secs(2)],
            knobs: vec![],
        }
    }

    /// A real region's delays; each may be overridden through its variable (`lookup`).
    pub fn aws(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut knobs = Vec::new();
        for (name, var, default, what, source) in AWS {
            let value = match lookup(var) {
                Some(v) if !v.trim().is_empty() => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s >= 0.0)
                    .ok_or_else(|| SandboxError::Setup(format!("{var}: {v:?} is not a number of seconds (>= 0)")))?,
                _ => default,
            };
            knobs.push(Knob {
                name,
                env: var,
                secs: value,
                what,
                source,
            });
        }
        let k = |n: &str| secs(knobs.iter().find(|k| k.name == n).map(|k| k.secs).unwrap_or(0.0));
        Ok(Self {
            name: "aws",
            boot: k("boot"),
            install: k("install"),
            attach: k("attach"),
            dns_propagation: k("dns_propagation"),
            event_delivery: k("event_delivery"),
            replacement: k("replacement"),
            shutting_down: k("shutting_down"),
            // Lambda retries a failed asynchronous invocation twice, about one and two minutes
            // later (AWS Lambda developer guide, "Asynchronous invocation").
            event_retries: [Duration::from_secs(60), Duration::from_secs(120)],
            knobs,
        })
    }

    /// `sandbox` or `aws` (the latter reading its knobs from the environment).
    pub fn named(name: &str) -> Result<Self> {
        match name {
            "sandbox" => Ok(Self::sandbox()),
            "aws" => Self::aws(|k| std::env::var(k).ok()),
            other => Err(SandboxError::Setup(format!(
                "unknown timing profile {other:?}: use sandbox or aws"
            ))),
        }
    }

    /// The moto launcher's knobs for this profile (`POST /_steadfast/config`). In both, a
    /// terminating instance keeps its volumes until its node has no process left (the fleet
    /// reports it), as EC2 detaches them only after the guest is down: otherwise a replacement
    /// could mount a filesystem the old node is still writing (and it did: a clean shutdown
    /// raced the replacement's mount and left the filesystem needing a manual fsck).
    pub fn launcher_config(&self) -> serde_json::Value {
        serde_json::json!({
            "attach_delay_secs": self.attach.as_secs_f64(),
            "replacement_delay_secs": self.replacement.as_secs_f64(),
            "shutting_down_secs": self.shutting_down.as_secs_f64(),
            "guest_shutdown_secs": GUEST_SHUTDOWN_CAP.as_secs_f64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_and_overrides() {
        let s = Profile::sandbox();
        assert_eq!(s.boot, Duration::ZERO);
        let a = Profile::aws(|_| None).unwrap();
        assert_eq!(a.knobs.len(), 7);
        assert!(
            a.knobs.iter().all(|k| !k.source.is_empty()),
            "every default has its source"
        );
        let a = Profile::aws(|k| (k == "STEADFAST_AWS_DNS_SECS").then(|| "1.5".into())).unwrap();
        assert_eq!(a.dns_propagation, Duration::from_millis(1500));
        let err = Profile::aws(|k| (k == "STEADFAST_AWS_BOOT_SECS").then(|| "soon".into())).unwrap_err();
        assert!(err.to_string().contains("STEADFAST_AWS_BOOT_SECS"), "{err}");
        assert!(Profile::named("gcp").is_err());
    }
}

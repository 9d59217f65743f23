//! Fence, then attach (DESIGN decision 3): the pure decision, and the loop that applies it.

use std::time::{Duration, Instant};

use steadfast_core::aws::{Compute, Volume};
use tracing::info;

use crate::error::{BootstrapError, Result};

/// What to do next about the peer's volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachDecision {
    /// Attached to this instance (a reboot, or our own attach finished).
    Attached { device: Option<String> },
    /// Not attached anywhere and available: attach it.
    Attach,
    /// Something is in flight (our attach, a detach, the volume being created): look again.
    Wait { why: String },
    /// Attached to a dead instance and the grace period is not over: let AWS detach it.
    WaitForDetach { holder: String, holder_state: String },
    /// Attached to a dead instance past the grace period: force-detach it.
    ForceDetach { holder: String, holder_state: String },
    /// Attached to an instance that is stopping: it may still be writing. Wait until it has
    /// stopped (then the grace period applies); never force it while it stops.
    WaitForHolder { holder: String, holder_state: String },
    /// Attached to a live instance: never take it.
    Refuse { holder: String, holder_state: String },
}

/// Instance states in which an instance can no longer use a volume.
pub fn is_dead(state: &str) -> bool {
    matches!(state, "shutting-down" | "terminated" | "stopped")
}

/// Decides from the volume, this instance's id, the holding instance's EC2 state (`None` when
/// EC2 no longer knows it: as good as terminated), and how long we have waited on a dead holder.
pub fn plan_attach(
    volume: &Volume,
    me: &str,
    holder_state: Option<&str>,
    waited: Duration,
    grace: Duration,
) -> AttachDecision {
    let live_attachments: Vec<_> = volume.attachments.iter().filter(|a| a.state != "detached").collect();
    // Another instance holds it (with multi-attach, the first other holder decides).
    if let Some(a) = live_attachments.iter().find(|a| a.instance_id != me) {
        let holder = a.instance_id.clone();
        let holder_state = holder_state.unwrap_or("terminated").to_string();
        return if holder_state == "stopping" {
            AttachDecision::WaitForHolder { holder, holder_state }
        } else if !is_dead(&holder_state) {
            AttachDecision::Refuse { holder, holder_state }
        } else if waited >= grace {
            AttachDecision::ForceDetach { holder, holder_state }
        } else {
            AttachDecision::WaitForDetach { holder, holder_state }
        };
    }
    match live_attachments.as_slice() {
        [] if volume.state == "available" => AttachDecision::Attach,
        [] => AttachDecision::Wait {
            why: format!("volume is {}", volume.state),
        },
        [a] if a.state == "attached" => AttachDecision::Attached {
            device: a.device.clone(),
        },
        [a] => AttachDecision::Wait {
            why: format!("attachment to this instance is {}", a.state),
        },
        _ => AttachDecision::Wait {
            why: "several attachments to this instance".into(),
        },
    }
}

/// The instance holding the volume other than `me`, if any.
pub fn foreign_holder<'a>(volume: &'a Volume, me: &str) -> Option<&'a str> {
    volume
        .attachments
        .iter()
        .find(|a| a.state != "detached" && a.instance_id != me)
        .map(|a| a.instance_id.as_str())
}

#[derive(Debug, Clone)]
pub struct AttachOptions {
    pub grace: Duration,
    pub deadline: Duration,
    /// The device name passed to AttachVolume (`/dev/sdf`); on Nitro the device is found by
    /// serial, whatever this says.
    pub device_name: String,
}

/// Loops gather -> plan -> act until the volume is attached here, with backoff and a deadline.
/// Returns the attachment's device name.
pub async fn ensure_attached<C: Compute>(
    ec2: &C,
    volume_id: &str,
    me: &str,
    opts: &AttachOptions,
) -> Result<Option<String>> {
    let start = Instant::now();
    let mut dead_since: Option<Instant> = None;
    let mut pause = Duration::from_millis(100);
    let mut attach_sent: Option<Instant> = None;
    let mut forced = false;
    loop {
        let vol = ec2.describe_volume(volume_id).await?;
        let holder_state = match foreign_holder(&vol, me) {
            Some(h) => {
                let found = ec2.describe_instances(&[h.to_string()]).await?;
                found.into_iter().find(|i| i.instance_id == h).map(|i| i.state)
            }
            None => None,
        };
        if foreign_holder(&vol, me).is_some() && holder_state.as_deref().is_none_or(is_dead) {
            dead_since.get_or_insert_with(Instant::now);
        } else {
            dead_since = None;
        }
        let waited = dead_since.map(|t| t.elapsed()).unwrap_or_default();
        let decision = plan_attach(&vol, me, holder_state.as_deref(), waited, opts.grace);
        match &decision {
            AttachDecision::Attached { device } => {
                info!(step = "attach", volume = volume_id, decision = "attached", device = ?device,
                    elapsed_ms = start.elapsed().as_millis() as u64, "volume attached to this instance");
                return Ok(device.clone());
            }
            AttachDecision::Refuse { holder, holder_state } => {
                return Err(BootstrapError::HeldByLiveInstance {
                    volume: volume_id.into(),
                    holder: holder.clone(),
                    state: holder_state.clone(),
                });
            }
            AttachDecision::Attach => {
                // Send once; EC2's view is eventually consistent, so "available" right after
                // our call is expected. Send again only if nothing happened for 15 s.
                if attach_sent.is_none_or(|t| t.elapsed() > Duration::from_secs(15)) {
                    info!(step = "attach", volume = volume_id, decision = "attach", device = %opts.device_name, "attaching volume");
                    match ec2.attach_volume(volume_id, me, &opts.device_name).await {
                        Ok(()) => {}
                        // Someone (or our own earlier call) got there first: look again and re-plan.
                        Err(e) if matches!(e.aws_code(), Some("VolumeInUse" | "IncorrectState")) => {
                            info!(
                                step = "attach",
                                volume = volume_id,
                                code = e.aws_code().unwrap_or_default(),
                                "attach raced; re-planning"
                            );
                        }
                        Err(e) => return Err(e.into()),
                    }
                    attach_sent = Some(Instant::now());
                    pause = Duration::from_millis(100);
                }
            }
            AttachDecision::WaitForHolder { holder, holder_state } => {
                info!(
                    step = "fence",
                    volume = volume_id,
                    decision = "wait-for-holder",
                    holder,
                    holder_state,
                    "holder is stopping; waiting for it to stop"
                );
            }
            AttachDecision::ForceDetach { holder, holder_state } => {
                if !forced {
                    info!(
                        step = "fence",
                        volume = volume_id,
                        decision = "force-detach",
                        holder,
                        holder_state,
                        waited_ms = waited.as_millis() as u64,
                        "holder is dead and the grace period is over; force-detaching"
                    );
                    ec2.detach_volume(volume_id, holder, true).await?;
                    forced = true;
                    pause = Duration::from_millis(100);
                }
            }
            AttachDecision::WaitForDetach { holder, holder_state } => {
                info!(
                    step = "fence",
                    volume = volume_id,
                    decision = "wait-for-detach",
                    holder,
                    holder_state,
                    waited_ms = waited.as_millis() as u64,
                    grace_ms = opts.grace.as_millis() as u64,
                    "volume still attached to a dead instance"
                );
            }
            AttachDecision::Wait { why } => {
                tracing::debug!(step = "attach", volume = volume_id, why, "waiting");
            }
        }
        if start.elapsed() + pause > opts.deadline {
            return Err(BootstrapError::Timeout {
                what: "attaching the volume",
                secs: opts.deadline.as_secs(),
                detail: format!("last decision for {volume_id}: {decision:?}"),
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steadfast_core::aws::Attachment;

    fn vol(state: &str, att: &[(&str, &str)]) -> Volume {
        Volume {
            volume_id: "vol-1".into(),
            availability_zone: "us-east-1a".into(),
            size_gib: 1,
            state: state.into(),
            tags: vec![],
            attachments: att
                .iter()
                .map(|(i, s)| Attachment {
                    instance_id: i.to_string(),
                    state: s.to_string(),
                    device: Some("/dev/sdf".into()),
                })
                .collect(),
        }
    }

    #[test]
    fn table() {
        let grace = Duration::from_secs(30);
        let short = Duration::from_secs(1);
        let long = Duration::from_secs(31);
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, Volume, Option<&str>, Duration, &str)> = vec![
            ("available: attach", vol("available", &[]), None, short, "Attach"),
            ("creating: wait", vol("creating", &[]), None, short, "Wait"),
            (
                "attached here (reboot): continue",
                vol("in-use", &[("i-me", "attached")]),
                None,
                short,
                "Attached",
            ),
            (
                "our attach in flight: wait",
                vol("in-use", &[("i-me", "attaching")]),
                None,
                short,
                "Wait",
            ),
            (
                "detached leftover counts as free",
                vol("available", &[("i-old", "detached")]),
                None,
                short,
                "Attach",
            ),
            (
                "held by running: refuse",
                vol("in-use", &[("i-other", "attached")]),
                Some("running"),
                long,
                "Refuse",
            ),
            (
                "held by pending: refuse",
                vol("in-use", &[("i-other", "attached")]),
                Some("pending"),
                long,
                "Refuse",
            ),
            (
                "held by terminated, in grace: wait",
                vol("in-use", &[("i-old", "attached")]),
                Some("terminated"),
                short,
                "WaitForDetach",
            ),
            (
                "held by shutting-down, in grace: wait",
                vol("in-use", &[("i-old", "attached")]),
                Some("shutting-down"),
                short,
                "WaitForDetach",
            ),
            (
                "held by stopping: wait, never force",
                vol("in-use", &[("i-old", "attached")]),
                Some("stopping"),
                long,
                "WaitForHolder",
            ),
            (
                "held by stopped, past grace: force",
                vol("in-use", &[("i-old", "attached")]),
                Some("stopped"),
                long,
                "ForceDetach",
            ),
            (
                "held by terminated, past grace: force",
                vol("in-use", &[("i-old", "attached")]),
                Some("terminated"),
                long,
                "ForceDetach",
            ),
            (
                "holder unknown to EC2 = gone",
                vol("in-use", &[("i-gone", "attached")]),
                None,
                long,
                "ForceDetach",
            ),
            (
                "detaching from dead, in grace",
                vol("in-use", &[("i-old", "detaching")]),
                Some("terminated"),
                short,
                "WaitForDetach",
            ),
            (
                "multi-attach with a live other: refuse",
                vol("in-use", &[("i-me", "attached"), ("i-other", "attached")]),
                Some("running"),
                long,
                "Refuse",
            ),
        ];
        for (name, v, holder, waited, want) in cases {
            let d = plan_attach(&v, "i-me", holder, waited, grace);
            let got = format!("{d:?}");
            assert!(got.starts_with(want), "{name}: {got}");
        }
    }
}

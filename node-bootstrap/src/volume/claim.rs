//! Fence, then attach (DESIGN decision 3): the pure decision, [`plan_attach`], and [`claim`],
//! which gathers, plans and acts until the volume is attached here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use steadfast_core::aws::{AttachmentState, InstanceState, Instances, Volume, VolumeState, Volumes};
use steadfast_core::poll::{self, Backoff, Poll};
use steadfast_core::vocab::Step;
use tracing::{debug, info};

use crate::config::AttachSettings;
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
    WaitForDetach {
        holder: String,
        holder_state: InstanceState,
    },
    /// Attached to a dead instance past the grace period: force-detach it.
    ForceDetach {
        holder: String,
        holder_state: InstanceState,
    },
    /// Attached to an instance that is stopping: it may still be writing. Wait until it has
    /// stopped (then the grace period applies); never force it while it stops. Also a holder
    /// EC2 does not show (yet): not found is not dead, so wait, never force.
    WaitForHolder {
        holder: String,
        holder_state: Option<InstanceState>,
    },
    /// Attached to a live instance: never take it.
    Refuse {
        holder: String,
        holder_state: InstanceState,
    },
}

/// Decides from the volume, this instance's id, the holding instance's EC2 state (`None` when
/// EC2 does not show it), and how long we have waited on a dead holder. A terminated or stopped
/// holder is force-detached after `settings.grace`; one that is shutting down (a clean shutdown
/// lets go of its volumes when it terminates) only after `settings.shutdown_grace`.
pub fn plan_attach(
    volume: &Volume,
    me: &str,
    holder_state: Option<&InstanceState>,
    waited: Duration,
    settings: &AttachSettings,
) -> AttachDecision {
    // Another instance holds it (with multi-attach, the first other holder decides).
    if let Some(holder) = volume.foreign_holder(me) {
        let holder = holder.to_string();
        let Some(holder_state) = holder_state.cloned() else {
            return AttachDecision::WaitForHolder {
                holder,
                holder_state: None,
            };
        };
        let grace = settings.grace_for(&holder_state);
        return if holder_state == InstanceState::Stopping {
            AttachDecision::WaitForHolder {
                holder,
                holder_state: Some(holder_state),
            }
        } else if !holder_state.is_dead() {
            AttachDecision::Refuse { holder, holder_state }
        } else if waited >= grace {
            AttachDecision::ForceDetach { holder, holder_state }
        } else {
            AttachDecision::WaitForDetach { holder, holder_state }
        };
    }
    let mine: Vec<_> = volume.active_attachments().collect();
    match mine.as_slice() {
        [] if volume.state == VolumeState::Available => AttachDecision::Attach,
        [] => AttachDecision::Wait {
            why: format!("volume is {}", volume.state),
        },
        [a] if a.state == AttachmentState::Attached => AttachDecision::Attached {
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

/// When this process first saw `holder` dead while it held `volume` (`None`: no dead holder
/// now). Kept for the whole process, so that a holder's grace is counted once: each of
/// prepare's attempts is a new [`claim`], and a grace restarted by every attempt longer than
/// the attach deadline would never run out.
fn dead_since(volume: &str, holder: Option<&str>) -> Option<Instant> {
    static SEEN: Mutex<Vec<(String, String, Instant)>> = Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(holder) = holder else {
        seen.retain(|(v, _, _)| v != volume);
        return None;
    };
    if let Some((_, _, t)) = seen.iter().find(|(v, h, _)| v == volume && h == holder) {
        return Some(*t);
    }
    seen.retain(|(v, _, _)| v != volume);
    let now = Instant::now();
    seen.push((volume.to_string(), holder.to_string(), now));
    Some(now)
}

/// A claimed volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The attachment's device name, as EC2 reports it.
    pub device: Option<String>,
    /// How long another instance held the volume: from the first look that saw it attached
    /// elsewhere to the last one that still did. The cloud's share of the attach (EC2 lets a
    /// terminating instance's volumes go only once its guest is down); the rest is ours.
    pub held_by_another: Duration,
}

/// Gathers (the volume, its holder's state) -> plans -> acts, until the volume is attached
/// here, with backoff and the attach deadline.
pub async fn claim<E: Volumes + Instances>(
    ec2: &E,
    volume_id: &str,
    me: &str,
    settings: &AttachSettings,
) -> Result<Claimed> {
    // (first, last) look that saw another instance hold the volume.
    let held: Mutex<Option<(Instant, Instant)>> = Mutex::new(None);
    let attach_sent: Mutex<Option<Instant>> = Mutex::new(None);
    let forced = AtomicBool::new(false);
    let outcome = poll::until(
        settings.deadline,
        Backoff::new(
            Duration::from_millis(100),
            settings.poll_max.max(Duration::from_millis(100)),
        ),
        || async {
            // gather
            let vol = ec2.describe_volume(volume_id).await?;
            let holder_state = match vol.foreign_holder(me) {
                Some(h) => ec2
                    .describe_instances(&[h.to_string()])
                    .await?
                    .into_iter()
                    .find(|i| i.instance_id == h)
                    .map(|i| i.state),
                None => None,
            };
            if vol.foreign_holder(me).is_some() {
                let now = Instant::now();
                if let Ok(mut h) = held.lock() {
                    *h = Some((h.map_or(now, |(first, _)| first), now));
                }
            }
            let dead_holder = vol
                .foreign_holder(me)
                .filter(|_| holder_state.as_ref().is_some_and(|s| s.is_dead()));
            let dead_since = dead_since(volume_id, dead_holder);
            let waited = dead_since.map(|t| t.elapsed()).unwrap_or_default();
            // plan
            let decision = plan_attach(&vol, me, holder_state.as_ref(), waited, settings);
            // A dead holder's wait ends by itself: it lets go, or its grace runs out and it is
            // force-detached. Until then the node is not stalled (progress.rs).
            let ends = match (&decision, dead_since) {
                (AttachDecision::WaitForDetach { holder_state, .. }, Some(t)) => {
                    Some(t + settings.grace_for(holder_state))
                }
                _ => None,
            };
            // act
            let r = act(ec2, volume_id, me, settings, decision, &attach_sent, &forced, waited).await;
            if let Ok(Poll::Pending(why) | Poll::Soon(why)) = &r {
                let why = format!("volume {volume_id}: {why}");
                match ends {
                    Some(ends) => crate::progress::waiting_until(&why, ends),
                    None => crate::progress::waiting(&why),
                }
            }
            r
        },
    )
    .await?;
    let device = outcome.map_err(|t| BootstrapError::Timeout {
        what: "attaching the volume",
        secs: settings.deadline.as_secs(),
        detail: format!("last decision for {volume_id}: {}", t.last),
    })?;
    let held_by_another = match held.lock() {
        Ok(h) => h.map(|(first, last)| last - first).unwrap_or_default(),
        Err(_) => Duration::ZERO,
    };
    Ok(Claimed {
        device,
        held_by_another,
    })
}

#[allow(clippy::too_many_arguments)]
async fn act<E: Volumes>(
    ec2: &E,
    volume_id: &str,
    me: &str,
    settings: &AttachSettings,
    decision: AttachDecision,
    attach_sent: &Mutex<Option<Instant>>,
    forced: &AtomicBool,
    waited: Duration,
) -> Result<Poll<Option<String>>> {
    match decision {
        AttachDecision::Attached { device } => {
            info!(during = %Step::Attach, volume = volume_id, decision = "attached", device = ?device, "volume attached to this instance");
            Ok(Poll::Ready(device))
        }
        AttachDecision::Refuse { holder, holder_state } => Err(BootstrapError::HeldByLiveInstance {
            volume: volume_id.into(),
            holder,
            state: holder_state.to_string(),
        }),
        AttachDecision::Attach => {
            // Send once; EC2's view is eventually consistent, so "available" right after our
            // call is expected. Send again only if nothing happened for 15 s.
            let due = attach_sent
                .lock()
                .map(|g| g.is_none_or(|t| t.elapsed() > Duration::from_secs(15)))
                .unwrap_or(true);
            if !due {
                return Ok(Poll::Pending("our attach is in flight".into()));
            }
            info!(during = %Step::Attach, volume = volume_id, decision = "attach", device = %settings.device_name, "attaching volume");
            match ec2.attach_volume(volume_id, me, &settings.device_name).await {
                Ok(()) => {}
                // Someone (or our own earlier call) got there first: look again and re-plan.
                Err(e) if matches!(e.aws_code(), Some("VolumeInUse" | "IncorrectState")) => {
                    info!(
                        during = %Step::Attach,
                        volume = volume_id,
                        code = e.aws_code().unwrap_or_default(),
                        "attach raced; re-planning"
                    );
                }
                Err(e) => return Err(e.into()),
            }
            if let Ok(mut g) = attach_sent.lock() {
                *g = Some(Instant::now());
            }
            Ok(Poll::Soon("attach sent".into()))
        }
        AttachDecision::WaitForHolder { holder, holder_state } => {
            let state = holder_state
                .map(|s| s.to_string())
                .unwrap_or_else(|| "not shown by EC2 (yet)".into());
            info!(during = %Step::Attach, volume = volume_id, decision = "wait-for-holder", holder, holder_state = %state,
                "holder is stopping, or EC2 does not show it: waiting, never forcing");
            Ok(Poll::Pending(format!("{holder} is {state}")))
        }
        AttachDecision::ForceDetach { holder, holder_state } => {
            if forced.swap(true, Ordering::SeqCst) {
                return Ok(Poll::Pending(format!("force-detach from {holder} in flight")));
            }
            info!(during = %Step::Attach, volume = volume_id, decision = "force-detach", holder, holder_state = %holder_state,
                waited_ms = waited.as_millis() as u64, "holder is dead and the grace period is over; force-detaching");
            ec2.detach_volume(volume_id, &holder, true).await?;
            Ok(Poll::Soon(format!("force-detached from {holder}")))
        }
        AttachDecision::WaitForDetach { holder, holder_state } => {
            info!(during = %Step::Attach, volume = volume_id, decision = "wait-for-detach", holder, holder_state = %holder_state,
                waited_ms = waited.as_millis() as u64,
                "volume still attached to a dead instance; waiting for it to let go before forcing");
            Ok(Poll::Pending(format!("still attached to {holder} ({holder_state})")))
        }
        AttachDecision::Wait { why } => {
            debug!(during = %Step::Attach, volume = volume_id, why, "waiting");
            Ok(Poll::Pending(why))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_holder_is_timed_from_its_first_sighting_across_claims() {
        let first = dead_since("vol-dead-since", Some("i-old")).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        // The next attempt (a new claim) sees the same holder: the same clock.
        assert_eq!(dead_since("vol-dead-since", Some("i-old")), Some(first));
        // Another holder starts its own clock; no dead holder forgets it.
        let other = dead_since("vol-dead-since", Some("i-older")).unwrap();
        assert!(other > first);
        assert_eq!(dead_since("vol-dead-since", None), None);
        assert!(dead_since("vol-dead-since", Some("i-older")).unwrap() > other);
    }
    use steadfast_core::aws::Attachment;
    use steadfast_core::vocab::Tags;

    fn vol(state: &str, att: &[(&str, &str)]) -> Volume {
        Volume {
            volume_id: "vol-1".into(),
            availability_zone: "us-east-1a".into(),
            size_gib: 1,
            state: VolumeState::from_aws(state),
            tags: Tags::default(),
            attachments: att
                .iter()
                .map(|(i, s)| Attachment {
                    instance_id: i.to_string(),
                    state: AttachmentState::from_aws(s),
                    device: Some("/dev/sdf".into()),
                })
                .collect(),
        }
    }

    #[test]
    fn table() {
        use AttachDecision::*;
        use InstanceState::{Pending, Running, ShuttingDown, Stopped, Stopping, Terminated};
        let settings = AttachSettings {
            grace: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(600),
            deadline: Duration::from_secs(300),
            poll_max: Duration::from_millis(500),
            device_name: "/dev/sdf".into(),
        };
        let short = Duration::from_secs(1);
        let long = Duration::from_secs(31);
        let stuck = Duration::from_secs(601);
        let s = |h: &str| h.to_string();
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, Volume, Option<InstanceState>, Duration, AttachDecision)> = vec![
            ("available: attach", vol("available", &[]), None, short, Attach),
            (
                "creating: wait",
                vol("creating", &[]),
                None,
                short,
                Wait {
                    why: "volume is creating".into(),
                },
            ),
            (
                "attached here (reboot): continue",
                vol("in-use", &[("i-me", "attached")]),
                None,
                short,
                Attached {
                    device: Some("/dev/sdf".into()),
                },
            ),
            (
                "our attach in flight: wait",
                vol("in-use", &[("i-me", "attaching")]),
                None,
                short,
                Wait {
                    why: "attachment to this instance is attaching".into(),
                },
            ),
            (
                "detached leftover counts as free",
                vol("available", &[("i-old", "detached")]),
                None,
                short,
                Attach,
            ),
            (
                "held by running: refuse",
                vol("in-use", &[("i-other", "attached")]),
                Some(Running),
                long,
                Refuse {
                    holder: s("i-other"),
                    holder_state: Running,
                },
            ),
            (
                "held by pending: refuse",
                vol("in-use", &[("i-other", "attached")]),
                Some(Pending),
                long,
                Refuse {
                    holder: s("i-other"),
                    holder_state: Pending,
                },
            ),
            (
                "held by terminated, in grace: wait",
                vol("in-use", &[("i-old", "attached")]),
                Some(Terminated),
                short,
                WaitForDetach {
                    holder: s("i-old"),
                    holder_state: Terminated,
                },
            ),
            (
                "held by shutting-down, in grace: wait",
                vol("in-use", &[("i-old", "attached")]),
                Some(ShuttingDown),
                short,
                WaitForDetach {
                    holder: s("i-old"),
                    holder_state: ShuttingDown,
                },
            ),
            (
                "held by shutting-down past the short grace: a clean shutdown is not yanked",
                vol("in-use", &[("i-old", "attached")]),
                Some(ShuttingDown),
                long,
                WaitForDetach {
                    holder: s("i-old"),
                    holder_state: ShuttingDown,
                },
            ),
            (
                "held by shutting-down past the long bound: a stuck host, force",
                vol("in-use", &[("i-old", "attached")]),
                Some(ShuttingDown),
                stuck,
                ForceDetach {
                    holder: s("i-old"),
                    holder_state: ShuttingDown,
                },
            ),
            (
                "held by stopping: wait, never force",
                vol("in-use", &[("i-old", "attached")]),
                Some(Stopping),
                stuck,
                WaitForHolder {
                    holder: s("i-old"),
                    holder_state: Some(Stopping),
                },
            ),
            (
                "held by stopped, past grace: force",
                vol("in-use", &[("i-old", "attached")]),
                Some(Stopped),
                long,
                ForceDetach {
                    holder: s("i-old"),
                    holder_state: Stopped,
                },
            ),
            (
                "held by terminated, past grace: force",
                vol("in-use", &[("i-old", "attached")]),
                Some(Terminated),
                long,
                ForceDetach {
                    holder: s("i-old"),
                    holder_state: Terminated,
                },
            ),
            (
                "holder EC2 does not show: not found is not dead, wait, never force",
                vol("in-use", &[("i-new", "attached")]),
                None,
                stuck,
                WaitForHolder {
                    holder: s("i-new"),
                    holder_state: None,
                },
            ),
            (
                "detaching from dead, in grace",
                vol("in-use", &[("i-old", "detaching")]),
                Some(Terminated),
                short,
                WaitForDetach {
                    holder: s("i-old"),
                    holder_state: Terminated,
                },
            ),
            (
                "multi-attach with a live other: refuse",
                vol("in-use", &[("i-me", "attached"), ("i-other", "attached")]),
                Some(Running),
                long,
                Refuse {
                    holder: s("i-other"),
                    holder_state: Running,
                },
            ),
        ];
        for (name, v, holder, waited, want) in cases {
            assert_eq!(
                plan_attach(&v, "i-me", holder.as_ref(), waited, &settings),
                want,
                "{name}"
            );
        }
    }
}

//! The disks: the hypervisor presents a volume to its instance's node while moto shows it
//! attached there, and withdraws it when not; each attach and detach goes to the event log.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::event_log::{Event, EventLog};
use super::observe::Observation;
use crate::standins::hypervisor::Hypervisor;

#[derive(Debug)]
pub struct Disks {
    pub hv: Hypervisor,
    attachments: BTreeSet<(String, String)>,
    events: EventLog,
}

impl Disks {
    pub fn new(hv: Hypervisor, events: EventLog) -> Self {
        Self {
            hv,
            attachments: BTreeSet::new(),
            events,
        }
    }

    /// Presents and withdraws devices to match `obs`, for the nodes at `roots`.
    pub fn sync(&mut self, obs: &Observation, roots: BTreeMap<String, PathBuf>) {
        self.hv.roots = roots;
        let pairs = obs.attached();
        // Only the peers' data volumes (moto also attaches a root volume to every instance).
        let now: BTreeSet<(String, String)> = pairs
            .iter()
            .filter(|(v, _)| self.hv.images.contains_key(v))
            .cloned()
            .collect();
        for (v, i) in now.difference(&self.attachments) {
            self.events.emit(Event::VolumeAttached {
                volume_id: v.clone(),
                instance_id: i.clone(),
            });
        }
        for (v, i) in self.attachments.difference(&now) {
            self.events.emit(Event::VolumeDetached {
                volume_id: v.clone(),
                instance_id: i.clone(),
            });
        }
        self.attachments = now;
        match self.hv.sync(&pairs) {
            Ok(changes) => {
                for (volume_id, instance_id, what) in changes {
                    self.events.emit(match what {
                        "presented" => Event::DevicePresented { volume_id, instance_id },
                        _ => Event::DeviceWithdrawn { volume_id, instance_id },
                    });
                }
            }
            Err(e) => self.events.emit(Event::HypervisorError { error: e.to_string() }),
        }
    }
}

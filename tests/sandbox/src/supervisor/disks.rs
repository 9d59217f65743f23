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
    /// Wipe requests: one empty file per volume id (`sandbox wipe`, the chaos suite).
    wipe_dir: PathBuf,
}

/// Where wipe requests go: `<state dir>/wipe/<volume id>`.
pub fn wipe_dir() -> PathBuf {
    crate::state::state_dir().join("wipe")
}

/// Asks the hypervisor to wipe `volume_id` the next time no instance has it.
pub fn request_wipe(volume_id: &str) -> crate::error::Result<()> {
    let d = wipe_dir();
    std::fs::create_dir_all(&d).map_err(crate::error::SandboxError::io(format!("mkdir {}", d.display())))?;
    std::fs::write(d.join(volume_id), b"").map_err(crate::error::SandboxError::io("write wipe request"))
}

impl Disks {
    pub fn new(hv: Hypervisor, events: EventLog) -> Self {
        Self {
            hv,
            attachments: BTreeSet::new(),
            events,
            wipe_dir: wipe_dir(),
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
        if let Ok(entries) = std::fs::read_dir(&self.wipe_dir) {
            for e in entries.flatten() {
                self.hv.wipes.insert(e.file_name().to_string_lossy().into_owned());
            }
        }
        let requested = self.hv.wipes.clone();
        let synced = self.hv.sync(&pairs);
        // A request is done once the hypervisor let go of it (wiped), whatever else failed in the
        // pass: it must never wipe the same volume twice.
        for volume_id in requested.difference(&self.hv.wipes) {
            let _ = std::fs::remove_file(self.wipe_dir.join(volume_id));
            self.events.emit(Event::VolumeWiped {
                volume_id: volume_id.clone(),
            });
        }
        match synced {
            Ok(changes) => {
                for (volume_id, instance_id, what) in changes {
                    match what {
                        "presented" => self.events.emit(Event::DevicePresented { volume_id, instance_id }),
                        "withdrawn" => self.events.emit(Event::DeviceWithdrawn { volume_id, instance_id }),
                        _ => {}
                    }
                }
            }
            Err(e) => self.events.emit(Event::HypervisorError { error: e.to_string() }),
        }
    }
}

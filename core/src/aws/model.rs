//! What the cloud says, typed: the states AWS reports as strings become enums with the
//! predicates the planners need, and tags become [`Tags`]. Built from the SDK in `sdk/`,
//! and by the in-memory fake; nothing else parses these strings.

use std::net::Ipv4Addr;

use crate::vocab::{PeerIndex, Tags};

macro_rules! aws_state {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            /// A value this code does not know (AWS may add states); never treated as live.
            Other(String),
        }

        impl $name {
            /// Parses AWS's spelling.
            pub fn from_aws(s: &str) -> Self {
                match s {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_string()),
                }
            }

            /// AWS's spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(s) => s,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

aws_state!(
    /// An instance's state in its Auto Scaling group.
    LifecycleState {
        Pending = "Pending",
        PendingWait = "Pending:Wait",
        PendingProceed = "Pending:Proceed",
        InService = "InService",
        Terminating = "Terminating",
        TerminatingWait = "Terminating:Wait",
        TerminatingProceed = "Terminating:Proceed",
        Terminated = "Terminated",
        Detaching = "Detaching",
        Detached = "Detached",
        EnteringStandby = "EnteringStandby",
        Standby = "Standby",
    }
);

impl LifecycleState {
    /// Holds (or is about to hold) its group's slot: pending or in service.
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            Self::Pending | Self::PendingWait | Self::PendingProceed | Self::InService
        )
    }

    pub fn is_in_service(&self) -> bool {
        matches!(self, Self::InService)
    }

    /// Waiting for its LAUNCHING lifecycle action to be completed.
    pub fn is_waiting_for_launch_hook(&self) -> bool {
        matches!(self, Self::PendingWait)
    }
}

aws_state!(
    /// EC2's state of an instance.
    InstanceState {
        Pending = "pending",
        Running = "running",
        ShuttingDown = "shutting-down",
        Terminated = "terminated",
        Stopping = "stopping",
        Stopped = "stopped",
    }
);

impl InstanceState {
    /// May hold a peer's slot (and its name): pending or running.
    pub fn can_hold_slot(&self) -> bool {
        matches!(self, Self::Pending | Self::Running)
    }

    /// Can no longer use a volume: shutting down, terminated or stopped.
    pub fn is_dead(&self) -> bool {
        matches!(self, Self::ShuttingDown | Self::Terminated | Self::Stopped)
    }
}

aws_state!(
    /// The state of a volume's attachment to an instance.
    AttachmentState {
        Attaching = "attaching",
        Attached = "attached",
        Detaching = "detaching",
        Detached = "detached",
        Busy = "busy",
    }
);

impl AttachmentState {
    /// Anything but `detached`: the instance still has (or is getting, or releasing) the volume.
    pub fn is_active(&self) -> bool {
        !matches!(self, Self::Detached)
    }
}

aws_state!(
    /// EBS's state of a volume.
    VolumeState {
        Creating = "creating",
        Available = "available",
        InUse = "in-use",
        Deleting = "deleting",
        Deleted = "deleted",
        Error = "error",
    }
);

/// An Auto Scaling group and the instances it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub tags: Tags,
    pub instances: Vec<GroupInstance>,
}

impl Group {
    /// Its pending or in-service instances.
    pub fn live_instances(&self) -> impl Iterator<Item = &GroupInstance> {
        self.instances.iter().filter(|i| i.lifecycle_state.is_live())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInstance {
    pub instance_id: String,
    pub lifecycle_state: LifecycleState,
    pub availability_zone: Option<String>,
}

impl GroupInstance {
    pub fn is_live(&self) -> bool {
        self.lifecycle_state.is_live()
    }
}

/// EC2's view of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub instance_id: String,
    pub state: InstanceState,
    pub private_ip: Option<Ipv4Addr>,
    pub availability_zone: Option<String>,
    pub tags: Tags,
}

/// An EBS volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub volume_id: String,
    pub availability_zone: String,
    pub size_gib: i32,
    pub state: VolumeState,
    pub tags: Tags,
    pub attachments: Vec<Attachment>,
}

impl Volume {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key)
    }

    /// Attachments that are not `detached`.
    pub fn active_attachments(&self) -> impl Iterator<Item = &Attachment> {
        self.attachments.iter().filter(|a| a.state.is_active())
    }

    /// The instance other than `me` that holds the volume, if any.
    pub fn foreign_holder(&self, me: &str) -> Option<&str> {
        self.active_attachments()
            .find(|a| a.instance_id != me)
            .map(|a| a.instance_id.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub instance_id: String,
    pub state: AttachmentState,
    pub device: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_and_decide() {
        for (s, live) in [
            ("Pending", true),
            ("Pending:Wait", true),
            ("Pending:Proceed", true),
            ("InService", true),
            ("Terminating", false),
            ("Terminating:Wait", false),
            ("Standby", false),
            ("Warmed:Pending", false),
        ] {
            let st = LifecycleState::from_aws(s);
            assert_eq!(st.is_live(), live, "{s}");
            assert_eq!(st.as_str(), s);
        }
        assert!(LifecycleState::from_aws("InService").is_in_service());
        assert!(!LifecycleState::from_aws("Pending:Wait").is_in_service());
        for (s, hold, dead) in [
            ("pending", true, false),
            ("running", true, false),
            ("shutting-down", false, true),
            ("terminated", false, true),
            ("stopping", false, false),
            ("stopped", false, true),
            ("rebooting", false, false),
        ] {
            let st = InstanceState::from_aws(s);
            assert_eq!((st.can_hold_slot(), st.is_dead()), (hold, dead), "{s}");
        }
        assert!(!AttachmentState::from_aws("detached").is_active());
        assert!(AttachmentState::from_aws("detaching").is_active());
        assert_eq!(VolumeState::from_aws("in-use"), VolumeState::InUse);
    }
}

/// An A record as Route 53 holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentRecord {
    /// Fully qualified, as Route 53 returns it (`peer-3.main.etcd.internal.`).
    pub name: String,
    pub values: Vec<String>,
    pub ttl: Option<i64>,
}

/// One change of a peer's A record to a single address. It is written conditionally: when the
/// record existed, as DELETE of exactly `previous` plus CREATE, in one batch (Route 53 rejects
/// the batch if the record changed since it was read); otherwise as CREATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordChange {
    pub peer: PeerIndex,
    pub name: String,
    pub ip: Ipv4Addr,
    pub ttl: i64,
    /// The record as it was read; `None` when it did not exist.
    pub previous: Option<CurrentRecord>,
    /// The instance that holds `ip`; `None` when `ip` is the peer's placeholder.
    pub instance_id: Option<String>,
}

//! The client load balancer's targets: the instances in service, as the target group the module
//! attaches to every group has them (an ASG registers an instance once its launch hook is done
//! and it is `InService`, and deregisters it as it starts terminating). Restarts HAProxy if it
//! exits.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::event_log::{Event, EventLog};
use super::observe::Observation;
use crate::error::Result;
use crate::standins::haproxy::ClientLb;

#[derive(Debug)]
pub struct ClientLbTargets {
    lb: ClientLb,
    listen: Ipv4Addr,
    dir: PathBuf,
    events: EventLog,
}

/// The targets an observation gives: every instance in service with an address.
pub fn targets(obs: &Observation) -> Vec<(String, Ipv4Addr)> {
    obs.live
        .iter()
        .filter(|(_, l)| l.lifecycle_state.is_in_service())
        .filter_map(|(id, l)| Some((id.clone(), l.ip?)))
        .collect()
}

impl ClientLbTargets {
    /// Starts the load balancer on `listen`, with no target yet.
    pub fn start(listen: Ipv4Addr, dir: &Path, events: EventLog) -> Result<Self> {
        let lb = ClientLb::start(listen, dir)?;
        events.emit(Event::ClientLbStarted {
            listen: listen.to_string(),
            pid: lb.pid(),
        });
        Ok(Self {
            lb,
            listen,
            dir: dir.to_path_buf(),
            events,
        })
    }

    /// Registers the instances in service now; restarts the load balancer first if it exited.
    pub fn sync(&mut self, obs: &Observation) {
        if self.lb.exited() {
            self.events.emit(Event::ClientLbExited {});
            match ClientLb::start(self.listen, &self.dir) {
                Ok(lb) => {
                    self.events.emit(Event::ClientLbStarted {
                        listen: self.listen.to_string(),
                        pid: lb.pid(),
                    });
                    self.lb = lb;
                }
                Err(e) => {
                    self.events.emit(Event::HypervisorError {
                        error: format!("client load balancer: {e}"),
                    });
                    return;
                }
            }
        }
        let want = targets(obs);
        match self.lb.set_targets(want) {
            Ok(false) => {}
            Ok(true) => self.events.emit(Event::ClientLbTargets {
                targets: self.lb.targets().iter().map(|(id, _)| id.clone()).collect(),
            }),
            Err(e) => self.events.emit(Event::HypervisorError {
                error: format!("client load balancer: {e}"),
            }),
        }
    }

    pub fn stop(self) {
        self.lb.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::observe::LiveInstance;
    use steadfast_core::aws::LifecycleState;

    #[test]
    fn only_instances_in_service_are_targets() {
        let mut obs = Observation::default();
        for (id, state, ip) in [
            ("i-a", "InService", Some("127.0.1.4")),
            ("i-b", "Pending:Wait", Some("127.0.2.4")),
            ("i-c", "Terminating", Some("127.0.3.4")),
            ("i-d", "InService", None),
        ] {
            obs.live.insert(
                id.into(),
                LiveInstance {
                    peer: crate::config::cluster().unwrap().peer(0).unwrap(),
                    group: "local-peer-0".into(),
                    lifecycle_state: LifecycleState::from_aws(state),
                    ip: ip.map(|i| i.parse().unwrap()),
                },
            );
        }
        assert_eq!(targets(&obs), vec![("i-a".to_string(), "127.0.1.4".parse().unwrap())]);
    }
}

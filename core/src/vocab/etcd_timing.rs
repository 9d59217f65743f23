//! etcd's Raft timing: the heartbeat interval and the election timeout, one validated pair.
//!
//! Both are knobs (Terraform `etcd_heartbeat_interval_ms` / `etcd_election_timeout_ms`, on the
//! node `STEADFAST_ETCD_HEARTBEAT_MS` / `STEADFAST_ETCD_ELECTION_MS`), checked here against the
//! rules etcd itself enforces at start-up, so a bad pair is refused before etcd is started with
//! it. The election timeout is also the unit the chaos report judges write gaps in.

use std::time::Duration;

use super::defaults;

/// etcd's upper bound on `--election-timeout`, in ms.
pub const MAX_ELECTION_MS: u32 = 50_000;
/// etcd requires the election timeout to be at least this many heartbeats.
pub const MIN_HEARTBEATS_PER_ELECTION: u32 = 5;

/// A heartbeat interval and election timeout etcd accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtcdTiming {
    heartbeat_ms: u32,
    election_ms: u32,
}

impl Default for EtcdTiming {
    fn default() -> Self {
        Self {
            heartbeat_ms: defaults::ETCD_HEARTBEAT_MS,
            election_ms: defaults::ETCD_ELECTION_MS,
        }
    }
}

impl EtcdTiming {
    /// The pair, if etcd would start with it: heartbeat >= 1 ms, election >= 5 heartbeats,
    /// election <= 50 s.
    pub fn new(heartbeat_ms: u32, election_ms: u32) -> Result<Self, String> {
        if heartbeat_ms == 0 {
            return Err("the heartbeat interval must be at least 1 ms".into());
        }
        if election_ms < heartbeat_ms.saturating_mul(MIN_HEARTBEATS_PER_ELECTION) {
            return Err(format!(
                "the election timeout ({election_ms} ms) must be at least {MIN_HEARTBEATS_PER_ELECTION} heartbeat intervals ({heartbeat_ms} ms each), as etcd requires"
            ));
        }
        if election_ms > MAX_ELECTION_MS {
            return Err(format!(
                "the election timeout ({election_ms} ms) must be at most {MAX_ELECTION_MS} ms, as etcd requires"
            ));
        }
        Ok(Self {
            heartbeat_ms,
            election_ms,
        })
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms.into())
    }

    pub fn election(&self) -> Duration {
        Duration::from_millis(self.election_ms.into())
    }

    /// The variables etcd reads them from (its environment file).
    pub fn etcd_env(&self) -> [(String, String); 2] {
        [
            ("ETCD_HEARTBEAT_INTERVAL".into(), self.heartbeat_ms.to_string()),
            ("ETCD_ELECTION_TIMEOUT".into(), self.election_ms.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_rules() {
        let d = EtcdTiming::default();
        assert_eq!(
            (d.heartbeat(), d.election()),
            (Duration::from_millis(100), Duration::from_secs(1))
        );
        assert!(EtcdTiming::new(200, 1000).is_ok());
        assert!(EtcdTiming::new(201, 1000).unwrap_err().contains("5 heartbeat"));
        assert!(EtcdTiming::new(0, 1000).unwrap_err().contains("1 ms"));
        assert!(EtcdTiming::new(100, 50_001).unwrap_err().contains("50000"));
        assert_eq!(
            EtcdTiming::new(150, 1500).unwrap().etcd_env(),
            [
                ("ETCD_HEARTBEAT_INTERVAL".to_string(), "150".to_string()),
                ("ETCD_ELECTION_TIMEOUT".to_string(), "1500".to_string())
            ]
        );
    }
}

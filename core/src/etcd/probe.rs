//! One member's status, as etcd itself reports it: the one probe node-bootstrap (readiness,
//! backups, restarts), the CLI (its health gates) and the sandbox (status, chaos) all read.

use std::net::Ipv4Addr;
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, StatusResponse};
use serde::{Deserialize, Serialize};

use super::{Access, EtcdError, Result};
use crate::vocab::METRICS_PORT;

/// What a member says of itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    /// The member's id.
    pub id: u64,
    /// Its name (`peer-N`), from the member list; `None` when not asked for or not listed.
    pub name: Option<String>,
    /// The leader it knows (0: none).
    pub leader: u64,
    pub cluster_id: u64,
    pub raft_term: u64,
    pub raft_index: u64,
    pub raft_applied_index: u64,
    /// The store's revision as this member answers.
    pub revision: i64,
    pub learner: bool,
    /// The backend database's size on disk, and the part of it in use (bytes).
    pub db_size: i64,
    pub db_size_in_use: i64,
    /// The cluster's active alarms as this member reports them (`NOSPACE`, `CORRUPT`).
    pub alarms: Vec<String>,
    /// The etcd server's version.
    pub version: String,
}

impl MemberStatus {
    /// From etcd's status answer.
    pub fn from_status(st: &StatusResponse) -> Result<Self> {
        let h = st.header().ok_or_else(|| EtcdError::Incomplete {
            op: "status".into(),
            field: "header",
        })?;
        Ok(Self {
            id: h.member_id(),
            name: None,
            leader: st.leader(),
            cluster_id: h.cluster_id(),
            raft_term: st.raft_term(),
            raft_index: st.raft_index(),
            raft_applied_index: st.raft_applied_index(),
            revision: h.revision(),
            learner: st.is_learner(),
            db_size: st.db_size(),
            db_size_in_use: st.raft_used_db_size(),
            alarms: st.errors().to_vec(),
            version: st.version().to_string(),
        })
    }

    /// Knows a leader and is a voting member: what "healthy" means everywhere in steadfast (a
    /// learner is not healthy, DESIGN decision 15).
    pub fn healthy(&self) -> bool {
        self.leader != 0 && !self.learner
    }

    /// Healthy and the leader itself.
    pub fn is_leader(&self) -> bool {
        self.healthy() && self.leader == self.id
    }
}

/// The status of the member `client` talks to; with `named`, its name from the member list too.
pub async fn probe(client: &mut Client, named: bool) -> Result<MemberStatus> {
    let st = client.status().await.map_err(EtcdError::call("status"))?;
    let mut s = MemberStatus::from_status(&st)?;
    if named {
        let list = client.member_list().await.map_err(EtcdError::call("member list"))?;
        s.name = list
            .members()
            .iter()
            .find(|m| m.id() == s.id)
            .map(|m| m.name().to_string())
            .filter(|n| !n.is_empty());
    }
    Ok(s)
}

/// The status of the member at `url` on a client of its own, each call bounded by `timeout` and
/// the whole by twice that (a TLS handshake with a member that does not serve yet never ends by
/// itself).
pub async fn probe_url(access: &Access, url: &str, timeout: Duration, named: bool) -> Result<MemberStatus> {
    let ask = async {
        let opts = ConnectOptions::new()
            .with_timeout(timeout)
            .with_connect_timeout(timeout);
        let mut c = access.client(&[url.to_string()], opts).await?;
        probe(&mut c, named).await
    };
    super::bounded(&format!("{url}: status"), timeout * 2, ask).await
}

/// When the etcd process serving on `ip` started (its `process_start_time_seconds`, read from
/// the plain-http metrics listener); `None` when it does not answer. A restart changes it.
pub async fn process_start_time(ip: Ipv4Addr) -> Option<f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let get = async {
        let mut s = tokio::net::TcpStream::connect((ip, METRICS_PORT)).await.ok()?;
        s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {ip}\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut body = Vec::new();
        s.read_to_end(&mut body).await.ok()?;
        let text = String::from_utf8_lossy(&body);
        text.lines()
            .find_map(|l| l.strip_prefix("process_start_time_seconds "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    tokio::time::timeout(Duration::from_secs(2), get).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_means_a_leader_and_a_vote() {
        let s = |leader, learner| MemberStatus {
            id: 7,
            leader,
            learner,
            ..MemberStatus::default()
        };
        assert!(s(3, false).healthy());
        assert!(!s(3, false).is_leader());
        assert!(s(7, false).is_leader());
        assert!(!s(0, false).healthy(), "no leader");
        assert!(!s(7, true).healthy(), "a learner");
        assert!(!s(7, true).is_leader());
    }
}

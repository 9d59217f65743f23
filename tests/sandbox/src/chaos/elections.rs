//! When etcd elected a leader, from the members' own logs: the product's share of a write gap
//! (the election) apart from the clients' (their timeout on writes forwarded to a dead leader).

use std::path::Path;

use chrono::{DateTime, Utc};

/// The earliest "became leader" that any node's log (`<nodes>/<instance>/node.log`) shows at or
/// after `after`.
pub fn first_leader_after(nodes: &Path, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let dir = std::fs::read_dir(nodes).ok()?;
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("node.log")).ok())
        .flat_map(|text| text.lines().filter_map(became_leader).collect::<Vec<_>>())
        .filter(|t| *t >= after)
        .min()
}

/// The time of an etcd (zap JSON) log line saying this member became leader.
fn became_leader(line: &str) -> Option<DateTime<Utc>> {
    if !line.contains(" became leader at term ") {
        return None;
    }
    let start = line.find("\"ts\":\"")? + 6;
    let end = start + line[start..].find('"')?;
    DateTime::parse_from_rfc3339(&line[start..end])
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_election_after_the_fault() {
        let dir = tempfile::tempdir().unwrap();
        let log = |id: &str, lines: &[&str]| {
            std::fs::create_dir_all(dir.path().join(id)).unwrap();
            std::fs::write(dir.path().join(id).join("node.log"), lines.join("\n")).unwrap();
        };
        let line = |ts: &str, msg: &str| {
            format!(
                r#"{{"level":"info","ts":"{ts}","logger":"raft","caller":"etcdserver/zap_raft.go:77","msg":"{msg}"}}"#
            )
        };
        log(
            "i-a",
            &[
                &line("2026-11-22T05:02:46.057Z", "ba003ac9c8c8845 became leader at term 2"),
                "node-bootstrap: not json",
                &line("2026-11-22T05:02:51.700Z", "a1 became leader at term 4"),
            ],
        );
        log(
            "i-b",
            &[
                &line("2026-11-22T05:02:51.673Z", "4eb1 became pre-candidate at term 2"),
                &line("2026-11-22T05:02:51.683Z", "4eb1 became leader at term 3"),
            ],
        );
        let fault: DateTime<Utc> = "2026-11-22T05:02:50.600Z".parse().unwrap();
        let got = first_leader_after(dir.path(), fault).unwrap();
        assert_eq!((got - fault).num_milliseconds(), 1083);
        let later: DateTime<Utc> = "2026-11-22T05:03:00Z".parse().unwrap();
        assert_eq!(first_leader_after(dir.path(), later), None);
        assert_eq!(first_leader_after(&dir.path().join("none"), fault), None);
    }
}

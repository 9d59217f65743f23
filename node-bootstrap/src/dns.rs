//! Waiting for DNS (DESIGN decision 6 and "Verified: etcd 3.5 behaviour"): through the system
//! resolver, as etcd will resolve.
//!
//! - Always: this peer's own name must resolve to this instance's address, and no other peer's
//!   name to it (EC2 reused an address a dead peer's stale record still holds: peer-dns moves
//!   that record to its placeholder; until then two names would resolve to this member).
//! - On a fresh data dir: every peer's name must resolve, each to a distinct address, or etcd
//!   would silently bootstrap a partial cluster.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use steadfast_core::poll::{self, Backoff, Poll};
use steadfast_core::vocab::Step;
use steadfast_core::{Cluster, PeerIndex};

use crate::error::{BootstrapError, Result};

pub async fn resolve(name: &str) -> std::result::Result<Vec<Ipv4Addr>, String> {
    match tokio::time::timeout(Duration::from_secs(3), tokio::net::lookup_host((name, 0))).await {
        Err(_) => Err("no answer within 3 s".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(addrs)) => {
            let mut v: Vec<Ipv4Addr> = addrs
                .filter_map(|a| match a.ip() {
                    IpAddr::V4(ip) => Some(ip),
                    IpAddr::V6(_) => None,
                })
                .collect();
            v.sort();
            v.dedup();
            Ok(v)
        }
    }
}

/// Problems with the names right now; empty when etcd may start.
pub fn check_names(
    cluster: &Cluster,
    me: PeerIndex,
    my_ip: Ipv4Addr,
    answers: &BTreeMap<PeerIndex, std::result::Result<Vec<Ipv4Addr>, String>>,
    fresh: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    let own = cluster.peer_host(me);
    match answers.get(&me) {
        Some(Ok(ips)) if ips == &vec![my_ip] => {}
        Some(Ok(ips)) => problems.push(format!("{own} resolves to {}", fmt_ips(ips))),
        Some(Err(e)) => problems.push(format!("{own} does not resolve: {e}")),
        None => problems.push(format!("{own} was not looked up")),
    }
    for p in cluster.peers().filter(|p| *p != me) {
        if let Some(Ok(ips)) = answers.get(&p) {
            if ips.contains(&my_ip) {
                problems.push(format!(
                    "{} also resolves to this instance's address {my_ip} (a stale record on a reused address)",
                    cluster.peer_host(p)
                ));
            }
        }
    }
    if fresh {
        let mut owners: BTreeMap<Ipv4Addr, Vec<String>> = BTreeMap::new();
        for p in cluster.peers() {
            match answers.get(&p) {
                Some(Ok(ips)) if ips.len() == 1 => owners.entry(ips[0]).or_default().push(cluster.peer_host(p)),
                Some(Ok(ips)) if p != me => {
                    problems.push(format!("{} resolves to {}", cluster.peer_host(p), fmt_ips(ips)))
                }
                Some(Err(e)) if p != me => problems.push(format!("{} does not resolve: {e}", cluster.peer_host(p))),
                _ => {}
            }
        }
        for (ip, names) in owners {
            if names.len() > 1 {
                problems.push(format!("{} share the address {ip}", names.join(" and ")));
            }
        }
    }
    problems
}

fn fmt_ips(ips: &[Ipv4Addr]) -> String {
    if ips.is_empty() {
        "no address".into()
    } else {
        ips.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
    }
}

/// What the system resolver answers now for the names [`check_names`] looks at.
async fn look(cluster: &Cluster) -> BTreeMap<PeerIndex, std::result::Result<Vec<Ipv4Addr>, String>> {
    let mut answers = BTreeMap::new();
    for p in cluster.peers() {
        answers.insert(p, resolve(&cluster.peer_host(p)).await);
    }
    answers
}

/// Polls until [`check_names`] is happy, up to `deadline`.
pub async fn wait(cluster: &Cluster, me: PeerIndex, my_ip: Ipv4Addr, fresh: bool, deadline: Duration) -> Result<()> {
    let last_own: std::sync::Mutex<String> = std::sync::Mutex::new("nothing".into());
    let outcome = poll::until(
        deadline,
        Backoff::new(Duration::from_millis(50), Duration::from_secs(1)),
        || async {
            let answers = look(cluster).await;
            let problems = check_names(cluster, me, my_ip, &answers, fresh);
            if problems.is_empty() {
                return Ok::<_, BootstrapError>(Poll::Ready(()));
            }
            if let Ok(mut g) = last_own.lock() {
                *g = match answers.get(&me) {
                    Some(Ok(ips)) => fmt_ips(ips),
                    Some(Err(e)) => format!("nothing ({e})"),
                    None => "nothing".into(),
                };
            }
            tracing::debug!(during = %Step::Dns, problems = ?problems, "waiting for DNS");
            let why = problems.join("; ");
            crate::progress::waiting(&format!("DNS: {why}"));
            Ok(Poll::Pending(why))
        },
    )
    .await?;
    outcome.map_err(|t| BootstrapError::DnsMismatch {
        name: cluster.peer_host(me),
        found: format!(
            "{}; all problems: {}",
            last_own.lock().map(|g| g.clone()).unwrap_or_default(),
            t.last
        ),
        expected: my_ip.to_string(),
        secs: deadline.as_secs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use steadfast_core::{ClusterName, Domain};

    #[test]
    fn table() {
        let c = Cluster::new(
            ClusterName::new("main").unwrap(),
            Domain::new("etcd.internal").unwrap(),
            3,
            3,
        )
        .unwrap();
        let me = c.peer(1).unwrap();
        let ip = |s: &str| -> Ipv4Addr { s.parse().unwrap() };
        let all = |a: &str, b: &str, cc: &str| {
            BTreeMap::from([
                (c.peer(0).unwrap(), Ok(vec![ip(a)])),
                (me, Ok(vec![ip(b)])),
                (c.peer(2).unwrap(), Ok(vec![ip(cc)])),
            ])
        };
        assert!(check_names(
            &c,
            me,
            ip("127.0.2.4"),
            &all("127.0.1.4", "127.0.2.4", "127.0.3.4"),
            true
        )
        .is_empty());
        // Own name stale.
        let p = check_names(
            &c,
            me,
            ip("127.0.2.9"),
            &all("127.0.1.4", "127.0.2.4", "127.0.3.4"),
            false,
        );
        assert_eq!(p.len(), 1);
        assert!(
            p[0].contains("peer-1.main.etcd.internal resolves to 127.0.2.4"),
            "{p:?}"
        );
        // Fresh: two names on one address.
        let p = check_names(
            &c,
            me,
            ip("127.0.2.4"),
            &all("127.0.1.4", "127.0.2.4", "127.0.1.4"),
            true,
        );
        assert!(p.iter().any(|s| s.contains("share the address 127.0.1.4")), "{p:?}");
        // Not fresh: another peer's name on this instance's address (a reused address) blocks.
        let p = check_names(
            &c,
            me,
            ip("127.0.2.4"),
            &all("127.0.2.4", "127.0.2.4", "127.0.3.4"),
            false,
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("peer-0.main.etcd.internal also resolves to this instance's address"),
            "{p:?}"
        );
        // Not fresh: others' own troubles do not matter.
        assert!(check_names(
            &c,
            me,
            ip("127.0.2.4"),
            &all("127.0.1.4", "127.0.2.4", "127.0.1.4"),
            false
        )
        .is_empty());
        // Fresh: one does not resolve.
        let mut a = all("127.0.1.4", "127.0.2.4", "127.0.3.4");
        a.insert(c.peer(2).unwrap(), Err("NXDOMAIN".into()));
        let p = check_names(&c, me, ip("127.0.2.4"), &a, true);
        assert!(p[0].contains("peer-2.main.etcd.internal does not resolve"), "{p:?}");
    }
}

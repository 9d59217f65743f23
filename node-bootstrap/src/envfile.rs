//! etcd's environment file: rendered from the cluster's vocabulary, written atomically
//! ([`crate::fsx::write_atomic`]).

use std::net::Ipv4Addr;
use std::path::Path;

use steadfast_core::vocab::{EtcdTiming, Transport, CLIENT_PORT, METRICS_PORT, PEER_PORT};
use steadfast_core::{Cluster, PeerIndex};

use crate::config::TlsPaths;

/// How etcd starts on this data dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// A fresh data dir bootstrapping through SRV discovery (`new`).
    New,
    /// The member's data is there: etcd ignores the bootstrap flags and rejoins as itself.
    Existing,
    /// A fresh data dir joining a running cluster as a learner: its membership, `existing`,
    /// and no discovery (etcd refuses both at once).
    Join { initial_cluster: String },
}

pub fn render(
    cluster: &Cluster,
    peer: PeerIndex,
    ip: Ipv4Addr,
    data_dir: &Path,
    start: &Start,
    tls: Option<&TlsPaths>,
    timing: EtcdTiming,
) -> Vec<(String, String)> {
    let transport = if tls.is_some() {
        Transport::Tls
    } else {
        Transport::Plain
    };
    let scheme = transport.scheme();
    let host = cluster.peer_host(peer);
    let mut vars = vec![
        ("ETCD_NAME".into(), cluster.member_name(peer)),
        ("ETCD_DATA_DIR".into(), data_dir.to_string_lossy().into_owned()),
        (
            "ETCD_INITIAL_ADVERTISE_PEER_URLS".into(),
            format!("{scheme}://{host}:{PEER_PORT}"),
        ),
        (
            "ETCD_ADVERTISE_CLIENT_URLS".into(),
            format!("{scheme}://{host}:{CLIENT_PORT}"),
        ),
        ("ETCD_LISTEN_PEER_URLS".into(), format!("{scheme}://{ip}:{PEER_PORT}")),
        (
            "ETCD_LISTEN_CLIENT_URLS".into(),
            format!("{scheme}://{ip}:{CLIENT_PORT}"),
        ),
        ("ETCD_LISTEN_METRICS_URLS".into(), format!("http://{ip}:{METRICS_PORT}")),
        (
            "ETCD_INITIAL_CLUSTER_TOKEN".into(),
            cluster.initial_cluster_token().to_string(),
        ),
        (
            "ETCD_INITIAL_CLUSTER_STATE".into(),
            if *start == Start::New { "new" } else { "existing" }.into(),
        ),
        ("ETCD_STRICT_RECONFIG_CHECK".into(), "true".into()),
    ];
    match start {
        Start::Join { initial_cluster } => vars.push(("ETCD_INITIAL_CLUSTER".into(), initial_cluster.clone())),
        Start::New | Start::Existing => vars.insert(2, ("ETCD_DISCOVERY_SRV".into(), cluster.cluster_domain())),
    }
    if let Some(tls) = tls {
        // Mutual TLS on both ports: one certificate serves and dials (server and client
        // authentication), every client and peer must present one from a trusted CA.
        let path = |p: &Path| p.to_string_lossy().into_owned();
        for (k, v) in [
            ("ETCD_CERT_FILE", path(&tls.cert)),
            ("ETCD_KEY_FILE", path(&tls.key)),
            ("ETCD_TRUSTED_CA_FILE", path(&tls.ca)),
            ("ETCD_CLIENT_CERT_AUTH", "true".into()),
            ("ETCD_PEER_CERT_FILE", path(&tls.cert)),
            ("ETCD_PEER_KEY_FILE", path(&tls.key)),
            ("ETCD_PEER_TRUSTED_CA_FILE", path(&tls.ca)),
            ("ETCD_PEER_CLIENT_CERT_AUTH", "true".into()),
        ] {
            vars.push((k.into(), v));
        }
    }
    vars.extend(timing.etcd_env());
    vars
}

pub fn to_text(vars: &[(String, String)]) -> String {
    let mut s = String::from("# Written by node-bootstrap prepare; do not edit (it is rewritten at every boot).\n");
    for (k, v) in vars {
        s.push_str(&format!("{k}={v}\n"));
    }
    s
}

/// Parses a file written by [`to_text`] (for `run`).
pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.trim().to_string(), v.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use steadfast_core::{ClusterName, Domain};

    #[test]
    fn renders_and_round_trips() {
        let c = Cluster::new(
            ClusterName::new("main").unwrap(),
            Domain::new("etcd.internal").unwrap(),
            9,
            3,
        )
        .unwrap();
        let vars = render(
            &c,
            c.peer(4).unwrap(),
            "127.0.2.7".parse().unwrap(),
            Path::new("/var/lib/etcd"),
            &Start::New,
            None,
            EtcdTiming::new(200, 1500).unwrap(),
        );
        let get = |k: &str| vars.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str()).unwrap();
        assert_eq!(get("ETCD_NAME"), "peer-4");
        assert_eq!(get("ETCD_DISCOVERY_SRV"), "main.etcd.internal");
        assert_eq!(
            get("ETCD_INITIAL_ADVERTISE_PEER_URLS"),
            "http://peer-4.main.etcd.internal:2380"
        );
        assert_eq!(get("ETCD_LISTEN_PEER_URLS"), "http://127.0.2.7:2380");
        assert_eq!(get("ETCD_LISTEN_METRICS_URLS"), "http://127.0.2.7:2381");
        assert_eq!(get("ETCD_INITIAL_CLUSTER_STATE"), "new");
        assert_eq!(get("ETCD_INITIAL_CLUSTER_TOKEN"), "main");
        assert_eq!(get("ETCD_STRICT_RECONFIG_CHECK"), "true");
        assert_eq!(
            (get("ETCD_HEARTBEAT_INTERVAL"), get("ETCD_ELECTION_TIMEOUT")),
            ("200", "1500")
        );
        assert!(vars.iter().all(|(k, _)| k.starts_with("ETCD_")));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("etcd.env");
        crate::fsx::write_atomic(&p, &to_text(&vars)).unwrap();
        assert_eq!(parse(&std::fs::read_to_string(&p).unwrap()), vars);
        let existing = render(
            &c,
            c.peer(4).unwrap(),
            "127.0.2.7".parse().unwrap(),
            Path::new("/x"),
            &Start::Existing,
            Some(&TlsPaths::in_dir(Path::new("/run/steadfast/tls"))),
            EtcdTiming::default(),
        );
        assert!(existing.contains(&("ETCD_INITIAL_CLUSTER_STATE".into(), "existing".into())));
        assert!(existing.contains(&(
            "ETCD_ADVERTISE_CLIENT_URLS".into(),
            "https://peer-4.main.etcd.internal:2379".into()
        )));
        // TLS: mutual authentication on both ports, from the TLS directory's files.
        for (k, v) in [
            ("ETCD_LISTEN_PEER_URLS", "https://127.0.2.7:2380"),
            ("ETCD_CLIENT_CERT_AUTH", "true"),
            ("ETCD_PEER_CLIENT_CERT_AUTH", "true"),
            ("ETCD_CERT_FILE", "/run/steadfast/tls/peer.pem"),
            ("ETCD_PEER_KEY_FILE", "/run/steadfast/tls/peer-key.pem"),
            ("ETCD_TRUSTED_CA_FILE", "/run/steadfast/tls/ca.pem"),
            ("ETCD_PEER_TRUSTED_CA_FILE", "/run/steadfast/tls/ca.pem"),
        ] {
            assert!(existing.contains(&(k.into(), v.into())), "{k}: {existing:?}");
        }
        // The metrics and /health listener stays plain http (it serves no keys).
        assert!(existing.contains(&("ETCD_LISTEN_METRICS_URLS".into(), "http://127.0.2.7:2381".into())));
        assert!(vars.iter().all(|(k, _)| !k.contains("CERT")), "plain: no TLS files");
        // A learner joining: its membership, existing, and no discovery (etcd refuses both).
        let join = render(
            &c,
            c.peer(4).unwrap(),
            "127.0.2.7".parse().unwrap(),
            Path::new("/x"),
            &Start::Join {
                initial_cluster: "peer-0=http://peer-0.main.etcd.internal:2380".into(),
            },
            None,
            EtcdTiming::default(),
        );
        assert!(join.contains(&("ETCD_INITIAL_CLUSTER_STATE".into(), "existing".into())));
        assert!(join.contains(&(
            "ETCD_INITIAL_CLUSTER".into(),
            "peer-0=http://peer-0.main.etcd.internal:2380".into()
        )));
        assert!(join.iter().all(|(k, _)| k != "ETCD_DISCOVERY_SRV"), "{join:?}");
    }
}

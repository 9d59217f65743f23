//! Every key steadfast keeps in etcd itself, named once (the strings live in vocab.json's
//! `etcd_keys`). All of them are under `steadfast/`; applications keep out of it.

use crate::vocab::{etcd_keys, Cluster, PeerIndex};

/// Prefix of the join records: `steadfast/join/peer-N` while peer N is removed and added back as
/// a learner, until it is promoted.
pub const JOIN_PREFIX: &str = etcd_keys::JOIN_PREFIX;
/// Prefix of the peers' TLS reports (what each peer's etcd runs with).
pub const TLS_STATUS_PREFIX: &str = etcd_keys::TLS_STATUS_PREFIX;
/// The lock the scheduled and on-demand backups take.
pub const BACKUP_LOCK: &str = etcd_keys::BACKUP_LOCK;
/// The lock a peer takes to restart its etcd for a new trust bundle (one peer at a time).
pub const RESTART_LOCK: &str = etcd_keys::RESTART_LOCK;
/// The lock a peer takes to change membership while it joins (one peer at a time).
pub const JOIN_LOCK: &str = etcd_keys::JOIN_LOCK;
/// Read (never written) by `ready`: a linearizable read through the leader proves the member
/// serves.
pub const READY_PROBE: &str = etcd_keys::READY_PROBE;
/// Read (count only, never written) by the backup for the store's revision.
pub const REVISION_PROBE: &str = etcd_keys::REVISION_PROBE;

/// The join record of `peer`.
pub fn join(cluster: &Cluster, peer: PeerIndex) -> String {
    format!("{JOIN_PREFIX}{}", cluster.member_name(peer))
}

/// The key peer `peer` reports its TLS under: `steadfast/tls/peer-N`.
pub fn tls_status(cluster: &Cluster, peer: PeerIndex) -> String {
    format!("{TLS_STATUS_PREFIX}{}", cluster.member_name(peer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{ClusterName, Domain};

    #[test]
    fn keys_name_the_member_and_stay_under_steadfast() {
        let c = Cluster::new(
            ClusterName::new("main").unwrap(),
            Domain::new("etcd.internal").unwrap(),
            9,
            3,
        )
        .unwrap();
        let p = c.peer(2).unwrap();
        assert_eq!(join(&c, p), "steadfast/join/peer-2");
        assert_eq!(tls_status(&c, p), "steadfast/tls/peer-2");
        for k in [
            JOIN_PREFIX,
            TLS_STATUS_PREFIX,
            BACKUP_LOCK,
            RESTART_LOCK,
            JOIN_LOCK,
            READY_PROBE,
            REVISION_PROBE,
        ] {
            assert!(k.starts_with("steadfast/"), "{k}");
        }
    }
}

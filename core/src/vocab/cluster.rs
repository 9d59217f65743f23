//! The cluster and the names derived from it: cluster name, zone domain, peer index, and the
//! [`Cluster`] that formats every peer, record, group, hook and label name from the templates in
//! vocab.json.

use std::fmt;
use std::str::FromStr;

use super::{names, Tags, TAG_CLUSTER, TAG_PEER};
use crate::error::{Error, Result};

/// Fills a vocab.json name template.
fn fill(template: &str, cluster: &str, peer: Option<u32>) -> String {
    let s = template.replace("{cluster}", cluster);
    match peer {
        Some(n) => s.replace("{peer}", &n.to_string()),
        None => s,
    }
}

/// A cluster name: one DNS label (RFC 1123), lower case, 1..=63 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClusterName(String);

impl ClusterName {
    pub fn new(name: &str) -> Result<Self> {
        validate_label(name).map_err(|reason| Error::Invalid {
            what: "cluster name",
            value: name.to_string(),
            reason,
        })?;
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClusterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ClusterName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

fn validate_label(label: &str) -> std::result::Result<(), String> {
    if label.is_empty() {
        return Err("must not be empty".into());
    }
    if label.len() > 63 {
        return Err(format!(
            "is {} characters long; a DNS label holds at most 63",
            label.len()
        ));
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "contains {c:?}; only lower-case letters, digits and '-' are allowed"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err("must not start or end with '-'".into());
    }
    Ok(())
}

/// A DNS domain (the private hosted zone's name), stored lower case without the trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Domain(String);

impl Domain {
    pub fn new(domain: &str) -> Result<Self> {
        let d = domain.trim_end_matches('.').to_ascii_lowercase();
        let invalid = |reason: String| Error::Invalid {
            what: "domain",
            value: domain.to_string(),
            reason,
        };
        if d.is_empty() {
            return Err(invalid("must not be empty".into()));
        }
        if d.len() > 200 {
            return Err(invalid("is too long to hold peer names".into()));
        }
        for label in d.split('.') {
            validate_label(label).map_err(|r| invalid(format!("label {label:?} {r}")))?;
        }
        Ok(Self(d))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A peer's index, `0..peer_count`. Only a [`Cluster`] hands these out, so an index is always
/// in range for the cluster it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerIndex(u32);

impl PeerIndex {
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for PeerIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Whether etcd talks TLS; decides the SRV record names and the URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls,
}

impl Transport {
    /// `Tls` when `tls` is set (the `STEADFAST_TLS` flag).
    pub fn from_flag(tls: bool) -> Self {
        if tls {
            Transport::Tls
        } else {
            Transport::Plain
        }
    }

    /// The URL scheme of etcd's client and peer URLs.
    pub fn scheme(self) -> &'static str {
        match self {
            Transport::Plain => "http",
            Transport::Tls => "https",
        }
    }
}

/// The names a certificate is valid for (its subject alternative names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sans {
    pub dns: Vec<String>,
    pub ips: Vec<std::net::IpAddr>,
}

/// Checks a cluster's size: `peer_count` odd, 3..=99; `zone_count` 1..=`peer_count`.
pub fn validate_sizes(peer_count: u32, zone_count: u32) -> Result<()> {
    if peer_count < 3 || peer_count % 2 == 0 {
        return Err(Error::Invalid {
            what: "peer count",
            value: peer_count.to_string(),
            reason: "must be odd and at least 3".into(),
        });
    }
    if peer_count > 99 {
        return Err(Error::Invalid {
            what: "peer count",
            value: peer_count.to_string(),
            reason: "must be at most 99".into(),
        });
    }
    if zone_count == 0 || zone_count > peer_count {
        return Err(Error::Invalid {
            what: "zone count",
            value: zone_count.to_string(),
            reason: format!("must be between 1 and the peer count ({peer_count})"),
        });
    }
    Ok(())
}

/// A cluster: its name, its zone domain and its size. All names derive from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    name: ClusterName,
    domain: Domain,
    peer_count: u32,
    zone_count: u32,
}

impl Cluster {
    /// `peer_count` must be odd and at least 3; `zone_count` at least 1 and at most `peer_count`.
    pub fn new(name: ClusterName, domain: Domain, peer_count: u32, zone_count: u32) -> Result<Self> {
        validate_sizes(peer_count, zone_count)?;
        Ok(Self {
            name,
            domain,
            peer_count,
            zone_count,
        })
    }

    pub fn name(&self) -> &ClusterName {
        &self.name
    }

    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    pub fn peer_count(&self) -> u32 {
        self.peer_count
    }

    pub fn zone_count(&self) -> u32 {
        self.zone_count
    }

    /// Quorum: a majority of the peers.
    pub fn quorum(&self) -> u32 {
        self.peer_count / 2 + 1
    }

    /// The index `n`, if it is in range.
    pub fn peer(&self, n: u32) -> Result<PeerIndex> {
        if n < self.peer_count {
            Ok(PeerIndex(n))
        } else {
            Err(Error::Invalid {
                what: "peer index",
                value: n.to_string(),
                reason: format!("must be below the peer count {}", self.peer_count),
            })
        }
    }

    /// All peers in order.
    pub fn peers(&self) -> impl Iterator<Item = PeerIndex> {
        (0..self.peer_count).map(PeerIndex)
    }

    /// Parses the value of a [`TAG_PEER`] tag.
    pub fn parse_peer_tag(&self, value: &str) -> Result<PeerIndex> {
        let n: u32 = value.trim().parse().map_err(|_| Error::Invalid {
            what: "peer tag",
            value: value.to_string(),
            reason: format!("{TAG_PEER} must be a number in 0..{}", self.peer_count),
        })?;
        if value.trim() != n.to_string() {
            return Err(Error::Invalid {
                what: "peer tag",
                value: value.to_string(),
                reason: "must be a plain decimal number".into(),
            });
        }
        self.peer(n)
    }

    /// Zone index (0-based) of a peer: `N mod Z`.
    pub fn zone_of(&self, peer: PeerIndex) -> u32 {
        peer.0 % self.zone_count
    }

    /// Peers that live in zone `z`.
    pub fn peers_in_zone(&self, z: u32) -> Vec<PeerIndex> {
        self.peers().filter(|p| self.zone_of(*p) == z).collect()
    }

    /// `C.D`, without a trailing dot: the domain etcd's `--discovery-srv` is given.
    pub fn cluster_domain(&self) -> String {
        format!("{}.{}", self.name, self.domain)
    }

    /// `peer-N`: the etcd member name.
    pub fn member_name(&self, peer: PeerIndex) -> String {
        fill(names::MEMBER, self.name.as_str(), Some(peer.0))
    }

    /// The Auto Scaling group of a peer: `C-peer-N` (the Terraform module and the sandbox use it;
    /// peer-dns finds groups by tag, never by name).
    pub fn group_name(&self, peer: PeerIndex) -> String {
        fill(names::GROUP, self.name.as_str(), Some(peer.0))
    }

    /// The LAUNCHING lifecycle hook on every peer's group: `C-launching` (Terraform names it the
    /// same way, from the same template).
    pub fn lifecycle_hook_name(&self) -> String {
        fill(names::LIFECYCLE_HOOK, self.name.as_str(), None)
    }

    /// The EventBridge rule that schedules peer-dns's sweep: `C-peer-dns-sweep` (Terraform names
    /// it from the same template; the sandbox's scheduled events carry it).
    pub fn sweep_rule_name(&self) -> String {
        fill(names::SWEEP_RULE, self.name.as_str(), None)
    }

    /// `peer-N.C.D` without a trailing dot.
    pub fn peer_host(&self, peer: PeerIndex) -> String {
        format!("{}.{}", self.member_name(peer), self.cluster_domain())
    }

    /// `peer-N.C.D.` as Route 53 returns it (fully qualified).
    pub fn peer_record_name(&self, peer: PeerIndex) -> String {
        format!("{}.", self.peer_host(peer))
    }

    /// Which peer a record name belongs to, if it is one of this cluster's `peer-N` names.
    pub fn peer_of_record(&self, record_name: &str) -> Option<PeerIndex> {
        let name = record_name.trim_end_matches('.').to_ascii_lowercase();
        let suffix = format!(".{}", self.cluster_domain());
        let label = name.strip_suffix(&suffix)?;
        let prefix = names::MEMBER.split("{peer}").next().unwrap_or_default();
        let n = label.strip_prefix(prefix)?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0')) {
            return None;
        }
        self.peer(n.parse().ok()?).ok()
    }

    /// The Secrets Manager secret that holds the cluster's CA (`steadfast/C/ca`; Terraform scopes
    /// the node roles' IAM to the same name, from the same template).
    pub fn ca_secret_name(&self) -> String {
        fill(names::CA_SECRET, self.name.as_str(), None)
    }

    /// The CloudWatch namespace this cluster's nodes publish in (`Steadfast/C`).
    pub fn metric_namespace(&self) -> String {
        super::metric_namespace(self.name.as_str())
    }

    /// The stable client endpoint, `etcd.C.D` (vocab.json `names.client_endpoint`): the name of
    /// the client load balancer that the module's `client_endpoint` output gives users.
    pub fn client_endpoint(&self) -> String {
        super::names::CLIENT_ENDPOINT
            .replace("{cluster}", self.name.as_str())
            .replace("{domain}", self.domain.as_str())
    }

    /// What a peer's certificate (server and peer, both ports) is valid for: its stable name
    /// `peer-N.C.D` (what peers and clients dial), the cluster domain `C.D` (the server name
    /// etcd and etcdctl check with `--discovery-srv`), the client endpoint `etcd.C.D` (a client
    /// through the load balancer checks that name, and the balancer passes TLS through to any
    /// peer), its instance address (the address other peers see it connect from, which etcd
    /// checks a peer's client certificate against), and `localhost`/`127.0.0.1` for local tools.
    pub fn peer_sans(&self, peer: PeerIndex, ip: std::net::Ipv4Addr) -> Sans {
        let mut ips = vec![std::net::IpAddr::V4(ip)];
        if ip != std::net::Ipv4Addr::LOCALHOST {
            ips.push(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        }
        Sans {
            dns: vec![
                self.peer_host(peer),
                self.cluster_domain(),
                self.client_endpoint(),
                "localhost".into(),
            ],
            ips,
        }
    }

    /// The SRV record etcd peers discover each other through.
    pub fn server_srv_name(&self, transport: Transport) -> String {
        match transport {
            Transport::Plain => format!("_etcd-server._tcp.{}.", self.cluster_domain()),
            Transport::Tls => format!("_etcd-server-ssl._tcp.{}.", self.cluster_domain()),
        }
    }

    /// The SRV record clients discover the cluster through.
    pub fn client_srv_name(&self, transport: Transport) -> String {
        match transport {
            Transport::Plain => format!("_etcd-client._tcp.{}.", self.cluster_domain()),
            Transport::Tls => format!("_etcd-client-ssl._tcp.{}.", self.cluster_domain()),
        }
    }

    /// SRV values (`priority weight port target`) for every peer on `port`.
    pub fn srv_values(&self, port: u16) -> Vec<String> {
        self.peers()
            .map(|p| format!("0 0 {port} {}", self.peer_record_name(p)))
            .collect()
    }

    /// The initial cluster token: the cluster name (unique per cluster, DESIGN).
    pub fn initial_cluster_token(&self) -> &str {
        self.name.as_str()
    }

    /// ext4 label of a peer's data volume. ext4 labels hold at most 16 bytes, so it carries the
    /// peer index only; the cluster is checked through the volume's tags.
    pub fn fs_label(&self, peer: PeerIndex) -> String {
        fill(names::FS_LABEL, self.name.as_str(), Some(peer.0))
    }

    /// The tags an ASG, instance or volume of `peer` carries.
    pub fn peer_tags(&self, peer: PeerIndex) -> Tags {
        Tags::from_pairs([
            (TAG_CLUSTER, self.name.as_str()),
            (TAG_PEER, peer.0.to_string().as_str()),
        ])
    }

    /// Reads (cluster, peer) from a resource's tags. `Ok(None)` when the tags belong to no cluster
    /// or to another cluster; an error when they claim this cluster but the peer tag is missing
    /// or malformed.
    pub fn peer_from_tags(&self, tags: &Tags) -> Result<Option<PeerIndex>> {
        match tags.cluster() {
            Some(c) if c == self.name.as_str() => match tags.get(TAG_PEER) {
                Some(p) => self.parse_peer_tag(p).map(Some),
                None => Err(Error::MissingTag {
                    tag: TAG_PEER,
                    resource: format!("a resource tagged {TAG_CLUSTER}={c}"),
                }),
            },
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(n: u32) -> Cluster {
        Cluster::new(
            ClusterName::new("main").unwrap(),
            Domain::new("etcd.internal.").unwrap(),
            n,
            3,
        )
        .unwrap()
    }

    #[test]
    fn a_peer_certificate_carries_every_name_a_client_dials() {
        let c = cluster(9);
        assert_eq!(c.client_endpoint(), "etcd.main.etcd.internal");
        let sans = c.peer_sans(c.peer(4).unwrap(), "10.0.1.7".parse().unwrap());
        for name in [
            "peer-4.main.etcd.internal",
            "main.etcd.internal",
            "etcd.main.etcd.internal",
            "localhost",
        ] {
            assert!(sans.dns.iter().any(|d| d == name), "{name}: {sans:?}");
        }
        assert_eq!(sans.ips.len(), 2);
    }

    #[test]
    fn cluster_names_are_dns_labels() {
        for ok in ["a", "main", "etcd-1", "x".repeat(63).as_str()] {
            assert!(ClusterName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "Main", "a.b", "a_b", "x".repeat(64).as_str(), "é"] {
            let err = ClusterName::new(bad).unwrap_err().to_string();
            assert!(err.contains("cluster name"), "{bad}: {err}");
        }
    }

    #[test]
    fn domains_are_normalised_and_checked() {
        assert_eq!(Domain::new("Etcd.Internal.").unwrap().as_str(), "etcd.internal");
        for bad in ["", ".", "a..b", "-x.y", "a b.c"] {
            assert!(Domain::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn peer_count_must_be_odd_and_at_least_three() {
        let name = ClusterName::new("c").unwrap();
        let d = Domain::new("d").unwrap();
        for bad in [0, 1, 2, 4, 8, 10, 101] {
            let err = Cluster::new(name.clone(), d.clone(), bad, 3).unwrap_err();
            assert!(err.to_string().contains("peer count"), "{bad}: {err}");
        }
        for ok in [3, 5, 7, 9, 11] {
            assert!(Cluster::new(name.clone(), d.clone(), ok, 3).is_ok());
        }
        assert!(Cluster::new(name.clone(), d.clone(), 3, 0).is_err());
        assert!(Cluster::new(name, d, 3, 4).is_err());
    }

    #[test]
    fn peer_index_in_range() {
        let c = cluster(9);
        assert!(c.peer(8).is_ok());
        assert!(c.peer(9).unwrap_err().to_string().contains("peer index"));
        assert_eq!(c.parse_peer_tag("4").unwrap().get(), 4);
        for bad in ["9", "-1", "x", "", "04", "4.0"] {
            assert!(c.parse_peer_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        let c = cluster(9);
        let p = c.peer(4).unwrap();
        assert_eq!(c.cluster_domain(), "main.etcd.internal");
        assert_eq!(c.peer_record_name(p), "peer-4.main.etcd.internal.");
        assert_eq!(c.member_name(p), "peer-4");
        assert_eq!(c.zone_of(p), 1);
        assert_eq!(
            c.server_srv_name(Transport::Tls),
            "_etcd-server-ssl._tcp.main.etcd.internal."
        );
        assert_eq!(
            c.client_srv_name(Transport::Plain),
            "_etcd-client._tcp.main.etcd.internal."
        );
        assert_eq!(c.srv_values(2380).len(), 9);
        assert_eq!(c.srv_values(2380)[0], "0 0 2380 peer-0.main.etcd.internal.");
        assert_eq!(
            c.peers_in_zone(0).iter().map(|p| p.get()).collect::<Vec<_>>(),
            vec![0, 3, 6]
        );
        assert_eq!(c.quorum(), 5);
        assert_eq!(c.fs_label(p), "steadfast-4");
        assert!(c.fs_label(c.peer(8).unwrap()).len() <= 16);
    }

    #[test]
    fn record_names_map_back_to_peers() {
        let c = cluster(9);
        assert_eq!(c.peer_of_record("peer-3.main.etcd.internal.").map(|p| p.get()), Some(3));
        assert_eq!(c.peer_of_record("PEER-3.main.etcd.internal").map(|p| p.get()), Some(3));
        for other in [
            "peer-9.main.etcd.internal.",
            "peer-03.main.etcd.internal.",
            "peer-.main.etcd.internal.",
            "peer-3.other.etcd.internal.",
            "_etcd-server._tcp.main.etcd.internal.",
            "xpeer-3.main.etcd.internal.",
        ] {
            assert_eq!(c.peer_of_record(other), None, "{other}");
        }
    }

    #[test]
    fn tags() {
        let c = cluster(9);
        assert_eq!(
            c.peer_from_tags(&Tags::from_pairs([(TAG_CLUSTER, "main"), (TAG_PEER, "2")]))
                .unwrap()
                .map(|p| p.get()),
            Some(2)
        );
        assert_eq!(
            c.peer_from_tags(&Tags::from_pairs([(TAG_CLUSTER, "other"), (TAG_PEER, "2")]))
                .unwrap(),
            None
        );
        assert_eq!(c.peer_from_tags(&Tags::from_pairs([("Name", "x")])).unwrap(), None);
        let err = c
            .peer_from_tags(&Tags::from_pairs([(TAG_CLUSTER, "main")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(TAG_PEER), "{err}");
        assert!(c
            .peer_from_tags(&Tags::from_pairs([(TAG_CLUSTER, "main"), (TAG_PEER, "12")]))
            .is_err());
        let tags = c.peer_tags(c.peer(1).unwrap());
        assert_eq!(tags.cluster(), Some("main"));
        assert_eq!(tags.get(TAG_PEER), Some("1"));
        assert_eq!(c.lifecycle_hook_name(), "main-launching");
        assert_eq!(c.sweep_rule_name(), "main-peer-dns-sweep");
        assert_eq!(c.group_name(c.peer(1).unwrap()), "main-peer-1");
    }
}

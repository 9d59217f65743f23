//! The placeholder scheme: peer N's seeded A record holds host `N + HOST_OFFSET` of one network
//! where nothing answers. Terraform seeds the records with it; peer-dns moves a stale record
//! back to it; node-bootstrap and the sandbox recognise it.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use super::gen::placeholder::{DEFAULT_NETWORK, HOST_OFFSET};
use super::PeerIndex;
use crate::error::{Error, Result};

/// An IPv4 network (`a.b.c.d/len`) that holds the placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaceholderNetwork {
    base: Ipv4Addr,
    prefix: u8,
}

impl Default for PlaceholderNetwork {
    fn default() -> Self {
        // The default is a literal in vocab.json; a test proves it parses.
        DEFAULT_NETWORK.parse().unwrap_or(Self {
            base: Ipv4Addr::new(192, 0, 2, 0),
            prefix: 24,
        })
    }
}

impl PlaceholderNetwork {
    /// How many peers the network has room for.
    pub fn capacity(&self) -> u32 {
        let hosts = if self.prefix >= 31 {
            0
        } else {
            (1u64 << (32 - self.prefix)) - 2
        };
        hosts
            .saturating_sub(u64::from(HOST_OFFSET) - 1)
            .min(u64::from(u32::MAX)) as u32
    }

    /// Checks that `peer_count` placeholders fit.
    pub fn check_room(&self, peer_count: u32) -> Result<()> {
        if peer_count > self.capacity() {
            return Err(Error::Invalid {
                what: "placeholder network",
                value: self.to_string(),
                reason: format!("has room for {} peers, not {peer_count}", self.capacity()),
            });
        }
        Ok(())
    }

    /// Peer `peer`'s placeholder address.
    pub fn address(&self, peer: PeerIndex) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base).wrapping_add(peer.get() + HOST_OFFSET))
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        };
        u32::from(ip) & mask == u32::from(self.base)
    }
}

impl FromStr for PlaceholderNetwork {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::Invalid {
            what: "placeholder network",
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let (ip, len) = s
            .split_once('/')
            .ok_or_else(|| invalid("must be a CIDR like 192.0.2.0/24"))?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| invalid("not an IPv4 address"))?;
        let prefix: u8 = len.parse().map_err(|_| invalid("prefix length must be a number"))?;
        if !(8..=30).contains(&prefix) {
            return Err(invalid("prefix length must be between 8 and 30"));
        }
        let mask = u32::MAX << (32 - prefix);
        if u32::from(ip) & !mask != 0 {
            return Err(invalid("host bits are set; give the network address"));
        }
        Ok(Self { base: ip, prefix })
    }
}

impl fmt::Display for PlaceholderNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{Cluster, ClusterName, Domain};

    #[test]
    fn addresses_are_distinct_and_recognised() {
        let c = Cluster::new(ClusterName::new("c").unwrap(), Domain::new("d").unwrap(), 9, 3).unwrap();
        let def = PlaceholderNetwork::default();
        assert_eq!(def.to_string(), DEFAULT_NETWORK);
        assert_eq!(def.address(c.peer(0).unwrap()), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(def.address(c.peer(8).unwrap()), Ipv4Addr::new(192, 0, 2, 9));
        let lo: PlaceholderNetwork = "127.0.255.0/24".parse().unwrap();
        assert_eq!(lo.address(c.peer(4).unwrap()), Ipv4Addr::new(127, 0, 255, 5));
        assert!(lo.contains(Ipv4Addr::new(127, 0, 255, 5)));
        assert!(!lo.contains(Ipv4Addr::new(127, 0, 1, 5)));
        assert!(def.check_room(99).is_ok());
        let tiny: PlaceholderNetwork = "10.0.0.0/30".parse().unwrap();
        assert!(tiny.check_room(3).is_err());
        for bad in ["10.0.0.1/24", "10.0.0.0", "10.0.0.0/33", "x/24", "10.0.0.0/4"] {
            assert!(bad.parse::<PlaceholderNetwork>().is_err(), "{bad}");
        }
    }
}

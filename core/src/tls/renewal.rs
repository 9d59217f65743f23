//! `plan_renewal`: what a node does with its certificate and its CA file, decided from what is
//! on its disk and what the CA secret says (pure; table-tested).
//!
//! etcd 3.5 reads its certificate and key again at every new TLS handshake, so a re-issued
//! certificate takes effect without a restart. It reads the trusted CA file only when it starts,
//! so a changed trust bundle takes a restart (one peer at a time, leadership moved first).

use super::cert::CertInfo;
use crate::vocab::Sans;

/// What the node has now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnDisk {
    /// Its certificate, if one is there and readable.
    pub leaf: Option<CertInfo>,
    /// Fingerprints of the CA file's certificates, if it is there and readable.
    pub trust: Option<Vec<String>>,
}

/// What it should have.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    /// The CA that issues certificates now.
    pub signing: &'a CertInfo,
    /// Fingerprints of the CAs to trust, in order.
    pub trust: &'a [String],
    pub sans: &'a Sans,
}

/// Why a certificate is issued again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// No certificate (a new node, or an unreadable file).
    Missing,
    /// Less than a third of its lifetime left.
    Expiring { left_secs: i64, lifetime_secs: i64 },
    /// Issued by a CA that no longer signs (a rotation's second phase).
    NewSigningCa { issuer: String },
    /// Its names are not this peer's now (another address).
    NamesChanged,
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    /// Issue a new certificate, and why.
    pub issue: Option<Why>,
    /// The CA file differs from the trusted CAs: write it (and restart a running etcd).
    pub retrust: bool,
}

impl Renewal {
    pub fn is_nothing(&self) -> bool {
        self.issue.is_none() && !self.retrust
    }
}

/// Renew when less than this share of a certificate's lifetime is left.
pub const RENEW_WHEN_LEFT: (i64, i64) = (1, 3);

pub fn plan_renewal(disk: &OnDisk, want: Wanted<'_>, now: i64) -> Renewal {
    let issue = match &disk.leaf {
        None => Some(Why::Missing),
        Some(leaf) if leaf.issuer != want.signing.subject => Some(Why::NewSigningCa {
            issuer: leaf.issuer.clone(),
        }),
        Some(leaf) if !leaf.covers_exactly(want.sans) => Some(Why::NamesChanged),
        Some(leaf) if leaf.seconds_left(now) * RENEW_WHEN_LEFT.1 < leaf.lifetime() * RENEW_WHEN_LEFT.0 => {
            Some(Why::Expiring {
                left_secs: leaf.seconds_left(now),
                lifetime_secs: leaf.lifetime(),
            })
        }
        Some(_) => None,
    };
    let retrust = disk.trust.as_deref() != Some(want.trust);
    Renewal { issue, retrust }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    const NOW: i64 = 1_780_000_000;
    const DAY: i64 = 86400;

    fn sans(ip: u8) -> Sans {
        Sans {
            dns: vec!["peer-1.main.etcd.internal".into(), "main.etcd.internal".into()],
            ips: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 1, ip))],
        }
    }

    fn ca(name: &str) -> CertInfo {
        CertInfo {
            subject: format!("O=steadfast, CN={name}"),
            issuer: format!("O=steadfast, CN={name}"),
            serial: "01".into(),
            not_before: NOW - 100 * DAY,
            not_after: NOW + 3000 * DAY,
            fingerprint: format!("fp-{name}"),
            dns: vec![],
            ips: vec![],
            is_ca: true,
        }
    }

    fn leaf(issuer: &str, ip: u8, issued: i64, days: i64) -> CertInfo {
        let s = sans(ip);
        CertInfo {
            subject: "O=steadfast, CN=peer-1".into(),
            issuer: format!("O=steadfast, CN={issuer}"),
            serial: "02".into(),
            not_before: issued,
            not_after: issued + days * DAY,
            fingerprint: "fp-leaf".into(),
            dns: s.dns,
            ips: s.ips,
            is_ca: false,
        }
    }

    #[test]
    fn table() {
        let a = ca("A");
        let trust_a = vec!["fp-A".to_string()];
        let trust_ab = vec!["fp-A".to_string(), "fp-B".to_string()];
        let b = ca("B");
        let want_sans = sans(7);
        struct Case {
            name: &'static str,
            disk: OnDisk,
            signing: &'static str,
            trust: Vec<String>,
            now: i64,
            issue: Option<Why>,
            retrust: bool,
        }
        let fresh = |issuer: &str| Some(leaf(issuer, 7, NOW - DAY, 30));
        let cases = [
            Case {
                name: "a new node: issue and write the CA file",
                disk: OnDisk::default(),
                signing: "A",
                trust: trust_a.clone(),
                now: NOW,
                issue: Some(Why::Missing),
                retrust: true,
            },
            Case {
                name: "all in order: nothing",
                disk: OnDisk {
                    leaf: fresh("A"),
                    trust: Some(trust_a.clone()),
                },
                signing: "A",
                trust: trust_a.clone(),
                now: NOW,
                issue: None,
                retrust: false,
            },
            Case {
                name: "just over a third left: nothing yet",
                disk: OnDisk {
                    leaf: fresh("A"),
                    trust: Some(trust_a.clone()),
                },
                signing: "A",
                trust: trust_a.clone(),
                now: NOW - DAY + 20 * DAY - 1,
                issue: None,
                retrust: false,
            },
            Case {
                name: "under a third left: renew",
                disk: OnDisk {
                    leaf: fresh("A"),
                    trust: Some(trust_a.clone()),
                },
                signing: "A",
                trust: trust_a.clone(),
                now: NOW - DAY + 20 * DAY + 1,
                issue: Some(Why::Expiring {
                    left_secs: 10 * DAY - 1,
                    lifetime_secs: 30 * DAY,
                }),
                retrust: false,
            },
            Case {
                name: "expired: renew",
                disk: OnDisk {
                    leaf: fresh("A"),
                    trust: Some(trust_a.clone()),
                },
                signing: "A",
                trust: trust_a.clone(),
                now: NOW + 40 * DAY,
                issue: Some(Why::Expiring {
                    left_secs: -11 * DAY,
                    lifetime_secs: 30 * DAY,
                }),
                retrust: false,
            },
            Case {
                name: "rotation phase 1 (trust both): a restart to trust B, the certificate stays",
                disk: OnDisk {
                    leaf: fresh("A"),
                    trust: Some(trust_a.clone()),
                },
                signing: "A",
                trust: trust_ab.clone(),
                now: NOW,
                issue: None,
                retrust: true,
            },
            Case {
                name: "rotation phase 2 (B signs): re-issue from B, no restart",
                disk: OnDisk {
                    leaf: fresh("A"),
                    trust: Some(trust_ab.clone()),
                },
                signing: "B",
                trust: trust_ab.clone(),
                now: NOW,
                issue: Some(Why::NewSigningCa {
                    issuer: "O=steadfast, CN=A".into(),
                }),
                retrust: false,
            },
            Case {
                name: "rotation phase 3 (drop A): a restart to trust B only",
                disk: OnDisk {
                    leaf: fresh("B"),
                    trust: Some(trust_ab.clone()),
                },
                signing: "B",
                trust: vec!["fp-B".into()],
                now: NOW,
                issue: None,
                retrust: true,
            },
            Case {
                name: "another address: re-issue for the new names",
                disk: OnDisk {
                    leaf: Some(leaf("A", 9, NOW - DAY, 30)),
                    trust: Some(trust_a.clone()),
                },
                signing: "A",
                trust: trust_a.clone(),
                now: NOW,
                issue: Some(Why::NamesChanged),
                retrust: false,
            },
            Case {
                name: "an unreadable CA file is rewritten",
                disk: OnDisk {
                    leaf: fresh("A"),
                    trust: None,
                },
                signing: "A",
                trust: trust_a.clone(),
                now: NOW,
                issue: None,
                retrust: true,
            },
        ];
        for c in cases {
            let signing = if c.signing == "A" { &a } else { &b };
            let got = plan_renewal(
                &c.disk,
                Wanted {
                    signing,
                    trust: &c.trust,
                    sans: &want_sans,
                },
                c.now,
            );
            assert_eq!(
                got,
                Renewal {
                    issue: c.issue,
                    retrust: c.retrust
                },
                "{}",
                c.name
            );
        }
    }
}

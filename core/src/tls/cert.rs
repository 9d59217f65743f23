//! Certificates issued from the cluster's CA, and what a certificate says about itself.
//!
//! All X.509 work is done by maintained crates: `rcgen` builds and signs, `x509-parser` reads.
//! Keys are ECDSA P-256. Times are seconds since the epoch, given by the caller (the planners
//! and the tests decide "now", never this module).

use std::net::IpAddr;

use rand::Rng;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

use crate::error::{Error, Result};
use crate::vocab::Sans;

/// A certificate and its private key, both PEM. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for KeyedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let info = CertInfo::parse(&self.cert_pem).ok();
        f.debug_struct("KeyedCert")
            .field("subject", &info.as_ref().map(|i| i.subject.as_str()))
            .field("fingerprint", &info.as_ref().map(|i| i.fingerprint.as_str()))
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// What a certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// Hex, as `openssl x509 -serial` prints it (lower case, colon-free).
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
    /// SHA-256 of the DER, hex: one certificate's identity.
    pub fingerprint: String,
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub is_ca: bool,
}

fn invalid(what: &'static str, value: impl Into<String>, reason: impl std::fmt::Display) -> Error {
    Error::Invalid {
        what,
        value: value.into(),
        reason: reason.to_string(),
    }
}

fn rcgen_err(what: &'static str) -> impl Fn(rcgen::Error) -> Error {
    move |e| invalid(what, "", e)
}

impl CertInfo {
    /// The first certificate of `pem`.
    pub fn parse(pem: &str) -> Result<Self> {
        let first = Pem::iter_from_buffer(pem.as_bytes())
            .next()
            .ok_or_else(|| invalid("certificate", short(pem), "no PEM block"))?
            .map_err(|e| invalid("certificate", short(pem), e))?;
        Self::from_pem_block(&first)
    }

    /// Every certificate of a bundle, in order.
    pub fn parse_bundle(pem: &str) -> Result<Vec<Self>> {
        let mut out = Vec::new();
        for block in Pem::iter_from_buffer(pem.as_bytes()) {
            let block = block.map_err(|e| invalid("certificate bundle", short(pem), e))?;
            if block.label == "CERTIFICATE" {
                out.push(Self::from_pem_block(&block)?);
            }
        }
        if out.is_empty() {
            return Err(invalid("certificate bundle", short(pem), "holds no certificate"));
        }
        Ok(out)
    }

    fn from_pem_block(block: &Pem) -> Result<Self> {
        if block.label != "CERTIFICATE" {
            return Err(invalid(
                "certificate",
                block.label.clone(),
                "not a CERTIFICATE PEM block",
            ));
        }
        let cert = block.parse_x509().map_err(|e| invalid("certificate", "PEM block", e))?;
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => dns.push(d.to_string()),
                    GeneralName::IPAddress(b) => match b.len() {
                        4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default())),
                        16 => ips.push(IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default())),
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
        Ok(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: cert.raw_serial_as_string().replace(':', ""),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            fingerprint: hex(&Sha256::digest(&block.contents)),
            dns,
            ips,
            is_ca: cert.is_ca(),
        })
    }

    /// Whole seconds of validity left at `now` (negative once expired).
    pub fn seconds_left(&self, now: i64) -> i64 {
        self.not_after - now
    }

    /// The time it was issued for: not-after minus not-before.
    pub fn lifetime(&self) -> i64 {
        self.not_after - self.not_before
    }

    /// Whether it is valid for exactly `sans` (order aside).
    pub fn covers_exactly(&self, sans: &Sans) -> bool {
        let mut have_dns = self.dns.clone();
        let mut want_dns = sans.dns.clone();
        have_dns.sort();
        want_dns.sort();
        let mut have_ips = self.ips.clone();
        let mut want_ips = sans.ips.clone();
        have_ips.sort();
        want_ips.sort();
        have_dns == want_dns && have_ips == want_ips
    }
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn when(secs: i64, what: &'static str) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| invalid(what, secs.to_string(), e))
}

/// A random positive 128-bit serial (RFC 5280: unique per CA, at most 20 octets).
fn serial() -> SerialNumber {
    let mut b = [0u8; 16];
    rand::rng().fill(&mut b);
    b[0] &= 0x7f;
    b[0] |= 0x01;
    SerialNumber::from_slice(&b)
}

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::OrganizationName, "steadfast");
    d.push(DnType::CommonName, cn);
    d
}

/// How far back a certificate's not-before is set, for clocks a little behind ours: 5 minutes,
/// or a twentieth of a short validity (a 2-minute certificate is backdated 6 s).
fn backdate(validity_secs: i64) -> i64 {
    (validity_secs / 20).clamp(0, 300)
}

/// A new self-signed CA named `common_name`, valid from `now` for `validity_secs`. It may sign
/// leaves only (path length 0).
pub fn new_ca(common_name: &str, now: i64, validity_secs: i64) -> Result<KeyedCert> {
    if validity_secs <= 0 {
        return Err(invalid("CA validity", validity_secs.to_string(), "must be positive"));
    }
    let key = KeyPair::generate().map_err(rcgen_err("CA key"))?;
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(common_name);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = when(now - backdate(validity_secs), "CA not-before")?;
    p.not_after = when(now + validity_secs, "CA not-after")?;
    p.serial_number = Some(serial());
    let cert = p.self_signed(&key).map_err(rcgen_err("CA certificate"))?;
    Ok(KeyedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A peer's certificate: etcd serves both ports with it and dials other peers with it, and
    /// node-bootstrap calls etcd with it (server and client authentication).
    Peer,
    /// An application's client certificate (client authentication only).
    Client,
}

/// Issues a certificate from `ca` for `common_name`, valid for `sans`, from `now` for
/// `validity_secs`, with a fresh key.
pub fn issue(
    ca: &KeyedCert,
    common_name: &str,
    sans: &Sans,
    usage: Usage,
    now: i64,
    validity_secs: i64,
) -> Result<KeyedCert> {
    if validity_secs <= 0 {
        return Err(invalid(
            "certificate validity",
            validity_secs.to_string(),
            "must be positive",
        ));
    }
    let ca_info = CertInfo::parse(&ca.cert_pem)?;
    if !ca_info.is_ca {
        return Err(invalid("CA certificate", ca_info.subject, "is not a CA"));
    }
    if ca_info.not_after <= now {
        return Err(invalid(
            "CA certificate",
            ca_info.subject,
            format!("expired at {}: rotate the CA", ca_info.not_after),
        ));
    }
    // Never past the CA: a CA near its end gives shorter certificates (its own alarm fires at
    // 90 days), so the cluster keeps working until the CA itself runs out.
    let not_after = (now + validity_secs).min(ca_info.not_after);
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(rcgen_err("CA key"))?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(rcgen_err("CA certificate"))?;
    let key = KeyPair::generate().map_err(rcgen_err("certificate key"))?;
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(common_name);
    p.subject_alt_names = sans
        .dns
        .iter()
        .map(|d| {
            d.as_str()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| invalid("certificate DNS name", d.clone(), e))
        })
        .chain(sans.ips.iter().map(|ip| Ok(SanType::IpAddress(*ip))))
        .collect::<Result<_>>()?;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    p.extended_key_usages = match usage {
        Usage::Peer => vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth],
        Usage::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
    };
    p.use_authority_key_identifier_extension = true;
    p.not_before = when(now - backdate(validity_secs), "certificate not-before")?;
    p.not_after = when(not_after, "certificate not-after")?;
    p.serial_number = Some(serial());
    let cert = p.signed_by(&key, &issuer).map_err(rcgen_err("certificate"))?;
    Ok(KeyedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const NOW: i64 = 1_780_000_000;

    fn sans() -> Sans {
        Sans {
            dns: vec!["peer-4.main.etcd.internal".into(), "main.etcd.internal".into()],
            ips: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 2, 7))],
        }
    }

    #[test]
    fn a_ca_issues_a_peer_certificate_for_exactly_its_names() {
        let ca = new_ca("steadfast main CA 1", NOW, 3650 * 86400).unwrap();
        let ca_info = CertInfo::parse(&ca.cert_pem).unwrap();
        assert!(ca_info.is_ca);
        assert_eq!(ca_info.issuer, ca_info.subject);
        let leaf = issue(&ca, "peer-4", &sans(), Usage::Peer, NOW, 30 * 86400).unwrap();
        let info = CertInfo::parse(&leaf.cert_pem).unwrap();
        assert!(!info.is_ca);
        assert_eq!(info.issuer, ca_info.subject);
        assert!(info.subject.contains("CN=peer-4"), "{}", info.subject);
        assert!(info.covers_exactly(&sans()), "{info:?}");
        assert_eq!(info.not_after, NOW + 30 * 86400);
        assert_eq!(info.not_before, NOW - 300);
        assert_eq!(info.seconds_left(NOW), 30 * 86400);
        // The key is PKCS#8 PEM and is never printed.
        assert!(leaf.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(!format!("{leaf:?}").contains("PRIVATE"));
    }

    #[test]
    fn serials_and_keys_differ_between_issues() {
        let ca = new_ca("steadfast main CA 1", NOW, 86400).unwrap();
        let a = issue(&ca, "peer-0", &sans(), Usage::Peer, NOW, 120).unwrap();
        let b = issue(&ca, "peer-0", &sans(), Usage::Peer, NOW, 120).unwrap();
        let (ia, ib) = (
            CertInfo::parse(&a.cert_pem).unwrap(),
            CertInfo::parse(&b.cert_pem).unwrap(),
        );
        assert_ne!(ia.serial, ib.serial);
        assert_ne!(a.key_pem, b.key_pem);
        // A 2-minute certificate is backdated a twentieth of its validity, not 5 minutes.
        assert_eq!(ia.lifetime(), 126);
    }

    #[test]
    fn a_certificate_never_outlives_its_ca() {
        let ca = new_ca("steadfast main CA 1", NOW, 10 * 86400).unwrap();
        let leaf = issue(&ca, "peer-0", &sans(), Usage::Peer, NOW, 30 * 86400).unwrap();
        let info = CertInfo::parse(&leaf.cert_pem).unwrap();
        assert_eq!(info.not_after, CertInfo::parse(&ca.cert_pem).unwrap().not_after);
        let err = issue(&ca, "peer-0", &sans(), Usage::Peer, NOW + 11 * 86400, 3600).unwrap_err();
        assert!(err.to_string().contains("rotate the CA"), "{err}");
    }

    #[test]
    fn a_leaf_cannot_sign() {
        let ca = new_ca("steadfast main CA 1", NOW, 86400).unwrap();
        let leaf = issue(&ca, "peer-0", &sans(), Usage::Peer, NOW, 3600).unwrap();
        let err = issue(&leaf, "x", &sans(), Usage::Client, NOW, 60).unwrap_err();
        assert!(err.to_string().contains("is not a CA"), "{err}");
    }

    #[test]
    fn bundles_parse_in_order_and_garbage_is_named() {
        let a = new_ca("steadfast main CA 1", NOW, 86400).unwrap();
        let b = new_ca("steadfast main CA 2", NOW, 86400).unwrap();
        let bundle = format!("{}{}", a.cert_pem, b.cert_pem);
        let infos = CertInfo::parse_bundle(&bundle).unwrap();
        assert_eq!(infos.len(), 2);
        assert!(infos[1].subject.contains("CA 2"));
        let err = CertInfo::parse_bundle("not a certificate").unwrap_err();
        assert!(err.to_string().contains("certificate bundle"), "{err}");
    }
}

//! The cluster's CA, kept in one Secrets Manager secret (`steadfast/C/ca`, encrypted with the
//! cluster's KMS key): never in Terraform state, never in user-data. Nodes create it on first
//! need with an atomic create-if-absent, so of nine nodes racing exactly one CA wins, and every
//! node reads back the one that won.
//!
//! The secret's value is a [`CaState`]: the CA that signs, the CA certificates peers and
//! clients trust, and during a rotation the CA that comes next. A rotation moves it through
//! three [`Phase`]s, each a pure transition here; `steadfast ca rotate` drives them.

use serde::{Deserialize, Serialize};

use super::cert::{new_ca, CertInfo, KeyedCert};
use crate::aws::{PutOutcome, Secrets};
use crate::error::{Error, Result};
use crate::vocab::{Cluster, Tags, TAG_CLUSTER};

/// The secret's format version.
pub const FORMAT: u32 = 1;

/// The secret's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaState {
    pub format: u32,
    /// Every certificate is issued from this CA.
    pub signing: KeyedCert,
    /// During a rotation's first phase: the CA that signs next (already trusted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<KeyedCert>,
    /// The CA certificates (PEM) that peers and clients trust, in order.
    pub trust: Vec<String>,
}

/// Where a CA rotation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// One CA signs and is the only one trusted.
    Stable,
    /// The next CA is trusted beside the signing one; peers roll to trust both.
    TrustBoth,
    /// The new CA signs while the old one is still trusted; peers re-issue their certificates.
    Reissue,
}

impl CaState {
    /// A new CA for `cluster`, created at `now` (its name says when, so two CAs never share one).
    pub fn create(cluster: &Cluster, now: i64, validity_secs: i64) -> Result<Self> {
        let ca = new_ca(&ca_common_name(cluster, now), now, validity_secs)?;
        Ok(Self {
            format: FORMAT,
            trust: vec![ca.cert_pem.clone()],
            signing: ca,
            next: None,
        })
    }

    /// Reads a secret's value; every error names `source`.
    pub fn from_json(source: &str, text: &str) -> Result<Self> {
        let bad = |reason: String| Error::Invalid {
            what: "CA secret",
            value: source.to_string(),
            reason,
        };
        let s: CaState = serde_json::from_str(text).map_err(|e| bad(format!("not a CA state: {e}")))?;
        if s.format != FORMAT {
            return Err(bad(format!("format {} (this build reads {FORMAT})", s.format)));
        }
        let signing = CertInfo::parse(&s.signing.cert_pem).map_err(|e| bad(format!("signing CA: {e}")))?;
        if !signing.is_ca {
            return Err(bad(format!("signing certificate {} is not a CA", signing.subject)));
        }
        let trusted = s
            .trust
            .iter()
            .map(|p| CertInfo::parse(p))
            .collect::<Result<Vec<_>>>()
            .map_err(|e| bad(format!("trust: {e}")))?;
        if !trusted.iter().any(|t| t.fingerprint == signing.fingerprint) {
            return Err(bad("the signing CA is not among the trusted ones".into()));
        }
        if let Some(next) = &s.next {
            let n = CertInfo::parse(&next.cert_pem).map_err(|e| bad(format!("next CA: {e}")))?;
            if !trusted.iter().any(|t| t.fingerprint == n.fingerprint) {
                return Err(bad("the next CA is not among the trusted ones".into()));
            }
        }
        Ok(s)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn phase(&self) -> Phase {
        match (&self.next, self.trust.len()) {
            (Some(_), _) => Phase::TrustBoth,
            (None, n) if n > 1 => Phase::Reissue,
            (None, _) => Phase::Stable,
        }
    }

    /// The trusted CAs as one PEM bundle (what a node writes as its CA file).
    pub fn trust_bundle(&self) -> String {
        self.trust.concat()
    }

    /// Fingerprints of the trusted CAs, in order.
    pub fn trust_fingerprints(&self) -> Result<Vec<String>> {
        self.trust
            .iter()
            .map(|p| CertInfo::parse(p).map(|i| i.fingerprint))
            .collect()
    }

    pub fn signing_info(&self) -> Result<CertInfo> {
        CertInfo::parse(&self.signing.cert_pem)
    }

    /// Phase 1 (from [`Phase::Stable`]): `next` is trusted beside the signing CA.
    pub fn begin_rotation(&self, next: KeyedCert) -> Result<Self> {
        self.expect(Phase::Stable, "begin a rotation")?;
        let mut s = self.clone();
        s.trust.push(next.cert_pem.clone());
        s.next = Some(next);
        Ok(s)
    }

    /// Phase 2 (from [`Phase::TrustBoth`]): the next CA signs; the old one stays trusted.
    pub fn switch_signing(&self) -> Result<Self> {
        self.expect(Phase::TrustBoth, "switch the signing CA")?;
        let mut s = self.clone();
        if let Some(next) = s.next.take() {
            s.signing = next;
        }
        Ok(s)
    }

    /// Phase 3 (from [`Phase::Reissue`]): only the signing CA is trusted.
    pub fn drop_old(&self) -> Result<Self> {
        self.expect(Phase::Reissue, "drop the old CA")?;
        let mut s = self.clone();
        s.trust = vec![s.signing.cert_pem.clone()];
        Ok(s)
    }

    fn expect(&self, want: Phase, doing: &str) -> Result<()> {
        let have = self.phase();
        if have == want {
            Ok(())
        } else {
            Err(Error::Invalid {
                what: "CA rotation",
                value: format!("{have:?}"),
                reason: format!("can {doing} only in phase {want:?}"),
            })
        }
    }
}

/// `steadfast <cluster> CA <unix time>`: unique per CA, so issuers tell CAs apart by name.
pub fn ca_common_name(cluster: &Cluster, now: i64) -> String {
    format!("steadfast {} CA {now}", cluster.name())
}

/// The name of a cluster's CA secret: the vocabulary's (`steadfast/<C>/ca`), or that name with a
/// deployment's suffix (`steadfast/<C>/ca-<id>`: the Terraform module gives every deployment a
/// name of its own, so a destroyed deployment's secret never stands in a new one's way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaSecret(String);

impl CaSecret {
    /// The vocabulary's name for `cluster`.
    pub fn of(cluster: &Cluster) -> Self {
        Self(cluster.ca_secret_name())
    }

    /// `name` when given and not empty (it must be `cluster`'s: its vocabulary name, or that name,
    /// a dash and a suffix of letters and digits), else the vocabulary's.
    pub fn from_setting(cluster: &Cluster, name: Option<&str>) -> Result<Self> {
        let base = cluster.ca_secret_name();
        match name.map(str::trim).filter(|n| !n.is_empty()) {
            None => Ok(Self(base)),
            Some(n) if n == base => Ok(Self(base)),
            Some(n) => match n.strip_prefix(&format!("{base}-")) {
                Some(suffix) if !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                    Ok(Self(n.to_string()))
                }
                _ => Err(Error::Invalid {
                    what: "CA secret name",
                    value: n.to_string(),
                    reason: format!("cluster {}'s CA secret is {base} or {base}-<id>", cluster.name()),
                }),
            },
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CaSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The cluster's CA: read it, or create it if there is none (create-if-absent; when another
/// node won the race, read back the one it wrote). `kms_key`: the key the secret is encrypted
/// with (`None`: Secrets Manager's default key).
pub async fn get_or_create<S: Secrets>(
    secrets: &S,
    cluster: &Cluster,
    secret: &CaSecret,
    kms_key: Option<&str>,
    now: i64,
    validity_secs: i64,
) -> Result<(CaState, PutOutcome)> {
    let name = secret.as_str().to_string();
    if let Some(text) = secrets.get_secret(&name).await? {
        return Ok((CaState::from_json(&name, &text)?, PutOutcome::Exists));
    }
    let fresh = CaState::create(cluster, now, validity_secs)?;
    let tags = Tags::from_pairs([(TAG_CLUSTER, cluster.name().as_str())]);
    match secrets.create_secret(&name, &fresh.to_json(), kms_key, &tags).await? {
        PutOutcome::Created => Ok((fresh, PutOutcome::Created)),
        PutOutcome::Exists => {
            let text = secrets.get_secret(&name).await?.ok_or_else(|| Error::NotFound {
                what: "CA secret",
                detail: format!("{name}: creating it said it exists, reading it says it does not"),
            })?;
            Ok((CaState::from_json(&name, &text)?, PutOutcome::Exists))
        }
    }
}

/// The cluster's CA, which must exist (the operator's commands never create one).
pub async fn read<S: Secrets>(secrets: &S, secret: &CaSecret) -> Result<CaState> {
    let name = secret.as_str().to_string();
    let text = secrets.get_secret(&name).await?.ok_or_else(|| Error::NotFound {
        what: "CA secret",
        detail: format!("{name} (the nodes create it when they first start with TLS on)"),
    })?;
    CaState::from_json(&name, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{ClusterName, Domain};

    const NOW: i64 = 1_780_000_000;

    fn cluster() -> Cluster {
        Cluster::new(
            ClusterName::new("main").unwrap(),
            Domain::new("etcd.internal").unwrap(),
            3,
            3,
        )
        .unwrap()
    }

    #[test]
    fn a_rotation_goes_through_its_three_phases_in_order() {
        let a = CaState::create(&cluster(), NOW, 86400 * 365).unwrap();
        assert_eq!(a.phase(), Phase::Stable);
        let next = new_ca(&ca_common_name(&cluster(), NOW + 1), NOW + 1, 86400 * 365).unwrap();
        let b = a.begin_rotation(next.clone()).unwrap();
        assert_eq!(b.phase(), Phase::TrustBoth);
        assert_eq!(b.signing, a.signing);
        assert_eq!(b.trust, vec![a.signing.cert_pem.clone(), next.cert_pem.clone()]);
        let c = b.switch_signing().unwrap();
        assert_eq!(c.phase(), Phase::Reissue);
        assert_eq!(c.signing, next);
        assert_eq!(c.trust.len(), 2);
        let d = c.drop_old().unwrap();
        assert_eq!(d.phase(), Phase::Stable);
        assert_eq!(d.trust, vec![next.cert_pem.clone()]);
        // Out of order is refused, and names what it could not do.
        let err = a.switch_signing().unwrap_err();
        assert!(err.to_string().contains("switch the signing CA"), "{err}");
        assert!(b.begin_rotation(next.clone()).is_err());
        assert!(b.drop_old().is_err());
        // Every state survives the secret's JSON.
        for s in [&a, &b, &c, &d] {
            assert_eq!(&CaState::from_json("s", &s.to_json()).unwrap(), s);
        }
    }

    #[test]
    fn a_ca_secret_is_the_clusters_name_or_a_deployments_of_it() {
        let c = cluster();
        assert_eq!(CaSecret::from_setting(&c, None).unwrap().as_str(), "steadfast/main/ca");
        assert_eq!(CaSecret::from_setting(&c, Some(" ")).unwrap(), CaSecret::of(&c));
        assert_eq!(
            CaSecret::from_setting(&c, Some("steadfast/main/ca-1a2b3c4d"))
                .unwrap()
                .as_str(),
            "steadfast/main/ca-1a2b3c4d"
        );
        for bad in [
            "steadfast/other/ca",
            "steadfast/main/ca-",
            "steadfast/main/ca-x/y",
            "ca",
        ] {
            let e = CaSecret::from_setting(&c, Some(bad)).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("steadfast/main/ca"), "{e}");
        }
    }

    #[test]
    fn a_broken_secret_is_refused_with_its_name() {
        let a = CaState::create(&cluster(), NOW, 86400).unwrap();
        for (text, says) in [
            ("{}".to_string(), "not a CA state"),
            (a.to_json().replace("\"format\":1", "\"format\":7"), "format 7"),
            (
                {
                    let mut s = a.clone();
                    s.trust = vec![new_ca("other", NOW, 86400).unwrap().cert_pem];
                    s.to_json()
                },
                "not among the trusted",
            ),
        ] {
            let err = CaState::from_json("steadfast/main/ca", &text).unwrap_err().to_string();
            assert!(err.contains("steadfast/main/ca") && err.contains(says), "{err}");
        }
    }
}

//! TLS: the cluster's CA ([`ca`]), the certificates issued from it ([`cert`]), and the two
//! planners that keep them current: [`renewal::plan_renewal`] (one node: re-issue, re-trust)
//! and [`rotation::plan_rotation`] (the whole cluster: the next phase of a CA rotation). Pure
//! but for [`ca::get_or_create`] and [`ca::read`], which go through the [`Secrets`] port.
//!
//! [`Secrets`]: crate::aws::Secrets

pub mod ca;
pub mod cert;
pub mod renewal;
pub mod rotation;

pub use ca::{CaSecret, CaState, Phase};
pub use cert::{CertInfo, KeyedCert, Usage};
pub use renewal::{plan_renewal, OnDisk, Renewal, Wanted, Why};
pub use rotation::{plan_rotation, status_key, PeerTls, RotationStep};

/// Seconds in a day (validity knobs are in days, certificates in seconds).
pub const DAY_SECS: i64 = 86_400;

/// A client certificate and what to trust, as an application gets them.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub cert: KeyedCert,
    /// Every trusted CA (PEM): what the client verifies the members' certificates with.
    pub trust_bundle: String,
    /// The CA it was issued from.
    pub issuer: CertInfo,
}

/// Issues a client certificate for `name` from the cluster's current CA (which must exist),
/// valid for `validity_secs` from `now`: what `steadfast cert issue` gives an application. Its
/// caller must be allowed to read the CA secret.
pub async fn client_credentials<S: crate::aws::Secrets>(
    secrets: &S,
    secret: &ca::CaSecret,
    name: &str,
    now: i64,
    validity_secs: i64,
) -> crate::Result<ClientCredentials> {
    let state = ca::read(secrets, secret).await?;
    let sans = crate::vocab::Sans {
        dns: vec![],
        ips: vec![],
    };
    let cert = cert::issue(&state.signing, name, &sans, Usage::Client, now, validity_secs)?;
    Ok(ClientCredentials {
        cert,
        trust_bundle: state.trust_bundle(),
        issuer: state.signing_info()?,
    })
}

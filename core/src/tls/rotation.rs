//! `plan_rotation`: the next move of a CA rotation, from the CA secret and what every peer says
//! it runs with (pure; table-tested). Peers report under [`status_key`] in etcd itself: the
//! CAs their running etcd trusts and the CA their certificate is from. A phase moves on only
//! once every peer has caught up with it, and each peer rolls itself (one at a time, under an
//! etcd lock, health-gated), so the operator's command only writes the secret and waits.

use serde::{Deserialize, Serialize};

use super::ca::{CaState, Phase};
use crate::error::Result;
use crate::vocab::{Cluster, PeerIndex};

/// The key peer `peer` reports under: `steadfast/tls/peer-N` (named in [`crate::etcd::keys`]).
pub fn status_key(cluster: &Cluster, peer: PeerIndex) -> String {
    crate::etcd::keys::tls_status(cluster, peer)
}

/// What a peer runs with, as it reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerTls {
    pub peer: u32,
    /// Fingerprints of the CAs its running etcd trusts (the CA file it started with).
    pub trust: Vec<String>,
    /// The issuer (subject of the CA) of the certificate it serves.
    pub leaf_issuer: String,
    pub leaf_serial: String,
    pub leaf_not_after: i64,
    /// When it reported (seconds since the epoch).
    pub at: i64,
}

/// The next move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationStep {
    /// Every peer runs with the stable CA: nothing under way (begin one, or it is done).
    Converged,
    /// Peers still behind the current phase, each with what it lacks: wait.
    Wait { phase: Phase, behind: Vec<(u32, String)> },
    /// Every peer trusts both CAs: the next one may sign.
    SwitchSigning,
    /// Every certificate is from the new CA: the old one may go.
    DropOld,
}

/// What `report` lacks for `state`, if anything.
fn lacks(state_trust: &[String], signing_subject: &str, report: Option<&PeerTls>) -> Option<String> {
    let Some(r) = report else {
        return Some("has not reported".into());
    };
    if r.trust != state_trust {
        return Some(format!(
            "trusts {} CA(s), not the {} of this phase",
            r.trust.len(),
            state_trust.len()
        ));
    }
    if r.leaf_issuer != signing_subject {
        return Some(format!("its certificate is from {}", r.leaf_issuer));
    }
    None
}

pub fn plan_rotation(state: &CaState, reports: &[(PeerIndex, Option<PeerTls>)]) -> Result<RotationStep> {
    let trust = state.trust_fingerprints()?;
    let signing = state.signing_info()?.subject;
    let behind: Vec<(u32, String)> = reports
        .iter()
        .filter_map(|(p, r)| lacks(&trust, &signing, r.as_ref()).map(|why| (p.get(), why)))
        .collect();
    let phase = state.phase();
    if !behind.is_empty() {
        return Ok(RotationStep::Wait { phase, behind });
    }
    Ok(match phase {
        Phase::Stable => RotationStep::Converged,
        Phase::TrustBoth => RotationStep::SwitchSigning,
        Phase::Reissue => RotationStep::DropOld,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::ca::ca_common_name;
    use crate::tls::cert::new_ca;
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

    fn report(state: &CaState, p: u32, trust_of: &CaState) -> PeerTls {
        PeerTls {
            peer: p,
            trust: trust_of.trust_fingerprints().unwrap(),
            leaf_issuer: state.signing_info().unwrap().subject,
            leaf_serial: "01".into(),
            leaf_not_after: NOW + 100,
            at: NOW,
        }
    }

    #[test]
    fn table() {
        let c = cluster();
        let a = CaState::create(&c, NOW, 86400 * 365).unwrap();
        let trust_both = a
            .begin_rotation(new_ca(&ca_common_name(&c, NOW + 1), NOW + 1, 86400 * 365).unwrap())
            .unwrap();
        let b_signs = trust_both.switch_signing().unwrap();
        let b_only = b_signs.drop_old().unwrap();
        let peers: Vec<PeerIndex> = c.peers().collect();
        let all = |f: &dyn Fn(u32) -> Option<PeerTls>| -> Vec<(PeerIndex, Option<PeerTls>)> {
            peers.iter().map(|p| (*p, f(p.get()))).collect()
        };
        struct Case {
            name: &'static str,
            state: CaState,
            reports: Vec<(PeerIndex, Option<PeerTls>)>,
            want: RotationStep,
        }
        let cases = vec![
            Case {
                name: "nothing under way and every peer on A: converged",
                state: a.clone(),
                reports: all(&|p| Some(report(&a, p, &a))),
                want: RotationStep::Converged,
            },
            Case {
                name: "a peer that never reported holds everything up",
                state: a.clone(),
                reports: all(&|p| (p != 2).then(|| report(&a, p, &a))),
                want: RotationStep::Wait {
                    phase: Phase::Stable,
                    behind: vec![(2, "has not reported".into())],
                },
            },
            Case {
                name: "phase 1: peers that still trust A alone are waited for",
                state: trust_both.clone(),
                reports: all(&|p| Some(report(&a, p, if p == 0 { &trust_both } else { &a }))),
                want: RotationStep::Wait {
                    phase: Phase::TrustBoth,
                    behind: vec![
                        (1, "trusts 1 CA(s), not the 2 of this phase".into()),
                        (2, "trusts 1 CA(s), not the 2 of this phase".into()),
                    ],
                },
            },
            Case {
                name: "phase 1 done: B may sign",
                state: trust_both.clone(),
                reports: all(&|p| Some(report(&a, p, &trust_both))),
                want: RotationStep::SwitchSigning,
            },
            Case {
                name: "phase 2: a certificate still from A is waited for",
                state: b_signs.clone(),
                reports: all(&|p| Some(report(if p == 1 { &a } else { &b_signs }, p, &b_signs))),
                want: RotationStep::Wait {
                    phase: Phase::Reissue,
                    behind: vec![(
                        1,
                        format!("its certificate is from {}", a.signing_info().unwrap().subject),
                    )],
                },
            },
            Case {
                name: "phase 2 done: A may go",
                state: b_signs.clone(),
                reports: all(&|p| Some(report(&b_signs, p, &b_signs))),
                want: RotationStep::DropOld,
            },
            Case {
                name: "phase 3: peers still trusting A are waited for",
                state: b_only.clone(),
                reports: all(&|p| Some(report(&b_signs, p, if p == 0 { &b_only } else { &b_signs }))),
                want: RotationStep::Wait {
                    phase: Phase::Stable,
                    behind: vec![
                        (1, "trusts 2 CA(s), not the 1 of this phase".into()),
                        (2, "trusts 2 CA(s), not the 1 of this phase".into()),
                    ],
                },
            },
            Case {
                name: "phase 3 done: converged on B",
                state: b_only.clone(),
                reports: all(&|p| Some(report(&b_only, p, &b_only))),
                want: RotationStep::Converged,
            },
        ];
        for case in cases {
            assert_eq!(
                plan_rotation(&case.state, &case.reports).unwrap(),
                case.want,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn status_keys_name_the_member() {
        let c = cluster();
        assert_eq!(status_key(&c, c.peer(2).unwrap()), "steadfast/tls/peer-2");
    }
}

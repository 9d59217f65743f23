//! Configuration from environment variables, validated at start. Every error names the variable.

use std::time::Duration;

use steadfast_core::vocab::{env, PlaceholderNetwork, DEFAULT_PEER_COUNT, DEFAULT_RECORD_TTL, DEFAULT_ZONE_COUNT};
use steadfast_core::{Cluster, ClusterName, Domain};

pub const ENV_CLUSTER: &str = env::CLUSTER;
pub const ENV_ZONE_ID: &str = env::HOSTED_ZONE_ID;
pub const ENV_DOMAIN: &str = env::DOMAIN;
pub const ENV_TTL: &str = env::RECORD_TTL;
pub const ENV_PEER_COUNT: &str = env::PEER_COUNT;
pub const ENV_DEADLINE: &str = env::RETRY_DEADLINE_MS;
pub const ENV_PLACEHOLDERS: &str = env::PLACEHOLDER_NETWORK;

/// Default retry deadline: well below the 30 s function timeout the Terraform module sets.
pub const DEFAULT_DEADLINE_MS: u64 = 20_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub cluster: Cluster,
    /// Hosted zone id without the `/hostedzone/` prefix.
    pub zone_id: String,
    pub ttl: i64,
    /// How long one invocation keeps retrying throttled calls (it also stops 1 s before the
    /// invocation's own deadline).
    pub retry_deadline: Duration,
    /// Where a peer's record goes when its address has been taken by another peer.
    pub placeholders: PlaceholderNetwork,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration: {var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |var: &'static str| -> Result<String, ConfigError> {
            match get(var) {
                Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
                _ => Err(ConfigError {
                    var,
                    reason: "is required and not set".into(),
                }),
            }
        };
        let number = |var: &'static str, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
            match get(var) {
                None => Ok(default),
                Some(v) if v.trim().is_empty() => Ok(default),
                Some(v) => {
                    let n: u64 = v.trim().parse().map_err(|_| ConfigError {
                        var,
                        reason: format!("{v:?} is not a whole number"),
                    })?;
                    if n < min || n > max {
                        return Err(ConfigError {
                            var,
                            reason: format!("{n} is outside {min}..={max}"),
                        });
                    }
                    Ok(n)
                }
            }
        };
        let name = ClusterName::new(&required(ENV_CLUSTER)?).map_err(|e| ConfigError {
            var: ENV_CLUSTER,
            reason: e.to_string(),
        })?;
        let domain = Domain::new(&required(ENV_DOMAIN)?).map_err(|e| ConfigError {
            var: ENV_DOMAIN,
            reason: e.to_string(),
        })?;
        let raw_zone = required(ENV_ZONE_ID)?;
        let zone_id = raw_zone.trim_start_matches("/hostedzone/").to_string();
        if zone_id.is_empty() || !zone_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ConfigError {
                var: ENV_ZONE_ID,
                reason: format!("{raw_zone:?} is not a hosted zone id (letters and digits, e.g. Z0123456789ABC)"),
            });
        }
        let ttl = number(ENV_TTL, DEFAULT_RECORD_TTL as u64, 1, 300)? as i64;
        let peer_count = number(ENV_PEER_COUNT, DEFAULT_PEER_COUNT as u64, 3, 99)? as u32;
        let cluster =
            Cluster::new(name, domain, peer_count, DEFAULT_ZONE_COUNT.min(peer_count)).map_err(|e| ConfigError {
                var: ENV_PEER_COUNT,
                reason: e.to_string(),
            })?;
        let deadline = number(ENV_DEADLINE, DEFAULT_DEADLINE_MS, 100, 900_000)?;
        let placeholders = match get(ENV_PLACEHOLDERS) {
            Some(v) if !v.trim().is_empty() => v.trim().parse::<PlaceholderNetwork>().map_err(|e| ConfigError {
                var: ENV_PLACEHOLDERS,
                reason: e.to_string(),
            })?,
            _ => PlaceholderNetwork::default(),
        };
        placeholders.check_room(cluster.peer_count()).map_err(|e| ConfigError {
            var: ENV_PLACEHOLDERS,
            reason: e.to_string(),
        })?;
        Ok(Self {
            cluster,
            zone_id,
            ttl,
            retry_deadline: Duration::from_millis(deadline),
            placeholders,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    const BASE: [(&str, &str); 3] = [
        (ENV_CLUSTER, "main"),
        (ENV_ZONE_ID, "/hostedzone/Z123ABC"),
        (ENV_DOMAIN, "etcd.internal"),
    ];

    #[test]
    fn defaults() {
        let c = cfg(&BASE).unwrap();
        assert_eq!(c.zone_id, "Z123ABC");
        assert_eq!(c.ttl, 5);
        assert_eq!(c.cluster.peer_count(), 9);
        assert_eq!(c.retry_deadline, Duration::from_secs(20));
        assert_eq!(c.cluster.cluster_domain(), "main.etcd.internal");
        assert_eq!(c.placeholders.to_string(), "192.0.2.0/24");
    }

    #[test]
    fn every_error_names_its_variable() {
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![(ENV_ZONE_ID, "Z1"), (ENV_DOMAIN, "d")], ENV_CLUSTER),
            (vec![(ENV_CLUSTER, "main"), (ENV_DOMAIN, "d")], ENV_ZONE_ID),
            (vec![(ENV_CLUSTER, "main"), (ENV_ZONE_ID, "Z1")], ENV_DOMAIN),
            (
                vec![(ENV_CLUSTER, "Main!"), (ENV_ZONE_ID, "Z1"), (ENV_DOMAIN, "d")],
                ENV_CLUSTER,
            ),
            (
                vec![(ENV_CLUSTER, "main"), (ENV_ZONE_ID, "Z 1"), (ENV_DOMAIN, "d")],
                ENV_ZONE_ID,
            ),
            (
                vec![(ENV_CLUSTER, "main"), (ENV_ZONE_ID, "Z1"), (ENV_DOMAIN, "a..b")],
                ENV_DOMAIN,
            ),
            (
                vec![
                    (ENV_CLUSTER, "main"),
                    (ENV_ZONE_ID, "Z1"),
                    (ENV_DOMAIN, "d"),
                    (ENV_TTL, "five"),
                ],
                ENV_TTL,
            ),
            (
                vec![
                    (ENV_CLUSTER, "main"),
                    (ENV_ZONE_ID, "Z1"),
                    (ENV_DOMAIN, "d"),
                    (ENV_TTL, "0"),
                ],
                ENV_TTL,
            ),
            (
                vec![
                    (ENV_CLUSTER, "main"),
                    (ENV_ZONE_ID, "Z1"),
                    (ENV_DOMAIN, "d"),
                    (ENV_PEER_COUNT, "8"),
                ],
                ENV_PEER_COUNT,
            ),
            (
                vec![
                    (ENV_CLUSTER, "main"),
                    (ENV_ZONE_ID, "Z1"),
                    (ENV_DOMAIN, "d"),
                    (ENV_DEADLINE, "5"),
                ],
                ENV_DEADLINE,
            ),
            (
                vec![
                    (ENV_CLUSTER, "main"),
                    (ENV_ZONE_ID, "Z1"),
                    (ENV_DOMAIN, "d"),
                    (ENV_PLACEHOLDERS, "192.0.2.7/24"),
                ],
                ENV_PLACEHOLDERS,
            ),
            (
                vec![
                    (ENV_CLUSTER, "main"),
                    (ENV_ZONE_ID, "Z1"),
                    (ENV_DOMAIN, "d"),
                    (ENV_PLACEHOLDERS, "10.0.0.0/30"),
                ],
                ENV_PLACEHOLDERS,
            ),
        ];
        for (pairs, var) in cases {
            let err = cfg(&pairs).unwrap_err();
            assert_eq!(err.var, var, "{pairs:?}");
            assert!(err.to_string().contains(var));
        }
    }

    #[test]
    fn overrides() {
        let mut p = BASE.to_vec();
        p.extend([(ENV_TTL, "3"), (ENV_PEER_COUNT, "5"), (ENV_DEADLINE, "1500")]);
        let c = cfg(&p).unwrap();
        assert_eq!(
            (c.ttl, c.cluster.peer_count(), c.retry_deadline),
            (3, 5, Duration::from_millis(1500))
        );
    }
}

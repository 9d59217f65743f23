//! A resource's tags, built once from the SDK's types; looked up by key, never by hand.

use super::{TAG_BLANK, TAG_CLUSTER, TAG_INITIALIZED, TAG_JOINED, TAG_PEER};

/// The tags of an ASG, instance or volume, in the order AWS returned them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(Vec<(String, String)>);

impl Tags {
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// The value of `key`, if the resource carries it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The `steadfast:cluster` tag.
    pub fn cluster(&self) -> Option<&str> {
        self.get(TAG_CLUSTER)
    }

    /// The raw `steadfast:peer` tag (parse it with `Cluster::parse_peer_tag`).
    pub fn peer(&self) -> Option<&str> {
        self.get(TAG_PEER)
    }

    /// Whether the volume carries `steadfast:initialized` (it has held data).
    pub fn initialized(&self) -> bool {
        self.has(TAG_INITIALIZED)
    }

    /// Whether etcd member data has been on the volume (`steadfast:joined`).
    pub fn joined(&self) -> bool {
        self.has(TAG_JOINED)
    }

    /// Whether the volume was found blank after it held data (`steadfast:blank`).
    pub fn blank(&self) -> bool {
        self.has(TAG_BLANK)
    }

    /// Whether every `(key, value)` of `wanted` is present with that value.
    pub fn contains_all(&self, wanted: &Tags) -> bool {
        wanted.iter().all(|(k, v)| self.get(k) == Some(v))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Adds or replaces one tag.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value.to_string(),
            None => self.0.push((key.to_string(), value.to_string())),
        }
    }

    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let mut t = Tags::from_pairs([(TAG_CLUSTER, "main"), (TAG_PEER, "4"), ("Name", "x")]);
        assert_eq!(
            (t.cluster(), t.peer(), t.get("Name")),
            (Some("main"), Some("4"), Some("x"))
        );
        assert!(!t.initialized());
        t.set(TAG_INITIALIZED, "peer-4");
        assert!(t.initialized());
        t.set(TAG_PEER, "5");
        assert_eq!(t.peer(), Some("5"));
        assert!(t.contains_all(&Tags::from_pairs([(TAG_CLUSTER, "main"), (TAG_PEER, "5")])));
        assert!(!t.contains_all(&Tags::from_pairs([(TAG_PEER, "4")])));
        t.remove(TAG_PEER);
        assert_eq!(t.peer(), None);
    }
}

//! The one clock: seconds since the Unix epoch, as every timestamp steadfast writes (tags,
//! manifests, certificates, reports) counts them. A clock before 1970 reads as 0.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Seconds since the epoch, signed (certificate validity, X.509's own arithmetic).
pub fn now() -> i64 {
    i64::try_from(now_secs()).unwrap_or(i64::MAX)
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_clocks_agree() {
        let (s, i, ms) = (super::now_secs(), super::now(), super::now_ms());
        assert!(s > 1_700_000_000);
        assert!(i.abs_diff(s as i64) <= 1);
        assert!((ms / 1000).abs_diff(s) <= 1);
    }
}

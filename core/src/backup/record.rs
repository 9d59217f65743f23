//! The JSON objects steadfast keeps in the bucket (a snapshot's manifest, a restore plan, the
//! operator's restore request): each carries a format number, read back strictly, with the key
//! named in every error.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::aws::Objects;
use crate::error::{Error, Result};

/// A JSON object in the bucket with a format number.
pub(crate) trait Record: Serialize + DeserializeOwned {
    /// What it is, for errors ("restore plan").
    const WHAT: &'static str;
    /// The format this build writes.
    const FORMAT: u32;
    /// The oldest format this build still reads (formats `OLDEST..=FORMAT` are read).
    const OLDEST: u32 = Self::FORMAT;
    fn format(&self) -> u32;
}

pub(crate) fn to_json<T: Record>(r: &T) -> Vec<u8> {
    // Structs of strings and numbers always serialize.
    serde_json::to_vec_pretty(r).unwrap_or_default()
}

/// Reads a record (`key` names it in the error); another format is refused.
pub(crate) fn from_json<T: Record>(key: &str, body: &[u8]) -> Result<T> {
    let r: T = serde_json::from_slice(body).map_err(|e| Error::Invalid {
        what: T::WHAT,
        value: key.into(),
        reason: e.to_string(),
    })?;
    if !(T::OLDEST..=T::FORMAT).contains(&r.format()) {
        let reads = if T::OLDEST == T::FORMAT {
            T::FORMAT.to_string()
        } else {
            format!("{} to {}", T::OLDEST, T::FORMAT)
        };
        return Err(Error::Invalid {
            what: T::WHAT,
            value: key.into(),
            reason: format!("format {} (this build reads {reads})", r.format()),
        });
    }
    Ok(r)
}

/// The record at `key`, or `None` when the bucket has no such key.
pub(crate) async fn read_optional<T: Record, O: Objects>(objects: &O, key: &str) -> Result<Option<T>> {
    match objects.get(key).await {
        Ok(body) => from_json(key, &body).map(Some),
        Err(e) if e.aws_code() == Some("NoSuchKey") => Ok(None),
        Err(e) => Err(e),
    }
}

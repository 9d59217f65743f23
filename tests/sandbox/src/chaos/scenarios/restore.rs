//! The operator's restore of a chosen snapshot, as an operator runs it.

use std::time::Duration;

use super::wipe::snapshot_now;
use super::{Ctx, Inject, Injected};
use crate::region::verbs;

/// A snapshot now, more writes, then `steadfast restore --snapshot <it> --yes`. The writes after
/// the snapshot must be gone, every one before it there.
pub fn snapshot<'a>(c: &'a Ctx<'a>) -> Inject<'a> {
    Box::pin(async move {
        let taken = snapshot_now(c).await?;
        c.marks.mark(&format!("snapshot at revision {}", taken.revision));
        tokio::time::sleep(Duration::from_secs(5)).await;
        let ran = c.marks.mark("steadfast restore --snapshot");
        verbs::steadfast(
            c.cluster,
            &["restore", "--snapshot", &taken.key, "--yes", "--timeout-secs", "600"],
        )
        .await?;
        c.marks.mark("steadfast restore done");
        Ok(Injected {
            restore_ran_ms: Some(ran),
            ..Injected::default()
        })
    })
}

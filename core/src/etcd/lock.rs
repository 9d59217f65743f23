//! A lock held through a lease: one backup, one join, one restart at a time. A crashed holder
//! never blocks for long: its lease runs out `ttl` after it stopped keeping it alive.

use std::time::Duration;

use etcd_client::{Client, LockOptions};
use tracing::warn;

use super::{EtcdError, Result};

/// A lock that is held; released by [`Held::release`], or by its lease running out.
pub struct Held {
    client: Client,
    key: Vec<u8>,
    lease: i64,
    keeper: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("lease", &format_args!("{:x}", self.lease))
            .finish()
    }
}

/// Takes the lock `name` (a key of [`super::keys`]) under a lease of `ttl` (at least 5 s),
/// waiting at most `wait` for another holder to let go: [`EtcdError::LockBusy`] after that.
pub async fn lock(client: &Client, name: &str, ttl: Duration, wait: Duration) -> Result<Held> {
    let mut c = client.clone();
    let lease = c
        .lease_grant(ttl.as_secs().max(5) as i64, None)
        .await
        .map_err(EtcdError::call("lease grant"))?
        .id();
    let (mut keeper, mut answers) = c
        .lease_keep_alive(lease)
        .await
        .map_err(EtcdError::call("lease keep-alive"))?;
    let every = ttl / 3;
    let keep = tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if keeper.keep_alive().await.is_err() || answers.message().await.is_err() {
                warn!(lease = format!("{lease:x}"), "could not keep the lock's lease alive");
                return;
            }
        }
    });
    // The client's own request timeout may end a wait before `wait` does: ask again. A lock is
    // one key per lease (`name/<lease>`), so asking again is the same request.
    let deadline = tokio::time::Instant::now() + wait;
    let got = loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, c.lock(name, Some(LockOptions::new().with_lease(lease)))).await {
            Ok(Err(e)) => {
                let e = EtcdError::call(format!("lock {name}"))(e);
                if e.is_timeout() && tokio::time::Instant::now() < deadline {
                    continue;
                }
                break Err(e);
            }
            Ok(Ok(r)) => break Ok(r),
            Err(_) => {
                break Err(EtcdError::LockBusy {
                    name: name.to_string(),
                    waited: wait,
                })
            }
        }
    };
    match got {
        Ok(r) => Ok(Held {
            client: c,
            key: r.key().to_vec(),
            lease,
            keeper: keep,
        }),
        Err(e) => {
            keep.abort();
            let _ = c.lease_revoke(lease).await;
            Err(e)
        }
    }
}

impl Held {
    /// Releases the lock and its lease (best effort: the lease's expiry releases it anyway).
    pub async fn release(mut self) {
        self.keeper.abort();
        if let Err(e) = self.client.unlock(self.key.clone()).await {
            warn!(error = %e, "could not unlock; the lease's expiry releases it");
        }
        let _ = self.client.lease_revoke(self.lease).await;
    }
}

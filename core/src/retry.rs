//! Bounded retries with exponential backoff and jitter, inside a deadline (DESIGN decision 7).
//!
//! Route 53 allows five requests a second per account, so nine peers launching together are
//! throttled; every AWS and etcd call goes through [`Retry::run`].

use std::future::Future;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::error::{Error, Result};

/// How long to keep trying, and how to space the tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Give up when the next attempt would start after this much time.
    pub deadline: Duration,
    /// First backoff; doubled after every failure.
    pub base: Duration,
    /// Largest backoff.
    pub cap: Duration,
    /// Most attempts, whatever the deadline.
    pub max_attempts: u32,
    /// An absolute end shared by several operations (e.g. one Lambda invocation): no attempt
    /// starts, and no backoff runs, past it.
    pub until: Option<Instant>,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(20),
            base: Duration::from_millis(100),
            cap: Duration::from_secs(3),
            max_attempts: 12,
            until: None,
        }
    }
}

impl Retry {
    pub fn with_deadline(deadline: Duration) -> Self {
        Self {
            deadline,
            ..Self::default()
        }
    }

    /// The same policy, also bounded by the absolute end `until`.
    pub fn until(self, until: Instant) -> Self {
        Self {
            until: Some(until),
            ..self
        }
    }

    /// Time left for `operation` started at `start`: its own deadline, capped by `until`.
    fn remaining(&self, start: Instant) -> Duration {
        let own = self.deadline.saturating_sub(start.elapsed());
        match self.until {
            Some(t) => own.min(t.saturating_duration_since(Instant::now())),
            None => own,
        }
    }

    /// Backoff before attempt `attempt + 1` ("full jitter"): uniform in `[base/2, min(cap, base * 2^attempt)]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.cap);
        let lo = (self.base / 2).min(exp);
        if exp <= lo {
            return exp;
        }
        rand::rng().random_range(lo..=exp)
    }

    /// Runs `op` until it succeeds, fails with a non-retryable error, or the deadline or the
    /// attempt budget runs out. Non-retryable errors are returned as they are.
    pub async fn run<T, F, Fut>(&self, operation: &'static str, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = self.remaining(start);
            let result = match tokio::time::timeout(remaining.max(Duration::from_millis(1)), op()).await {
                Ok(r) => r,
                Err(_) => Err(Error::Aws {
                    service: "deadline",
                    operation,
                    code: None,
                    message: format!("attempt {attempt} did not answer within the remaining {remaining:?}"),
                    retryable: true,
                }),
            };
            match result {
                Ok(v) => {
                    if attempt > 1 {
                        tracing::info!(
                            operation,
                            attempt,
                            elapsed_ms = start.elapsed().as_millis() as u64,
                            "succeeded after retries"
                        );
                    }
                    return Ok(v);
                }
                Err(e) if !e.is_retryable() => return Err(e),
                Err(e) => {
                    let pause = self.backoff(attempt - 1);
                    let elapsed = start.elapsed();
                    if attempt >= self.max_attempts || pause >= self.remaining(start) {
                        return Err(Error::DeadlineExceeded {
                            operation,
                            attempts: attempt,
                            elapsed,
                            deadline: self.deadline,
                            last: Box::new(e),
                        });
                    }
                    tracing::warn!(operation, attempt, code = e.aws_code().unwrap_or(""), error = %e, backoff_ms = pause.as_millis() as u64, "retrying");
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn throttled() -> Error {
        Error::Aws {
            service: "route53",
            operation: "op",
            code: Some("Throttling".into()),
            message: "Rate exceeded".into(),
            retryable: true,
        }
    }

    fn fast() -> Retry {
        Retry {
            deadline: Duration::from_secs(2),
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
            max_attempts: 10,
            until: None,
        }
    }

    #[tokio::test]
    async fn retries_retryable_errors_then_succeeds() {
        let calls = AtomicU32::new(0);
        let v = fast()
            .run("op", || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(throttled())
                } else {
                    Ok(7)
                }
            })
            .await
            .unwrap();
        assert_eq!(v, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn does_not_retry_non_retryable() {
        let calls = AtomicU32::new(0);
        let err = fast()
            .run("op", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::Aws {
                    service: "route53",
                    operation: "op",
                    code: Some("AccessDenied".into()),
                    message: "no".into(),
                    retryable: false,
                })
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(err.aws_code(), Some("AccessDenied"));
    }

    #[tokio::test]
    async fn gives_up_at_attempt_budget_and_keeps_the_code() {
        let mut r = fast();
        r.max_attempts = 4;
        let calls = AtomicU32::new(0);
        let err = r
            .run("op", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(throttled())
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert!(matches!(err, Error::DeadlineExceeded { attempts: 4, .. }));
        assert_eq!(err.aws_code(), Some("Throttling"));
    }

    #[tokio::test]
    async fn gives_up_at_deadline() {
        let r = Retry {
            deadline: Duration::from_millis(60),
            base: Duration::from_millis(20),
            cap: Duration::from_millis(20),
            max_attempts: 1000,
            until: None,
        };
        let start = Instant::now();
        let err = r.run("op", || async { Err::<(), _>(throttled()) }).await.unwrap_err();
        assert!(matches!(err, Error::DeadlineExceeded { .. }));
        assert!(start.elapsed() < Duration::from_millis(500));
    }

    #[tokio::test]
    async fn a_shared_end_bounds_every_operation() {
        // Two operations, each with a generous own deadline, share one 150 ms end.
        let r = Retry {
            deadline: Duration::from_secs(10),
            base: Duration::from_millis(20),
            cap: Duration::from_millis(20),
            max_attempts: 1000,
            until: None,
        }
        .until(Instant::now() + Duration::from_millis(150));
        let start = Instant::now();
        let first = r.run("a", || async { Err::<(), _>(throttled()) }).await;
        let second = r.run("b", || async { Err::<(), _>(throttled()) }).await;
        assert!(matches!(first, Err(Error::DeadlineExceeded { .. })));
        assert!(matches!(second, Err(Error::DeadlineExceeded { .. })));
        assert!(start.elapsed() < Duration::from_millis(400), "{:?}", start.elapsed());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let r = Retry {
            deadline: Duration::from_secs(1),
            base: Duration::from_millis(100),
            cap: Duration::from_millis(800),
            max_attempts: 5,
            until: None,
        };
        for attempt in 0..30 {
            let b = r.backoff(attempt);
            assert!(
                b >= Duration::from_millis(50) && b <= Duration::from_millis(800),
                "{attempt}: {b:?}"
            );
        }
        assert!(r.backoff(0) <= Duration::from_millis(100));
    }
}

//! Waiting for something with backoff and a deadline: one helper instead of hand-made loops.

use std::future::Future;
use std::time::{Duration, Instant};

/// What one look found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll<T> {
    /// Done, with the result.
    Ready(T),
    /// Not yet; why (kept for the timeout's message).
    Pending(String),
    /// Not yet, but something was just done (a request sent): look again soon, and start the
    /// backoff over.
    Soon(String),
}

/// How to space the looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self { first, max }
    }

    /// Fixed spacing.
    pub const fn every(d: Duration) -> Self {
        Self { first: d, max: d }
    }
}

/// The wait ran out: how long, and the last reason it was not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedOut {
    pub waited: Duration,
    pub last: String,
}

/// Calls `look` until it is [`Poll::Ready`], sleeping between looks (doubling from
/// `backoff.first` up to `backoff.max`), and gives up when the next look would start after
/// `deadline`. `look` may fail: an `Err` ends the wait at once.
pub async fn until<T, E, F, Fut>(deadline: Duration, backoff: Backoff, mut look: F) -> Result<Result<T, TimedOut>, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, E>>,
{
    let start = Instant::now();
    let mut pause = backoff.first;
    loop {
        let why = match look().await? {
            Poll::Ready(v) => return Ok(Ok(v)),
            Poll::Pending(why) => why,
            Poll::Soon(why) => {
                pause = backoff.first;
                why
            }
        };
        if start.elapsed() + pause > deadline {
            return Ok(Err(TimedOut {
                waited: start.elapsed(),
                last: why,
            }));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(backoff.max);
    }
}

/// [`until`] for synchronous code (a CLI's teardown, a stand-in's start): the same spacing and
/// deadline, sleeping the thread between looks.
pub fn until_blocking<T, E, F>(deadline: Duration, backoff: Backoff, mut look: F) -> Result<Result<T, TimedOut>, E>
where
    F: FnMut() -> Result<Poll<T>, E>,
{
    let start = Instant::now();
    let mut pause = backoff.first;
    loop {
        let why = match look()? {
            Poll::Ready(v) => return Ok(Ok(v)),
            Poll::Pending(why) => why,
            Poll::Soon(why) => {
                pause = backoff.first;
                why
            }
        };
        if start.elapsed() + pause > deadline {
            return Ok(Err(TimedOut {
                waited: start.elapsed(),
                last: why,
            }));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(backoff.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn ready_after_a_few_looks() {
        let n = AtomicU32::new(0);
        let r: Result<_, ()> = until(
            Duration::from_secs(2),
            Backoff::every(Duration::from_millis(1)),
            || async {
                Ok(if n.fetch_add(1, Ordering::SeqCst) < 3 {
                    Poll::Pending("not yet".into())
                } else {
                    Poll::Ready(7)
                })
            },
        )
        .await;
        assert_eq!(r, Ok(Ok(7)));
        assert_eq!(n.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn times_out_with_the_last_reason_and_errors_end_the_wait() {
        let start = Instant::now();
        let r: Result<Result<(), _>, ()> = until(
            Duration::from_millis(50),
            Backoff::new(Duration::from_millis(5), Duration::from_millis(10)),
            || async { Ok(Poll::Pending("still blank".into())) },
        )
        .await;
        let t = r.unwrap().unwrap_err();
        assert_eq!(t.last, "still blank");
        assert!(start.elapsed() < Duration::from_millis(500));
        let r: Result<Result<(), TimedOut>, &str> = until(
            Duration::from_secs(5),
            Backoff::every(Duration::from_millis(1)),
            || async { Err("boom") },
        )
        .await;
        assert_eq!(r, Err("boom"));
    }

    #[test]
    fn the_blocking_wait_spaces_and_ends_the_same_way() {
        let mut n = 0;
        let r: Result<_, ()> = until_blocking(Duration::from_secs(2), Backoff::every(Duration::from_millis(1)), || {
            n += 1;
            Ok(if n < 3 {
                Poll::Pending("not yet".into())
            } else {
                Poll::Ready(n)
            })
        });
        assert_eq!(r, Ok(Ok(3)));
        let r: Result<Result<(), _>, ()> = until_blocking(
            Duration::from_millis(20),
            Backoff::every(Duration::from_millis(5)),
            || Ok(Poll::Pending("never".into())),
        );
        assert_eq!(r.unwrap().unwrap_err().last, "never");
        let r: Result<Result<(), TimedOut>, &str> =
            until_blocking(Duration::from_secs(5), Backoff::every(Duration::from_millis(1)), || {
                Err("boom")
            });
        assert_eq!(r, Err("boom"));
    }
}

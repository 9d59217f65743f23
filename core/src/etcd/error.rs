//! What a call to etcd can fail with, typed: the endpoint or operation it concerns, and for an
//! answer etcd (or the client's own deadline) gave, its gRPC status code. Decisions are made on
//! the code, never on the message text.

use std::time::Duration;

pub use tonic::Code;

/// One failed call to etcd.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// No connection to any of `endpoints`, or one that never answered.
    #[error("{endpoints}: {detail}")]
    Unreachable { endpoints: String, detail: String },

    /// A connection was made but the member did not answer within the wait (a member that has
    /// not joined its cluster yet accepts TCP and never completes a TLS handshake).
    #[error("{endpoints}: not serving within {waited:?}")]
    NotServing { endpoints: String, waited: Duration },

    /// etcd answered `op` with a gRPC status (the client's own request timeout is one too:
    /// `Cancelled`).
    #[error("{op}: {code:?}: {message}")]
    Status { op: String, code: Code, message: String },

    /// `op` failed in the client or the transport, with no status.
    #[error("{op}: {detail}")]
    Client { op: String, detail: String },

    /// `op` took longer than the caller's bound for it as a whole.
    #[error("{op}: no answer within {waited:?}")]
    Deadline { op: String, waited: Duration },

    /// The lock `name` stayed with another holder for the whole wait.
    #[error("lock {name}: still held by another after {waited:?}")]
    LockBusy { name: String, waited: Duration },

    /// An answer that lacks a field steadfast needs.
    #[error("{op}: answered without {field}")]
    Incomplete { op: String, field: &'static str },
}

impl EtcdError {
    /// Maps the client's error for `op` (an operation and what it concerns, e.g.
    /// `"member list"` or `"get steadfast/join/"`).
    pub fn call(op: impl Into<String>) -> impl FnOnce(etcd_client::Error) -> Self {
        let op = op.into();
        move |e| match e {
            etcd_client::Error::GRpcStatus(s) => EtcdError::Status {
                op,
                code: s.code(),
                message: s.message().to_string(),
            },
            other => EtcdError::Client {
                op,
                detail: other.to_string(),
            },
        }
    }

    /// The gRPC status code of an answer (`None`: no answer).
    pub fn code(&self) -> Option<Code> {
        match self {
            EtcdError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The call ran out of time: the client's request timeout (`Cancelled`, which is what tonic
    /// answers when its timeout expires), a server-side deadline (`DeadlineExceeded`), or the
    /// caller's own bound.
    pub fn is_timeout(&self) -> bool {
        matches!(self.code(), Some(Code::Cancelled | Code::DeadlineExceeded))
            || matches!(self, EtcdError::Deadline { .. } | EtcdError::NotServing { .. })
    }

    /// etcd refused for now what it may accept soon: `Unavailable` (no leader, "unhealthy
    /// cluster" while its leader has not seen every voter for a while, a member stopping).
    pub fn is_unavailable(&self) -> bool {
        self.code() == Some(Code::Unavailable)
    }
}

/// `fut`, bounded as a whole by `within`; `op` names it in the error.
pub async fn bounded<T, F>(op: &str, within: Duration, fut: F) -> Result<T, EtcdError>
where
    F: std::future::Future<Output = Result<T, EtcdError>>,
{
    tokio::time::timeout(within, fut)
        .await
        .map_err(|_| EtcdError::Deadline {
            op: op.to_string(),
            waited: within,
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: Code, message: &str) -> EtcdError {
        EtcdError::call("op")(etcd_client::Error::GRpcStatus(tonic::Status::new(code, message)))
    }

    #[test]
    fn a_timeout_is_known_by_its_code_not_its_text() {
        // tonic's own request timeout: Cancelled, "Timeout expired".
        assert!(status(Code::Cancelled, "Timeout expired").is_timeout());
        // The same code with any text is still a timeout; the text alone is not.
        assert!(status(Code::Cancelled, "anything").is_timeout());
        assert!(status(Code::DeadlineExceeded, "context deadline exceeded").is_timeout());
        assert!(!status(Code::Unknown, "Timeout expired").is_timeout());
        assert!(EtcdError::Deadline {
            op: "x".into(),
            waited: Duration::from_secs(1)
        }
        .is_timeout());
    }

    #[test]
    fn unavailable_is_known_by_its_code() {
        assert!(status(Code::Unavailable, "etcdserver: unhealthy cluster").is_unavailable());
        assert!(!status(Code::FailedPrecondition, "etcdserver: unhealthy cluster").is_unavailable());
        let e = EtcdError::call("get k")(etcd_client::Error::InvalidArgs("no".into()));
        assert_eq!(e.code(), None);
        assert!(e.to_string().starts_with("get k: "), "{e}");
    }

    #[tokio::test]
    async fn bounded_names_what_ran_out() {
        let e = bounded("status", Duration::from_millis(10), async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<(), EtcdError>(())
        })
        .await
        .unwrap_err();
        assert!(e.is_timeout() && e.to_string().contains("status"), "{e}");
    }
}

//! The crate's one error type. AWS failures keep their error code (`Throttling`,
//! `PriorRequestNotComplete`, `VolumeInUse`, `AccessDenied`, ...) so callers decide on it.

use std::time::Duration;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Error codes AWS returns when a call may succeed if simply tried again later.
pub const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "TooManyRequestsException",
    "PriorRequestNotComplete",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "RequestTimeout",
    "IncorrectState",
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value (from configuration, a tag, an event) that is not valid.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: String,
    },

    /// A resource lacks a tag it must carry.
    #[error("{resource} has no {tag} tag")]
    MissingTag { tag: &'static str, resource: String },

    /// A resource that was expected but is not there.
    #[error("{what} not found: {detail}")]
    NotFound { what: &'static str, detail: String },

    /// An AWS call failed. `code` is AWS's error code when the service sent one; `None` for
    /// transport failures (timeouts, connection refused).
    #[error("AWS {service} {operation} failed: {}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
    Aws {
        service: &'static str,
        operation: &'static str,
        code: Option<String>,
        message: String,
        retryable: bool,
    },

    /// A call kept failing with retryable errors until its deadline.
    #[error(
        "{operation} gave up after {attempts} attempts in {elapsed:?} (deadline {deadline:?}); last error: {last}"
    )]
    DeadlineExceeded {
        operation: &'static str,
        attempts: u32,
        elapsed: Duration,
        deadline: Duration,
        last: Box<Error>,
    },

    /// Local I/O while moving an object (writing a download to its file).
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    /// An AWS answer that lacks a field we need.
    #[error("AWS {operation} answered without {field}")]
    Incomplete {
        operation: &'static str,
        field: &'static str,
    },
}

impl Error {
    /// The AWS error code, looking through retries.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => code.as_deref(),
            Error::DeadlineExceeded { last, .. } => last.aws_code(),
            _ => None,
        }
    }

    /// Route 53 refused a change batch because a record is not what it was when it was read
    /// (`InvalidChangeBatch`): gather again and re-plan.
    pub fn is_stale_write(&self) -> bool {
        self.aws_code() == Some("InvalidChangeBatch")
    }

    /// The call's deadline ran out while it kept being retried.
    pub fn is_deadline(&self) -> bool {
        matches!(self, Error::DeadlineExceeded { .. })
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Aws { retryable, .. } => *retryable,
            Error::DeadlineExceeded { .. } => true,
            _ => false,
        }
    }

    /// Builds an [`Error::Aws`] from an SDK error, keeping its code.
    pub fn from_sdk<E, R>(service: &'static str, operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + 'static,
    {
        match &err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                let code = e.code().map(str::to_string);
                let retryable = code.as_deref().is_some_and(|c| RETRYABLE_CODES.contains(&c));
                Error::Aws {
                    service,
                    operation,
                    message: e.message().map(str::to_string).unwrap_or_else(|| e.to_string()),
                    code,
                    retryable,
                }
            }
            SdkError::TimeoutError(_) => Error::Aws {
                service,
                operation,
                code: None,
                message: "timed out".into(),
                retryable: true,
            },
            SdkError::DispatchFailure(d) => Error::Aws {
                service,
                operation,
                code: None,
                message: format!(
                    "could not reach the endpoint: {}",
                    source_chain(&err).unwrap_or_else(|| format!("{d:?}"))
                ),
                retryable: true,
            },
            SdkError::ResponseError(_) => Error::Aws {
                service,
                operation,
                code: None,
                message: format!("unreadable response: {}", source_chain(&err).unwrap_or_default()),
                retryable: true,
            },
            _ => Error::Aws {
                service,
                operation,
                code: err.code().map(str::to_string),
                message: source_chain(&err).unwrap_or_else(|| err.to_string()),
                retryable: false,
            },
        }
    }
}

/// The error's sources, joined with ": " (`None` when it has none).
fn source_chain(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut parts = Vec::new();
    let mut cur = err.source();
    while let Some(e) = cur {
        parts.push(e.to_string());
        cur = e.source();
    }
    (!parts.is_empty()).then(|| parts.join(": "))
}

/// An error and all its sources, joined with ": ".
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    match source_chain(err) {
        Some(rest) => format!("{err}: {rest}"),
        None => err.to_string(),
    }
}

//! The CLI's one error type: what failed, naming the thing (the secret, the endpoint, the file).

/// Everything the `steadfast` command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// From steadfast-core (the AWS calls keep their error codes there).
    #[error(transparent)]
    Core(#[from] steadfast_core::Error),
    /// A call to etcd: which endpoint or key, and etcd's answer.
    #[error("etcd: {0}")]
    Etcd(#[from] steadfast_core::etcd::EtcdError),
    /// No member answered: the last reason.
    #[error("etcd: no member answered: {0}")]
    NoMember(String),
    /// A bad flag or environment variable, named.
    #[error("{0}")]
    Usage(String),
    /// A file this command writes.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A rotation that did not finish in time: how far it got.
    #[error("gave up after {secs} s: {detail}")]
    Timeout { secs: u64, detail: String },
}

impl CliError {
    pub fn io(path: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_string();
        move |source| Self::Io { path, source }
    }
}

pub type Result<T> = std::result::Result<T, CliError>;

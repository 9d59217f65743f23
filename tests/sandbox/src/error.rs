//! The sandbox crate's one error type.

use std::path::PathBuf;

pub type Result<T, E = SandboxError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is missing; run `make deps` first")]
    Missing(PathBuf),
    #[error(transparent)]
    Aws(#[from] steadfast_core::Error),
    /// A call to etcd (typed by its gRPC status code).
    #[error("etcd: {0}")]
    Etcd(#[from] steadfast_core::etcd::EtcdError),
    #[error("{0}")]
    Setup(String),
}

impl SandboxError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| SandboxError::Io { what, source }
    }
}

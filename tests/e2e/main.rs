//! The suites that judge the whole system, against the built binaries (`cargo test --workspace`
//! builds them first).
//! - [`sandbox`]: the local region end to end: up, serve, survive a replacement, tear down.
//! - [`chaos`]: the chaos suite's CI subset (a zone plus one, and all nine, killed under load).
//! - [`terraform`]: the deploy path: `terraform apply` of the module against moto, and the
//!   binaries against what it created.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on what they did not expect

mod chaos;
mod sandbox;
mod terraform;

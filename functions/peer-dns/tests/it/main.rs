//! peer-dns's integration tests:
//! - [`events`]: parsing AWS's own sample events and malformed ones;
//! - [`handler`]: the handler over SDK-mocked Route 53 and Auto Scaling and the in-memory EC2;
//! - [`moto`]: the handler with the real adapters against moto, in a region set up as Terraform
//!   does;
//! - [`cargo_lambda`]: the built binary under `cargo lambda watch`, end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on what they did not expect

mod cargo_lambda;
mod events;
mod handler;
mod moto;

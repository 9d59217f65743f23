//! core's integration tests: the SDK adapters against SDK-level mocks.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on what they did not expect

mod route53;

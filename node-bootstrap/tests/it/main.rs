//! node-bootstrap's integration tests:
//! - [`emulator`]: `prepare` against moto, IMDSv2 stand-ins and real loop devices (root only);
//! - [`ready`]: readiness against a real etcd, CompleteLifecycleAction through SDK mocks.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on what they did not expect

mod emulator;
mod ready;

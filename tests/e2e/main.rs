//! The suites that judge the whole system, against the built binaries (`cargo test --workspace`
//! builds them first).
//! - [`sandbox`]: the local region end to end: up, serve, survive a replacement, tear down.
//! - [`chaos`]: the chaos suite's CI subset (a zone plus one, and all nine, killed under load).
//! - [`docs`]: every knob table against the code (flags, variables, delays, scenarios).
//! - [`restore`]: `steadfast restore` refusing bad input (moto), changing nothing.
//! - [`stall`]: a bring-up that makes no progress says who waits on what and keeps its evidence;
//!   a node that gets nowhere abandons, and its group replaces it.
//! - [`tls`]: racing CA creation, and a real TLS etcd refusing every client without a good
//!   certificate.
//! - [`terraform`]: the deploy path: `terraform apply` of the module against moto, and the
//!   binaries against what it created.
//! - [`deploy`]: the deploy path whole: the module's region (`sandbox up --terraform`) forms a
//!   healthy TLS cluster reached through the load balancer, and a destroy and apply of the same
//!   name forms a new one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on what they did not expect

mod chaos;
mod deploy;
mod docs;
mod restore;
mod sandbox;
mod stall;
mod terraform;
mod tls;

/// One region at a time: the sandbox test counts the machine's etcd and dnsmasq processes to
/// prove its teardown, and the chaos subset's timings should not share two cores with another
/// region. Each region test holds this for its whole run.
pub(crate) fn one_region_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static REGION: std::sync::Mutex<()> = std::sync::Mutex::new(());
    REGION.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

//! peer-dns: the Lambda that keeps each `peer-N.<cluster>.<domain>` A record pointing at the
//! instance that currently holds peer N's slot.
//!
//! # Layout
//! - [`config`]: environment variables, validated at start (errors name the variable).
//! - [`event`]: strict parsing of the EventBridge events handled (launch hook, launch
//!   successful, scheduled sweep); malformed input is a non-retryable error.
//! - [`handler`]: gather -> plan -> apply over `steadfast_core`'s ports and its one records planner.
//! - [`runtime`]: wiring into `lambda_runtime`: JSON logs, SDK clients, error mapping.

pub mod config;
pub mod event;
pub mod handler;
pub mod runtime;

pub use config::Config;
pub use handler::{Action, HandlerError, Outcome, PeerDns};

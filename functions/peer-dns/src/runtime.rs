//! Wiring into `lambda_runtime`: JSON `tracing` logs, SDK clients built once, and the mapping of
//! handler errors onto Lambda error types (`Retryable.*` / `NonRetryable.*`).

use std::time::{Duration, Instant};

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use steadfast_core::aws::sdk::{AutoScaling, Cloud, Ec2, Route53};
use steadfast_core::retry::Retry;

use crate::config::Config;
use crate::handler::{HandlerError, Outcome, PeerDns};

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        Diagnostic {
            error_type: e.error_type(),
            error_message: e.to_string(),
        }
    }
}

/// JSON logs to stdout (CloudWatch), filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .with_target(false)
        .init();
}

pub type SdkPeerDns = PeerDns<Route53, AutoScaling, Ec2>;

/// Builds the handler with SDK adapters. The AWS endpoint comes from the usual chain
/// (`AWS_ENDPOINT_URL` points it at an emulator).
pub async fn build(config: Config) -> SdkPeerDns {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let cloud = Cloud::from_conf(&sdk, Retry::with_deadline(config.retry_deadline));
    PeerDns::new(config, cloud.records, cloud.groups, cloud.ec2)
}

/// One invocation. Every AWS call of it shares one end: the configured retry deadline, cut to
/// 1 s before the invocation's own deadline when that leaves more than 1 s. (A deadline closer
/// than 2 s is not believed: cargo-lambda's emulator reports one, and a budget that small would
/// fail every call.)
pub async fn invoke(handler: &SdkPeerDns, event: LambdaEvent<Value>) -> Result<Outcome, HandlerError> {
    let left = Duration::from_millis(event.context.deadline.saturating_sub(steadfast_core::clock::now_ms()));
    let budget = invocation_budget(handler.config.retry_deadline, left);
    tracing::debug!(request_id = %event.context.request_id, remaining_ms = left.as_millis() as u64, budget_ms = budget.as_millis() as u64, "invocation");
    let retry = Retry::with_deadline(budget).until(Instant::now() + budget);
    let this = PeerDns::new(
        handler.config.clone(),
        handler.records.clone().with_retry(retry),
        handler.groups.clone().with_retry(retry),
        handler.instances.clone().with_retry(retry),
    );
    this.handle(&event.payload).await
}

/// The retry budget of one invocation: `configured`, cut to `left - 1 s` when `left` > 2 s.
pub fn invocation_budget(configured: Duration, left: Duration) -> Duration {
    if left > Duration::from_secs(2) {
        configured.min(left - Duration::from_secs(1))
    } else {
        configured
    }
}

#[cfg(test)]
mod tests {
    use super::invocation_budget;
    use std::time::Duration;

    #[test]
    fn budget_follows_the_invocation_deadline_when_it_is_believable() {
        let s = Duration::from_secs;
        assert_eq!(invocation_budget(s(20), s(30)), s(20));
        assert_eq!(invocation_budget(s(20), s(10)), s(9));
        assert_eq!(
            invocation_budget(s(20), Duration::from_millis(2500)),
            Duration::from_millis(1500)
        );
        assert_eq!(
            invocation_budget(s(20), s(1)),
            s(20),
            "an implausible deadline is not believed"
        );
        assert_eq!(invocation_budget(s(20), s(0)), s(20));
    }
}

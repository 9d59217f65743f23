//! The peer-dns Lambda: parse configuration, build clients once, serve invocations.
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, LambdaEvent};
use peer_dns::{runtime, Config};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_logging();
    let config = Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    tracing::info!(cluster = %config.cluster.name(), zone = %config.zone_id, ttl = config.ttl, "peer-dns starting");
    let handler = runtime::build(config).await;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| async move {
        runtime::invoke(handler, ev).await
    }))
    .await
}

//! Adapters from the [`super`] ports to the AWS SDK crates, one file per service:
//! [`route53`] ([`Records`](super::Records)), [`autoscaling`] ([`Groups`](super::Groups)),
//! [`ec2`] ([`Instances`](super::Instances) and [`Volumes`](super::Volumes)), [`cloudwatch`]
//! ([`Metrics`](super::Metrics)), [`s3`] ([`Objects`](super::Objects)), [`secretsmanager`]
//! ([`Secrets`](super::Secrets)); [`Cloud`] bundles them all over one configuration.
//!
//! The SDK's own retries are turned off ([`client_config`]): each call goes through [`call`],
//! which names the operation once and retries it with our [`Retry`] policy, so one deadline
//! bounds the whole operation and the error keeps AWS's code.

mod autoscaling;
mod cloud;
mod cloudwatch;
mod ec2;
mod route53;
mod s3;
mod secretsmanager;

pub use autoscaling::AutoScaling;
pub use cloud::Cloud;
pub use cloudwatch::CloudWatch;
pub use ec2::Ec2;
pub use route53::Route53;
pub use s3::S3;
pub use secretsmanager::SecretsManager;

use std::future::Future;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{Error, Result};
use crate::retry::Retry;

/// Per-attempt and connect timeouts applied to every SDK client.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub attempt: Duration,
    pub connect: Duration,
    /// Per attempt of an S3 transfer (a multipart part, the start of a download).
    pub transfer: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            attempt: Duration::from_secs(5),
            connect: Duration::from_secs(2),
            transfer: Duration::from_secs(60),
        }
    }
}

fn retry_off() -> RetryConfig {
    RetryConfig::disabled()
}

fn timeouts(t: Timeouts) -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_attempt_timeout(t.attempt)
        .connect_timeout(t.connect)
        .build()
}

/// Builds the SDK clients from one loaded `SdkConfig` (which honours `AWS_ENDPOINT_URL`).
pub fn client_config(conf: &SdkConfig, t: Timeouts) -> SdkClients {
    SdkClients {
        route53: aws_sdk_route53::Client::from_conf(
            aws_sdk_route53::config::Builder::from(conf)
                .retry_config(retry_off())
                .timeout_config(timeouts(t))
                .build(),
        ),
        autoscaling: aws_sdk_autoscaling::Client::from_conf(
            aws_sdk_autoscaling::config::Builder::from(conf)
                .retry_config(retry_off())
                .timeout_config(timeouts(t))
                .build(),
        ),
        ec2: aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(conf)
                .retry_config(retry_off())
                .timeout_config(timeouts(t))
                .build(),
        ),
        cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(conf)
                .retry_config(retry_off())
                .timeout_config(timeouts(t))
                .build(),
        ),
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(conf)
                .retry_config(retry_off())
                .timeout_config(timeouts(Timeouts {
                    attempt: t.transfer,
                    ..t
                }))
                // An endpoint of its own (an S3-compatible store, a local stand-in) has no
                // per-bucket host names: address buckets by path there.
                .force_path_style(conf.endpoint_url().is_some())
                // The payload is signed (sigv4) and every snapshot carries our own sha256, read
                // back before it counts; the SDK's extra CRC32 only where S3 requires one.
                .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
                .build(),
        ),
        secretsmanager: aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(conf)
                .retry_config(retry_off())
                .timeout_config(timeouts(t))
                .build(),
        ),
    }
}

#[derive(Debug, Clone)]
pub struct SdkClients {
    pub route53: aws_sdk_route53::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub s3: aws_sdk_s3::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
}

/// Sends one request through `retry`. `send` builds and sends the request afresh for each
/// attempt; `service` and `operation` name it in the retry log, the deadline error and the AWS
/// error, so an adapter states each operation's name exactly once.
pub(crate) async fn call<T, E, R, F, Fut>(
    retry: &Retry,
    service: &'static str,
    operation: &'static str,
    mut send: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    retry
        .run(operation, || {
            let attempt = send();
            async move { attempt.await.map_err(|e| Error::from_sdk(service, operation, e)) }
        })
        .await
}

/// (key, value) pairs of an SDK tag list; tags without a key are dropped.
pub(crate) fn tags<'a, I, T>(items: I, key: fn(&T) -> Option<&str>, value: fn(&T) -> Option<&str>) -> crate::vocab::Tags
where
    I: IntoIterator<Item = &'a T>,
    T: 'a,
{
    crate::vocab::Tags::from_pairs(
        items
            .into_iter()
            .filter_map(|t| Some((key(t)?.to_string(), value(t).unwrap_or_default().to_string()))),
    )
}

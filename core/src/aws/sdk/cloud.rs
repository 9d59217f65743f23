//! The one bundle of AWS adapters: every port's SDK adapter built from one loaded `SdkConfig`
//! (which honours `AWS_ENDPOINT_URL`), each with the SDK's retries off and the same [`Retry`]
//! policy. node-bootstrap, the Lambda, the CLI, the sandbox and the tests all build it here.

use aws_config::SdkConfig;

use super::{client_config, AutoScaling, CloudWatch, Ec2, Route53, SecretsManager, Timeouts, S3};
use crate::retry::Retry;

/// Every adapter, over one configuration.
#[derive(Debug, Clone)]
pub struct Cloud {
    /// Route 53: the `peer-N` A records.
    pub records: Route53,
    /// Auto Scaling: groups and lifecycle actions.
    pub groups: AutoScaling,
    /// EC2: instances and volumes.
    pub ec2: Ec2,
    /// CloudWatch: metrics.
    pub metrics: CloudWatch,
    /// Secrets Manager: the cluster's CA.
    pub secrets: SecretsManager,
    s3: aws_sdk_s3::Client,
    retry: Retry,
}

impl Cloud {
    /// The adapters with the default per-attempt timeouts.
    pub fn from_conf(conf: &SdkConfig, retry: Retry) -> Self {
        Self::with_timeouts(conf, retry, Timeouts::default())
    }

    pub fn with_timeouts(conf: &SdkConfig, retry: Retry, t: Timeouts) -> Self {
        let c = client_config(conf, t);
        Self {
            records: Route53::new(c.route53, retry),
            groups: AutoScaling::new(c.autoscaling, retry),
            ec2: Ec2::new(c.ec2, retry),
            metrics: CloudWatch::new(c.cloudwatch, retry),
            secrets: SecretsManager::new(c.secretsmanager, retry),
            s3: c.s3,
            retry,
        }
    }

    /// The objects of `bucket`, written encrypted with `kms_key` when one is given.
    pub fn bucket(&self, bucket: impl Into<String>, kms_key: Option<String>) -> S3 {
        S3::new(self.s3.clone(), self.retry, bucket, kms_key)
    }

    /// The raw S3 client (for what no port covers: creating a bucket in a stand-in).
    pub fn s3_client(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    /// The retry policy every adapter uses.
    pub fn retry(&self) -> Retry {
        self.retry
    }
}

//! CloudWatch: [`Metrics`] over `PutMetricData`.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

use super::call;
use crate::aws::{Metric, Metrics};
use crate::error::Result;
use crate::retry::Retry;

const SERVICE: &str = "cloudwatch";

#[derive(Debug, Clone)]
pub struct CloudWatch {
    client: aws_sdk_cloudwatch::Client,
    retry: Retry,
}

impl CloudWatch {
    pub fn new(client: aws_sdk_cloudwatch::Client, retry: Retry) -> Self {
        Self { client, retry }
    }
}

impl Metrics for CloudWatch {
    async fn put_metric(&self, m: &Metric) -> Result<()> {
        let datum = MetricDatum::builder()
            .metric_name(&m.name)
            .value(m.value)
            .unit(StandardUnit::from(m.unit))
            .set_dimensions(Some(
                m.dimensions
                    .iter()
                    .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                    .collect(),
            ))
            .build();
        call(&self.retry, SERVICE, "PutMetricData", || {
            self.client
                .put_metric_data()
                .namespace(&m.namespace)
                .metric_data(datum.clone())
                .send()
        })
        .await?;
        Ok(())
    }
}

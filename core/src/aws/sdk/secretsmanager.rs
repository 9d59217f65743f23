//! Secrets Manager: [`Secrets`], for the cluster's CA.

use aws_sdk_secretsmanager::types::Tag;

use super::call;
use crate::aws::{PutOutcome, Secrets};
use crate::error::Result;
use crate::retry::Retry;
use crate::vocab::Tags;

const SERVICE: &str = "secretsmanager";
const GET_SECRET_VALUE: &str = "GetSecretValue";
const CREATE_SECRET: &str = "CreateSecret";

#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
    retry: Retry,
}

impl SecretsManager {
    pub fn new(client: aws_sdk_secretsmanager::Client, retry: Retry) -> Self {
        Self { client, retry }
    }
}

impl Secrets for SecretsManager {
    async fn get_secret(&self, name: &str) -> Result<Option<String>> {
        let got = call(&self.retry, SERVICE, GET_SECRET_VALUE, || {
            self.client.get_secret_value().secret_id(name).send()
        })
        .await;
        match got {
            Ok(out) => Ok(out.secret_string().map(str::to_string)),
            Err(e) if e.aws_code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_secret(&self, name: &str, value: &str, kms_key: Option<&str>, tags: &Tags) -> Result<PutOutcome> {
        let tags: Vec<Tag> = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        // Each attempt carries a new client request token, so an attempt whose answer was lost
        // is answered "exists" on the next: the caller reads the secret back either way.
        let sent = call(&self.retry, SERVICE, CREATE_SECRET, || {
            self.client
                .create_secret()
                .name(name)
                .secret_string(value)
                .set_kms_key_id(kms_key.map(str::to_string))
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await;
        match sent {
            Ok(_) => Ok(PutOutcome::Created),
            Err(e) if e.aws_code() == Some("ResourceExistsException") => Ok(PutOutcome::Exists),
            Err(e) => Err(e),
        }
    }

    async fn put_secret(&self, name: &str, value: &str) -> Result<()> {
        call(&self.retry, SERVICE, "PutSecretValue", || {
            self.client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
        })
        .await?;
        Ok(())
    }
}

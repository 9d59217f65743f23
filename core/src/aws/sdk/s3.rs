//! S3: [`Objects`], bound to one bucket; every object written is encrypted with the cluster's KMS
//! key (SSE-KMS), or with the bucket's default encryption when no key is given.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, ServerSideEncryption};
use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::call;
use crate::aws::{ObjectInfo, Objects, PutOutcome};
use crate::error::{Error, Result};
use crate::retry::Retry;

const SERVICE: &str = "s3";
/// The operations named more than once (their calls and their errors).
const LIST_OBJECTS: &str = "ListObjectsV2";
const GET_OBJECT: &str = "GetObject";
const PUT_OBJECT: &str = "PutObject";
const DELETE_OBJECTS: &str = "DeleteObjects";
const UPLOAD_PART: &str = "UploadPart";

/// DeleteObjects takes at most this many keys.
const DELETE_BATCH: usize = 1000;

#[derive(Debug, Clone)]
pub struct S3 {
    client: aws_sdk_s3::Client,
    retry: Retry,
    bucket: String,
    kms_key: Option<String>,
    /// The longest wait for the next chunk of a download.
    read_timeout: Duration,
}

impl S3 {
    /// `kms_key`: the key id or ARN objects are encrypted with (SSE-KMS); `None` leaves it to the
    /// bucket's default encryption.
    pub fn new(client: aws_sdk_s3::Client, retry: Retry, bucket: impl Into<String>, kms_key: Option<String>) -> Self {
        Self {
            client,
            retry,
            bucket: bucket.into(),
            kms_key,
            read_timeout: Duration::from_secs(30),
        }
    }

    fn sse(&self) -> (Option<ServerSideEncryption>, Option<String>) {
        match &self.kms_key {
            Some(k) => (Some(ServerSideEncryption::AwsKms), Some(k.clone())),
            None => (None, None),
        }
    }
}

impl Objects for S3 {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = call(&self.retry, SERVICE, LIST_OBJECTS, || {
                self.client
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(prefix)
                    .set_continuation_token(token.clone())
                    .send()
            })
            .await?;
            for o in page.contents() {
                let key = o.key().ok_or(Error::Incomplete {
                    operation: LIST_OBJECTS,
                    field: "Key",
                })?;
                out.push(ObjectInfo {
                    key: key.to_string(),
                    size: o.size().unwrap_or_default().max(0) as u64,
                });
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated().unwrap_or(false) => token = Some(t.to_string()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.read_into(key, &mut buf).await?;
        Ok(buf)
    }

    async fn read_into<W>(&self, key: &str, sink: &mut W) -> Result<u64>
    where
        W: tokio::io::AsyncWrite + Unpin + Send,
    {
        let out = call(&self.retry, SERVICE, GET_OBJECT, || {
            self.client.get_object().bucket(&self.bucket).key(key).send()
        })
        .await?;
        let mut body = out.body;
        let mut n = 0u64;
        let broken = |message: String| Error::Aws {
            service: SERVICE,
            operation: GET_OBJECT,
            code: None,
            message: format!("s3://{}/{key}: {message}", self.bucket),
            retryable: true,
        };
        loop {
            let chunk = tokio::time::timeout(self.read_timeout, body.next())
                .await
                .map_err(|_| broken(format!("no data for {:?} after {n} bytes", self.read_timeout)))?;
            let Some(chunk) = chunk else { break };
            let chunk = chunk.map_err(|e| broken(format!("after {n} bytes: {e}")))?;
            sink.write_all(&chunk).await.map_err(|source| Error::Io {
                what: format!("writing s3://{}/{key} where it is read to", self.bucket),
                source,
            })?;
            n += chunk.len() as u64;
        }
        sink.flush().await.map_err(|source| Error::Io {
            what: format!("writing s3://{}/{key} where it is read to", self.bucket),
            source,
        })?;
        Ok(n)
    }

    async fn put(&self, key: &str, body: Bytes, if_absent: bool) -> Result<PutOutcome> {
        let (sse, kms) = self.sse();
        let sent = call(&self.retry, SERVICE, PUT_OBJECT, || {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(ByteStream::from(body.clone()))
                .set_server_side_encryption(sse.clone())
                .set_ssekms_key_id(kms.clone())
                .set_if_none_match(if_absent.then(|| "*".to_string()))
                .send()
        })
        .await;
        match sent {
            Ok(_) => Ok(PutOutcome::Created),
            Err(e) if if_absent && e.aws_code() == Some("PreconditionFailed") => Ok(PutOutcome::Exists),
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, keys: &[String]) -> Result<()> {
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::Invalid {
                    what: "object key",
                    value: batch.join(","),
                    reason: e.to_string(),
                })?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| Error::Invalid {
                    what: "DeleteObjects request",
                    value: batch.join(","),
                    reason: e.to_string(),
                })?;
            let out = call(&self.retry, SERVICE, DELETE_OBJECTS, || {
                self.client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(delete.clone())
                    .send()
            })
            .await?;
            // DeleteObjects answers 200 and lists the keys it could not delete.
            if let Some(e) = out.errors().first() {
                return Err(Error::Aws {
                    service: SERVICE,
                    operation: DELETE_OBJECTS,
                    code: e.code().map(str::to_string),
                    message: format!(
                        "{} of {} keys not deleted, first {}: {}",
                        out.errors().len(),
                        batch.len(),
                        e.key().unwrap_or("?"),
                        e.message().unwrap_or_default()
                    ),
                    retryable: false,
                });
            }
        }
        Ok(())
    }

    async fn create_upload(&self, key: &str, metadata: &[(&str, String)]) -> Result<String> {
        let (sse, kms) = self.sse();
        let meta: HashMap<String, String> = metadata.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let out = call(&self.retry, SERVICE, "CreateMultipartUpload", || {
            self.client
                .create_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .set_metadata(Some(meta.clone()))
                .set_server_side_encryption(sse.clone())
                .set_ssekms_key_id(kms.clone())
                .send()
        })
        .await?;
        out.upload_id().map(str::to_string).ok_or(Error::Incomplete {
            operation: "CreateMultipartUpload",
            field: "UploadId",
        })
    }

    async fn upload_part(&self, key: &str, upload_id: &str, number: i32, body: Bytes) -> Result<String> {
        let out = call(&self.retry, SERVICE, UPLOAD_PART, || {
            self.client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(body.clone()))
                .send()
        })
        .await?;
        out.e_tag().map(str::to_string).ok_or(Error::Incomplete {
            operation: UPLOAD_PART,
            field: "ETag",
        })
    }

    async fn complete_upload(&self, key: &str, upload_id: &str, parts: &[(i32, String)]) -> Result<()> {
        let done = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|(n, tag)| CompletedPart::builder().part_number(*n).e_tag(tag).build())
                    .collect(),
            ))
            .build();
        call(&self.retry, SERVICE, "CompleteMultipartUpload", || {
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .multipart_upload(done.clone())
                .send()
        })
        .await?;
        Ok(())
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<()> {
        call(&self.retry, SERVICE, "AbortMultipartUpload", || {
            self.client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .send()
        })
        .await?;
        Ok(())
    }
}

//! Moving a snapshot without ever holding it: [`Upload`] turns a stream of chunks into a
//! multipart upload (one part buffered at a time, so memory stays flat however large the
//! database is), hashing the whole object as it goes and checking etcd's own trailing sha256;
//! [`Hashing`] hashes what is written through it (a download read back).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWrite;
use tracing::warn;

use crate::aws::Objects;
use crate::error::{Error, Result};

/// S3's smallest part (every part but the last).
pub const MIN_PART: usize = 5 << 20;
/// S3's most parts per upload.
const MAX_PARTS: i32 = 10_000;
/// etcd appends the sha256 of the database to the snapshot stream.
const ETCD_HASH_LEN: usize = 32;

/// The sha256 of everything but the last 32 bytes, and those 32 bytes: etcd's snapshot stream
/// ends with the sha256 of the database before it.
#[derive(Debug, Clone, Default)]
pub struct TrailingHash {
    body: Sha256,
    tail: Vec<u8>,
    len: u64,
}

impl TrailingHash {
    pub fn update(&mut self, chunk: &[u8]) {
        self.len += chunk.len() as u64;
        self.tail.extend_from_slice(chunk);
        if self.tail.len() > ETCD_HASH_LEN {
            let cut = self.tail.len() - ETCD_HASH_LEN;
            self.body.update(&self.tail[..cut]);
            self.tail.drain(..cut);
        }
    }

    /// Whether the stream ended with the sha256 of what came before it.
    pub fn matches(self) -> bool {
        self.len > ETCD_HASH_LEN as u64 && self.body.finalize().as_slice() == self.tail.as_slice()
    }
}

/// What an upload stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub key: String,
    pub size: u64,
    /// sha256 of the whole object, hex.
    pub sha256: String,
    pub parts: usize,
}

/// A multipart upload being fed. Dropped without [`finish`](Self::finish) it leaves an
/// incomplete upload behind: call [`abort`](Self::abort) on every error path (the bucket's
/// lifecycle rule removes what a crash leaves).
#[derive(Debug)]
pub struct Upload<'a, O: Objects> {
    objects: &'a O,
    key: String,
    upload_id: String,
    part_size: usize,
    buf: BytesMut,
    parts: Vec<(i32, String)>,
    sha: Sha256,
    etcd: TrailingHash,
    size: u64,
}

impl<'a, O: Objects> Upload<'a, O> {
    /// Starts uploading `key` in parts of `part_size` bytes (at least [`MIN_PART`]).
    pub async fn start(objects: &'a O, key: &str, metadata: &[(&str, String)], part_size: usize) -> Result<Self> {
        if part_size < MIN_PART {
            return Err(Error::Invalid {
                what: "backup part size",
                value: part_size.to_string(),
                reason: format!("S3 parts but the last are at least {MIN_PART} bytes"),
            });
        }
        let upload_id = objects.create_upload(key, metadata).await?;
        Ok(Self {
            objects,
            key: key.to_string(),
            upload_id,
            part_size,
            buf: BytesMut::with_capacity(part_size),
            parts: Vec::new(),
            sha: Sha256::new(),
            etcd: TrailingHash::default(),
            size: 0,
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Bytes taken so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Takes the next chunk; sends a part whenever one is full.
    pub async fn write(&mut self, mut chunk: &[u8]) -> Result<()> {
        self.sha.update(chunk);
        self.etcd.update(chunk);
        self.size += chunk.len() as u64;
        while !chunk.is_empty() {
            let room = self.part_size - self.buf.len();
            let (now, later) = chunk.split_at(room.min(chunk.len()));
            self.buf.extend_from_slice(now);
            chunk = later;
            if self.buf.len() == self.part_size {
                self.send_part().await?;
            }
        }
        Ok(())
    }

    async fn send_part(&mut self) -> Result<()> {
        let number = self.parts.len() as i32 + 1;
        if number > MAX_PARTS {
            return Err(Error::Invalid {
                what: "backup part size",
                value: self.part_size.to_string(),
                reason: format!("the snapshot needs more than {MAX_PARTS} parts; raise the part size"),
            });
        }
        let body: Bytes = self.buf.split().freeze();
        let etag = self
            .objects
            .upload_part(&self.key, &self.upload_id, number, body)
            .await?;
        self.parts.push((number, etag));
        // `split` left an empty buffer without capacity; the next part gets a fresh one, so at
        // most one part is held while another is sent.
        self.buf.reserve(self.part_size);
        Ok(())
    }

    /// Sends the last part and completes the upload, but only when etcd's trailing sha256
    /// matched: a stream cut short or corrupted is never stored.
    pub async fn finish(mut self) -> Result<Uploaded> {
        let etcd = std::mem::take(&mut self.etcd);
        if !etcd.matches() {
            let err = Error::Invalid {
                what: "etcd snapshot stream",
                value: format!("{} ({} bytes)", self.key, self.size),
                reason: "it does not end with the sha256 of the database (cut short or corrupted); not stored".into(),
            };
            self.abort().await;
            return Err(err);
        }
        if !self.buf.is_empty() || self.parts.is_empty() {
            if let Err(e) = self.send_part().await {
                self.abort().await;
                return Err(e);
            }
        }
        if let Err(e) = self
            .objects
            .complete_upload(&self.key, &self.upload_id, &self.parts)
            .await
        {
            self.abort().await;
            return Err(e);
        }
        Ok(Uploaded {
            key: self.key.clone(),
            size: self.size,
            sha256: hex(&self.sha.clone().finalize()),
            parts: self.parts.len(),
        })
    }

    /// Gives the upload up and frees its parts (best effort: logged when it fails).
    pub async fn abort(self) {
        if let Err(e) = self.objects.abort_upload(&self.key, &self.upload_id).await {
            warn!(key = %self.key, error = %e, "could not abort the multipart upload; the bucket's lifecycle rule removes it");
        }
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An [`AsyncWrite`] that hashes everything written through it into `inner`.
#[derive(Debug)]
pub struct Hashing<W> {
    inner: W,
    sha: Sha256,
}

impl<W> Hashing<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            sha: Sha256::new(),
        }
    }

    /// The sha256 (hex) of what was written, and the writer.
    pub fn finish(self) -> (String, W) {
        (hex(&self.sha.finalize()), self.inner)
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Hashing<W> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.sha.update(&buf[..n]);
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::aws::fake::FakeCloud;

    /// A snapshot stream as etcd sends it: the database, then its sha256.
    fn etcd_stream(db: &[u8]) -> Vec<u8> {
        let mut s = db.to_vec();
        s.extend_from_slice(&Sha256::digest(db));
        s
    }

    #[test]
    fn the_trailing_hash_is_checked_across_any_chunking() {
        let stream = etcd_stream(&vec![7u8; 1000]);
        for chunk in [1, 31, 32, 33, 500, 2000] {
            let mut t = TrailingHash::default();
            stream.chunks(chunk).for_each(|c| t.update(c));
            assert!(t.matches(), "chunks of {chunk}");
        }
        let mut cut = TrailingHash::default();
        cut.update(&stream[..stream.len() - 1]);
        assert!(!cut.matches(), "a stream cut short");
        let mut bad = stream.clone();
        bad[10] ^= 1;
        let mut t = TrailingHash::default();
        t.update(&bad);
        assert!(!t.matches(), "a flipped bit");
        assert!(!TrailingHash::default().matches(), "nothing at all");
    }

    #[tokio::test]
    async fn parts_are_full_but_the_last_and_the_object_is_the_stream() {
        let cloud = FakeCloud::new();
        let db: Vec<u8> = (0..(MIN_PART * 2 + 12345)).map(|i| (i % 251) as u8).collect();
        let stream = etcd_stream(&db);
        let mut up = Upload::start(&cloud, "s/1.db", &[("revision", "9".into())], MIN_PART)
            .await
            .unwrap();
        for c in stream.chunks(64 << 10) {
            up.write(c).await.unwrap();
        }
        let done = up.finish().await.unwrap();
        assert_eq!(done.parts, 3);
        assert_eq!(done.size, stream.len() as u64);
        assert_eq!(done.sha256, hex(&Sha256::digest(&stream)));
        let stored = cloud.object("s/1.db").unwrap();
        assert_eq!(stored, stream);
        assert_eq!(
            cloud.part_sizes("s/1.db"),
            vec![MIN_PART, MIN_PART, stream.len() - 2 * MIN_PART]
        );
        assert_eq!(
            cloud.object_metadata("s/1.db").unwrap(),
            vec![("revision".to_string(), "9".to_string())]
        );
    }

    #[tokio::test]
    async fn a_broken_stream_is_aborted_and_never_stored() {
        let cloud = FakeCloud::new();
        let mut stream = etcd_stream(b"not much of a database");
        stream.pop();
        let mut up = Upload::start(&cloud, "s/2.db", &[], MIN_PART).await.unwrap();
        up.write(&stream).await.unwrap();
        let e = up.finish().await.unwrap_err().to_string();
        assert!(e.contains("s/2.db") && e.contains("sha256"), "{e}");
        assert!(cloud.object("s/2.db").is_none());
        assert_eq!(cloud.open_uploads(), 0, "the upload was aborted");
        // A failed part aborts too.
        let mut up = Upload::start(&cloud, "s/3.db", &[], MIN_PART).await.unwrap();
        cloud.fail_next(
            "UploadPart",
            crate::aws::fake::aws_error("s3", "UploadPart", "InternalError", false),
        );
        let e = up.write(&vec![0u8; MIN_PART]).await.unwrap_err();
        assert_eq!(e.aws_code(), Some("InternalError"));
        up.abort().await;
        assert_eq!(cloud.open_uploads(), 0);
        assert!(
            Upload::start(&cloud, "s/4.db", &[], 1024).await.is_err(),
            "parts under 5 MiB are refused"
        );
    }

    #[tokio::test]
    async fn a_hashing_writer_hashes_what_passes() {
        use tokio::io::AsyncWriteExt;
        let mut w = Hashing::new(Vec::new());
        w.write_all(b"hello ").await.unwrap();
        w.write_all(b"world").await.unwrap();
        let (sha, inner) = w.finish();
        assert_eq!(inner, b"hello world");
        assert_eq!(sha, hex(&Sha256::digest(b"hello world")));
    }
}

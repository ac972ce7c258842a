//! Job files in an S3-compatible bucket, through `object_store`. Every API
//! and worker process configured with the same bucket (and prefix) sees the
//! same files, so they can run on different machines.
//!
//! Objects are `{prefix}/uploads/{id}.csv` and `{prefix}/results/{id}.parquet`.
//! Both are written with multipart uploads: memory stays bounded whatever the
//! size, and the object only appears once complete, so no `.part` object is
//! needed.

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::field::Empty;
use tracing::{Instrument, Span};
use uuid::Uuid;

use super::local::job_id_of;
use super::StorageError;

/// Parts uploaded at once by one writer: with the 5 MiB parts of
/// `WriteMultipart` an upload holds at most about (this + 1) × 5 MiB.
const MAX_CONCURRENT_PARTS: usize = 2;
/// Read size when a local file is sent to the bucket.
const READ_CHUNK: usize = 1024 * 1024;

/// A bucket (and a key prefix in it) holding the job files.
#[derive(Clone, Debug)]
pub struct ObjectFiles {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: String,
}

impl ObjectFiles {
    /// Endpoint, region and credentials come from the usual `AWS_*`
    /// variables, as `AmazonS3Builder::from_env` reads them.
    pub fn from_env(bucket: &str, prefix: Option<&str>) -> Result<ObjectFiles, StorageError> {
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()?;
        Ok(ObjectFiles {
            store: Arc::new(store),
            bucket: bucket.to_string(),
            prefix: prefix.unwrap_or("").trim_matches('/').to_string(),
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn key(&self, directory: &str, name: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(format!("{directory}/{name}"))
        } else {
            Path::from(format!("{}/{directory}/{name}", self.prefix))
        }
    }

    pub fn upload_key(&self, id: Uuid) -> Path {
        self.key("uploads", &format!("{id}.csv"))
    }

    pub fn result_key(&self, id: Uuid) -> Path {
        self.key("results", &format!("{id}.parquet"))
    }

    /// A CLIENT span per storage call, with the AWS SDK conventions, so the
    /// time spent in the bucket shows in the job's trace.
    fn span(&self, method: &'static str, key: &Path) -> Span {
        tracing::info_span!(
            "s3 request",
            otel.name = %format!("S3.{method}"),
            otel.kind = "client",
            otel.status_code = Empty,
            rpc.system = "aws-api",
            rpc.service = "S3",
            rpc.method = method,
            aws.s3.bucket = %self.bucket,
            aws.s3.key = %key,
            bytes = Empty,
        )
    }

    /// Starts the multipart upload of a job's CSV.
    pub async fn begin_upload(&self, id: Uuid) -> Result<ObjectSink, StorageError> {
        let key = self.upload_key(id);
        let span = self.span("UploadPart", &key);
        let upload = traced(&span, self.store.put_multipart(&key)).await?;
        Ok(ObjectSink {
            writer: Some(WriteMultipart::new(upload)),
            span,
        })
    }

    /// Copies the job's CSV to `local` (through `partial`, renamed at the
    /// end, so a crash never leaves a truncated input that looks whole).
    pub async fn download_upload(
        &self,
        id: Uuid,
        partial: &FsPath,
        local: &FsPath,
    ) -> Result<u64, StorageError> {
        let key = self.upload_key(id);
        let span = self.span("GetObject", &key);
        let copied = async {
            let result = self.store.get(&key).await?;
            let mut file = tokio::fs::File::create(partial).await?;
            let mut stream = result.into_stream();
            let mut bytes = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                bytes += chunk.len() as u64;
                file.write_all(&chunk).await?;
            }
            file.flush().await?;
            drop(file);
            tokio::fs::rename(partial, local).await?;
            Ok::<_, StorageError>(bytes)
        };
        let bytes = traced(&span, copied).await?;
        span.record("bytes", bytes);
        Ok(bytes)
    }

    /// Sends the worker's local result to its final key; the object only
    /// becomes visible when the multipart upload completes.
    pub async fn publish_result(&self, id: Uuid, local: &FsPath) -> Result<u64, StorageError> {
        let key = self.result_key(id);
        let span = self.span("UploadPart", &key);
        let upload = traced(&span, self.store.put_multipart(&key)).await?;
        let mut writer = WriteMultipart::new(upload);
        let sent = async {
            let mut file = tokio::fs::File::open(local).await?;
            let mut buffer = vec![0u8; READ_CHUNK];
            let mut bytes = 0u64;
            loop {
                let read = file.read(&mut buffer).await?;
                if read == 0 {
                    break;
                }
                bytes += read as u64;
                writer.write(&buffer[..read]);
                writer.wait_for_capacity(MAX_CONCURRENT_PARTS).await?;
            }
            Ok::<_, StorageError>(bytes)
        }
        .instrument(span.clone())
        .await;
        match sent {
            Ok(bytes) => {
                traced(&span, writer.finish()).await?;
                span.record("bytes", bytes);
                Ok(bytes)
            }
            Err(error) => {
                let _ = writer.abort().instrument(span.clone()).await;
                mark_error(&span);
                Err(error)
            }
        }
    }

    /// The result's size, ETag and modification time.
    pub async fn result_meta(&self, id: Uuid) -> Result<ObjectMeta, StorageError> {
        let key = self.result_key(id);
        let span = self.span("HeadObject", &key);
        Ok(traced(&span, self.store.head(&key)).await?)
    }

    /// The result's bytes (or one range of them) as a stream.
    pub async fn result_stream(
        &self,
        id: Uuid,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let key = self.result_key(id);
        let span = self.span("GetObject", &key);
        let options = GetOptions::default().with_range(range);
        let result = traced(&span, self.store.get_opts(&key, options)).await?;
        Ok(result.into_stream().map_err(StorageError::from).boxed())
    }

    /// Deletes both objects of a job; a missing object is fine.
    pub async fn remove_job_files(&self, id: Uuid) -> Result<(), StorageError> {
        for key in [self.upload_key(id), self.result_key(id)] {
            self.remove(&key).await?;
        }
        Ok(())
    }

    pub async fn remove(&self, key: &Path) -> Result<(), StorageError> {
        let span = self.span("DeleteObject", key);
        match traced(&span, self.store.delete(key)).await {
            Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Objects of jobs last modified at least `grace` ago: the bucket's part
    /// of the orphan sweep.
    pub async fn objects_older_than(
        &self,
        grace: std::time::Duration,
    ) -> Result<Vec<(Uuid, Path)>, StorageError> {
        let cutoff = chrono::Duration::from_std(grace)
            .ok()
            .and_then(|grace| chrono::Utc::now().checked_sub_signed(grace));
        let Some(cutoff) = cutoff else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for directory in ["uploads", "results"] {
            let prefix = self.key(directory, "");
            let span = self.span("ListObjectsV2", &prefix);
            let mut listing = self.store.list(Some(&prefix));
            let listed = async {
                while let Some(meta) = listing.next().await {
                    let meta = meta?;
                    let id = meta.location.filename().and_then(job_id_of);
                    if let Some(id) = id.filter(|_| meta.last_modified <= cutoff) {
                        found.push((id, meta.location));
                    }
                }
                Ok::<_, object_store::Error>(())
            };
            traced(&span, listed).await?;
        }
        Ok(found)
    }
}

/// Runs a storage call inside its span and marks the span failed on error.
async fn traced<T, E>(
    span: &Span,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let outcome = call.instrument(span.clone()).await;
    if outcome.is_err() {
        mark_error(span);
    }
    outcome
}

fn mark_error(span: &Span) {
    span.record("otel.status_code", "ERROR");
}

/// An upload streamed into a multipart upload. Dropping it without
/// `finish` or `abort` leaves an incomplete multipart upload in the bucket
/// (invisible, but billed): call `abort` on every error path.
pub struct ObjectSink {
    writer: Option<WriteMultipart>,
    span: Span,
}

impl ObjectSink {
    /// Buffers the chunk and waits while too many parts are in flight, so
    /// a fast client cannot fill the memory.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StorageError> {
        let writer = self.writer.as_mut().expect("write after finish");
        writer.write(chunk);
        Ok(traced(&self.span, writer.wait_for_capacity(MAX_CONCURRENT_PARTS)).await?)
    }

    pub async fn finish(mut self) -> Result<(), StorageError> {
        let writer = self.writer.take().expect("finish twice");
        traced(&self.span, writer.finish()).await?;
        Ok(())
    }

    /// Aborts the multipart upload: its parts are deleted, nothing is left.
    pub async fn abort(mut self) {
        if let Some(writer) = self.writer.take() {
            if let Err(error) = traced(&self.span, writer.abort()).await {
                tracing::warn!(%error, "could not abort a multipart upload");
            }
        }
    }
}

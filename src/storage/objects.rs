//! Job files as objects of one `object_store`, whatever the backend: each
//! call runs inside a CLIENT span, so time spent in storage shows in the
//! job's trace. Objects are written with multipart uploads: memory stays
//! bounded whatever the size, and an object only appears once complete.

use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tracing::field::Empty;
use tracing::{Instrument, Span};

use super::backend::{self, Backend};
use super::local_upload::LocalUpload;
use super::sink::Destination;
use super::{job_id_of, StorageError, StoredFile};
use crate::config::StorageSettings;

/// Parts uploaded at once by one writer: with the 5 MiB parts of
/// `WriteMultipart` an upload holds at most about (this + 1) × 5 MiB.
pub(super) const MAX_CONCURRENT_PARTS: usize = 2;
/// Read size when a local file is sent to the store.
const READ_CHUNK: usize = 1024 * 1024;

/// The result's bytes (or one range of them), as a stream.
pub type ResultStream = BoxStream<'static, Result<Bytes, StorageError>>;

/// A stored result: its metadata, and a way to read it.
pub struct ResultObject {
    pub meta: ObjectMeta,
    objects: Objects,
}

impl ResultObject {
    /// The bytes of `range` (all of them without one).
    pub async fn stream(&self, range: Option<Range<u64>>) -> Result<ResultStream, StorageError> {
        let key = &self.meta.location;
        let span = self.objects.span("GetObject", key);
        if let Some(path) = self.objects.local_path(key) {
            return traced(&span, local_stream(path, range)).await;
        }
        let options = GetOptions::default().with_range(range);
        let result = traced(&span, self.objects.store.get_opts(key, options)).await?;
        Ok(result.into_stream().map_err(StorageError::from).boxed())
    }
}

/// A local file's bytes in reads of `READ_CHUNK`: `LocalFileSystem`'s own
/// stream reads 8 KiB at a time, one blocking task each, which made a 32 MB
/// download take ten times as long as the bytes need.
async fn local_stream(
    path: PathBuf,
    range: Option<Range<u64>>,
) -> Result<ResultStream, StorageError> {
    let mut file = tokio::fs::File::open(&path).await?;
    let length = match range {
        Some(range) => {
            file.seek(std::io::SeekFrom::Start(range.start)).await?;
            range.end.saturating_sub(range.start)
        }
        None => file.metadata().await?.len(),
    };
    let reader = tokio_util::io::ReaderStream::with_capacity(file.take(length), READ_CHUNK);
    Ok(reader.map_err(StorageError::from).boxed())
}

/// The object store of the job files.
#[derive(Clone, Debug)]
pub(super) struct Objects {
    pub(super) store: Arc<dyn ObjectStore>,
    backend: Backend,
    prefix: String,
}

impl Objects {
    pub(super) fn open(settings: &StorageSettings) -> Result<Objects, StorageError> {
        let (store, backend, prefix) = backend::open(settings)?;
        Ok(Objects {
            store,
            backend,
            prefix,
        })
    }

    pub(super) fn describe(&self) -> String {
        self.backend.describe()
    }

    fn key(&self, directory: &str, name: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(format!("{directory}/{name}"))
        } else {
            Path::from(format!("{}/{directory}/{name}", self.prefix))
        }
    }

    pub(super) fn upload_key(&self, id: uuid::Uuid) -> Path {
        self.key("uploads", &format!("{id}.csv"))
    }

    pub(super) fn result_key(&self, id: uuid::Uuid) -> Path {
        self.key("results", &format!("{id}.parquet"))
    }

    pub(super) fn rejects_key(&self, id: uuid::Uuid) -> Path {
        self.key("results", &format!("{id}.rejects.csv"))
    }

    pub(super) fn local_path(&self, key: &Path) -> Option<PathBuf> {
        self.backend.local_path(key)
    }

    pub(super) fn free_bytes(&self) -> std::io::Result<Option<u64>> {
        self.backend.free_bytes()
    }

    pub(super) fn stale_staging_files(
        &self,
        grace: std::time::Duration,
    ) -> std::io::Result<Vec<PathBuf>> {
        self.backend.stale_staging_files(grace)
    }

    /// A span per storage call: CLIENT, with the AWS SDK conventions, for a
    /// bucket; INTERNAL for the local directory, which is no remote service.
    pub(super) fn span(&self, method: &'static str, key: &Path) -> Span {
        let (name, kind) = match self.backend {
            Backend::Bucket { .. } => (format!("S3.{method}"), "client"),
            Backend::Directory { .. } => (format!("storage.{method}"), "internal"),
        };
        tracing::info_span!(
            "storage request",
            otel.name = %name,
            otel.kind = kind,
            otel.status_code = Empty,
            rpc.system = self.backend.system(),
            rpc.method = method,
            parquetry.storage.key = %key,
            parquetry.storage.bytes = Empty,
        )
    }

    /// Starts an upload's input object `key`: written in order into the
    /// data directory, so it can be read while it arrives; a multipart
    /// upload to a bucket.
    pub(super) async fn begin_input(
        &self,
        key: &Path,
    ) -> Result<(Destination, Span), StorageError> {
        let Some(target) = self.local_path(key) else {
            let (upload, span) = self.begin_upload(key).await?;
            return Ok((Destination::Bucket(upload), span));
        };
        let span = self.span("UploadPart", key);
        let upload = traced(&span, LocalUpload::begin(target)).await?;
        Ok((Destination::Directory(upload), span))
    }

    /// Starts a multipart upload to `key`.
    pub(super) async fn begin_upload(
        &self,
        key: &Path,
    ) -> Result<(WriteMultipart, Span), StorageError> {
        let span = self.span("UploadPart", key);
        let upload = traced(&span, self.store.put_multipart(key)).await?;
        Ok((WriteMultipart::new(upload), span))
    }

    /// Copies `key` to the local file `local` (through `partial`, renamed at
    /// the end, so a crash never leaves a truncated input that looks whole).
    pub(super) async fn download(
        &self,
        key: &Path,
        partial: &FsPath,
        local: &FsPath,
    ) -> Result<u64, StorageError> {
        let span = self.span("GetObject", key);
        let copied = async {
            let result = self.store.get(key).await?;
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
        span.record("parquetry.storage.bytes", bytes as i64);
        Ok(bytes)
    }

    /// Publishes the local file `local` as `key`. In the data directory it
    /// is moved into place (same file system, no copy); to a bucket it is
    /// sent as a multipart upload that only becomes visible when complete.
    pub(super) async fn publish(&self, local: &FsPath, key: &Path) -> Result<(), StorageError> {
        if let Some(target) = self.local_path(key) {
            let span = self.span("Rename", key);
            let moved = async {
                tokio::fs::File::open(local).await?.sync_all().await?;
                tokio::fs::rename(local, &target).await?;
                if let Some(directory) = target.parent() {
                    tokio::fs::File::open(directory).await?.sync_all().await?;
                }
                Ok::<_, StorageError>(())
            };
            return traced(&span, moved).await;
        }
        let (mut writer, span) = self.begin_upload(key).await?;
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
                span.record("parquetry.storage.bytes", bytes as i64);
                super::remove_if_exists(local).await?;
                Ok(())
            }
            Err(error) => {
                let _ = writer.abort().instrument(span.clone()).await;
                mark_error(&span);
                Err(error)
            }
        }
    }

    /// The object's metadata, to answer a download.
    pub(super) async fn head(&self, key: &Path) -> Result<ResultObject, StorageError> {
        let span = self.span("HeadObject", key);
        let meta = traced(&span, self.store.head(key)).await?;
        Ok(ResultObject {
            meta,
            objects: self.clone(),
        })
    }

    /// Deletes an object; a missing one is fine.
    pub(super) async fn remove(&self, key: &Path) -> Result<(), StorageError> {
        let span = self.span("DeleteObject", key);
        match traced(&span, self.store.delete(key)).await {
            Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Objects of jobs last modified at least `grace` ago.
    pub(super) async fn older_than(
        &self,
        grace: std::time::Duration,
    ) -> Result<Vec<StoredFile>, StorageError> {
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
                    let job = meta.location.filename().and_then(job_id_of);
                    if let Some(job) = job.filter(|_| meta.last_modified <= cutoff) {
                        found.push(StoredFile {
                            job,
                            key: meta.location,
                        });
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
pub(super) async fn traced<T, E>(
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

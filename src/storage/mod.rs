//! Where job files live: each job's uploaded CSV and its Parquet result, as
//! objects `{prefix}/uploads/{id}.csv` and `{prefix}/results/{id}.parquet`
//! of one `object_store` — the data directory (`LocalFileSystem`) by
//! default, or an S3-compatible bucket that every process shares. Callers
//! never see which: uploads, downloads, removal and the orphan sweep take
//! one path for both. One difference stays inside this module: an upload
//! into the data directory is written in order by its own sink, so that a
//! conversion can read it while it arrives (`UploadSink::arrival`), where a
//! bucket's is a multipart upload (the S3 tests run that against moto).
//!
//! The engine converts seekable local files: a worker gets its input as a
//! local path (the object itself in the data directory, a copy in its
//! `ScratchSpace` otherwise) and writes the result in its scratch space
//! before it is published.

mod backend;
mod early_flush;
mod local_upload;
mod objects;
mod preview;
mod scratch;
mod sink;

use std::io;
use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;

use object_store::path::Path;
use uuid::Uuid;

pub use early_flush::ResultFlush;
pub use objects::{ResultObject, ResultStream};
pub use preview::ResultPreview;
pub use scratch::{AttemptFiles, ScratchFile, ScratchSpace};
pub use sink::UploadSink;

use crate::config::StorageSettings;
use objects::Objects;

/// A storage operation that failed: the local disk or the bucket. Either is
/// a transient failure for a job.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("object storage: {0}")]
    Object(#[from] object_store::Error),
    /// A stored result that could not be read as Parquet (or the reads the
    /// Parquet reader made failed).
    #[error("reading a Parquet result: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

impl StorageError {
    /// Whether the disk is full (`ENOSPC`), whatever layer reported it.
    pub fn is_disk_full(&self) -> bool {
        // `Io` is transparent: its `source` skips the I/O error itself.
        let mut source: Option<&(dyn std::error::Error + 'static)> = match self {
            StorageError::Io(error) => Some(error),
            _ => Some(self),
        };
        while let Some(error) = source {
            if let Some(io) = error.downcast_ref::<io::Error>() {
                if io.kind() == io::ErrorKind::StorageFull || io.raw_os_error() == Some(28) {
                    return true;
                }
            }
            source = error.source();
        }
        false
    }
}

/// Why an upload could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// The disk filled up, or went below the free-space floor, while the
    /// upload was written.
    #[error("the disk is full")]
    DiskFull,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The job files of this process.
#[derive(Clone, Debug)]
pub struct Storage {
    objects: Objects,
    scratch: ScratchSpace,
    /// Uploads stop below this many free bytes on a local disk.
    min_free_bytes: u64,
}

/// A stored file that belongs to no live job, found by the orphan sweep.
#[derive(Debug)]
pub struct StoredFile {
    pub job: Uuid,
    key: Path,
}

impl std::fmt::Display for StoredFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.key)
    }
}

impl Storage {
    /// The backend the settings choose: the bucket when `s3_bucket` is set,
    /// else the data directory. Scratch space is always under the data
    /// directory.
    pub async fn from_settings(
        settings: &StorageSettings,
        min_free_bytes: u64,
    ) -> Result<Storage, StorageError> {
        let objects = Objects::open(settings)?;
        let scratch = ScratchSpace::open(&settings.data_dir).await?;
        Ok(Storage {
            objects,
            scratch,
            min_free_bytes,
        })
    }

    /// Where the job files are, for the start-up log line.
    pub fn describe(&self) -> String {
        self.objects.describe()
    }

    /// The worker's local files.
    pub fn scratch(&self) -> &ScratchSpace {
        &self.scratch
    }

    /// Starts storing an upload of at most `limit` bytes.
    pub async fn begin_upload(&self, id: Uuid, limit: u64) -> Result<UploadSink, StorageError> {
        let key = self.objects.upload_key(id);
        let destination = self.objects.begin_input(&key).await?;
        Ok(UploadSink::new(destination, limit, self.clone()))
    }

    /// Refuses new uploads while the local disk is below its floor;
    /// `declared` bytes are about to be written.
    pub fn has_room_for(&self, declared: u64) -> io::Result<bool> {
        Ok(match self.objects.free_bytes()? {
            Some(free) => free.saturating_sub(declared) >= self.min_free_bytes,
            None => true,
        })
    }

    /// A local file holding the job's input for the engine: the stored
    /// object itself when it is a local file, else a copy in `attempt`'s
    /// scratch files.
    pub async fn input_for_conversion(
        &self,
        id: Uuid,
        attempt: &AttemptFiles,
    ) -> Result<PathBuf, StorageError> {
        let key = self.objects.upload_key(id);
        if let Some(path) = self.objects.local_path(&key) {
            return Ok(path);
        }
        self.objects
            .download(&key, &attempt.input_partial(), &attempt.input_copy())
            .await?;
        Ok(attempt.input_copy())
    }

    /// Flushes the attempt's result to disk while the engine writes it, until
    /// dropped, when it will be published from this disk (moved into the
    /// data directory, which makes it durable first); `None` for a bucket.
    pub fn flush_result_while_written(
        &self,
        id: Uuid,
        attempt: &AttemptFiles,
    ) -> Option<ResultFlush> {
        let key = self.objects.result_key(id);
        self.objects.local_path(&key)?;
        Some(ResultFlush::start(attempt.result()))
    }

    /// Publishes the attempt's result under the job's result key.
    pub async fn publish_result(
        &self,
        id: Uuid,
        attempt: &AttemptFiles,
    ) -> Result<(), StorageError> {
        let key = self.objects.result_key(id);
        self.objects.publish(&attempt.result(), &key).await
    }

    /// Publishes the rows the attempt rejected, when it rejected any;
    /// returns whether it did.
    pub async fn publish_rejects(
        &self,
        id: Uuid,
        attempt: &AttemptFiles,
    ) -> Result<bool, StorageError> {
        if !tokio::fs::try_exists(attempt.rejects()).await? {
            return Ok(false);
        }
        let key = self.objects.rejects_key(id);
        self.objects.publish(&attempt.rejects(), &key).await?;
        Ok(true)
    }

    /// The job's rejected rows, if it has any.
    pub async fn rejects(&self, id: Uuid) -> Result<Option<ResultObject>, StorageError> {
        match self.objects.head(&self.objects.rejects_key(id)).await {
            Ok(object) => Ok(Some(object)),
            Err(StorageError::Object(object_store::Error::NotFound { .. })) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The job's result, for a download.
    pub async fn result(&self, id: Uuid) -> Result<ResultObject, StorageError> {
        self.objects.head(&self.objects.result_key(id)).await
    }

    /// Removes a refused upload's input object; a missing one is fine.
    pub async fn remove_upload(&self, id: Uuid) -> Result<(), StorageError> {
        self.objects.remove(&self.objects.upload_key(id)).await
    }

    /// Removes every file of a job: its objects and the scratch files of
    /// any attempt on this machine. Missing files are fine.
    pub async fn remove_job_files(&self, id: Uuid) -> Result<(), StorageError> {
        let keys = [
            self.objects.upload_key(id),
            self.objects.result_key(id),
            self.objects.rejects_key(id),
        ];
        for key in keys {
            self.objects.remove(&key).await?;
        }
        self.scratch.remove_job(id).await?;
        Ok(())
    }

    /// Stored objects untouched for at least `grace`, with their job: the
    /// candidates of the orphan sweep (the caller keeps those of known jobs).
    pub async fn objects_older_than(
        &self,
        grace: Duration,
    ) -> Result<Vec<StoredFile>, StorageError> {
        self.objects.older_than(grace).await
    }

    /// Removes what interrupted uploads left in storage, untouched for
    /// `grace`; returns how many.
    pub async fn remove_abandoned_uploads(&self, grace: Duration) -> Result<usize, StorageError> {
        let objects = self.objects.clone();
        let stale = tokio::task::spawn_blocking(move || objects.stale_staging_files(grace))
            .await
            .map_err(io::Error::other)??;
        for path in &stale {
            remove_if_exists(path).await?;
        }
        Ok(stale.len())
    }

    /// Removes one object found by the orphan sweep.
    pub async fn remove_object(&self, file: &StoredFile) -> Result<(), StorageError> {
        self.objects.remove(&file.key).await
    }
}

/// Removes a local file; a missing one is fine.
async fn remove_if_exists(path: &FsPath) -> io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// The job a file or object belongs to: its name starts with the job's id.
fn job_id_of(name: &str) -> Option<Uuid> {
    name.split(['.', '#'])
        .next()
        .and_then(|n| n.parse::<Uuid>().ok())
}

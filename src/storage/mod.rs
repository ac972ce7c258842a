//! Where job files live: each job's uploaded CSV and its Parquet result.
//!
//! Two backends behind one type: the local data directory (the default), or
//! an S3-compatible bucket that every API and worker process shares. The
//! conversion engine needs seekable local files, so with a bucket the worker
//! still converts on its local disk: it copies the input from the bucket
//! under the data directory, converts there, sends the result to the bucket
//! and removes its copies.

mod local;
mod s3;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use uuid::Uuid;

pub use local::LocalFiles;
pub use s3::ObjectFiles;

use crate::config::StorageSettings;

/// A storage operation that failed: the local disk or the bucket. Either is
/// a transient failure for a job.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("object storage: {0}")]
    Object(#[from] object_store::Error),
}

/// Why an upload could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The job files of this process: the data directory, and the bucket when
/// one is configured.
#[derive(Clone, Debug)]
pub struct Storage {
    local: LocalFiles,
    objects: Option<ObjectFiles>,
}

/// A file found by the orphan sweep.
#[derive(Debug)]
pub enum StoredFile {
    Local(PathBuf),
    Object(object_store::path::Path),
}

impl std::fmt::Display for StoredFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoredFile::Local(path) => write!(f, "{}", path.display()),
            StoredFile::Object(key) => write!(f, "object {key}"),
        }
    }
}

impl Storage {
    /// The backend the settings choose: the bucket when `s3_bucket` is set
    /// (the data directory then only holds the workers' local copies).
    pub async fn from_settings(settings: &StorageSettings) -> Result<Storage, StorageError> {
        let local = LocalFiles::open(&settings.data_dir).await?;
        let objects = match settings.s3_bucket.as_deref().filter(|b| !b.is_empty()) {
            Some(bucket) => Some(ObjectFiles::from_env(
                bucket,
                settings.s3_prefix.as_deref(),
            )?),
            None => None,
        };
        Ok(Storage { local, objects })
    }

    /// The bucket, when the files live in object storage.
    pub fn objects(&self) -> Option<&ObjectFiles> {
        self.objects.as_ref()
    }

    /// The local result file, for the local backend's downloads.
    pub fn result_path(&self, id: Uuid) -> PathBuf {
        self.local.result_path(id)
    }

    /// Where the worker writes the result before it is published: always a
    /// local file.
    pub fn partial_result_path(&self, id: Uuid, attempt: i32) -> PathBuf {
        self.local.partial_result_path(id, attempt)
    }

    /// Starts storing an upload of at most `limit` bytes.
    pub async fn begin_upload(&self, id: Uuid, limit: u64) -> Result<UploadSink, StorageError> {
        let target = match &self.objects {
            Some(objects) => Target::Object(objects.begin_upload(id).await?),
            None => Target::File(self.local.begin_upload(id).await?),
        };
        Ok(UploadSink {
            target,
            written: 0,
            limit,
        })
    }

    /// A local file holding the job's input for the engine: the upload
    /// itself, or a copy fetched from the bucket.
    pub async fn input_for_conversion(
        &self,
        id: Uuid,
        attempt: i32,
    ) -> Result<PathBuf, StorageError> {
        match &self.objects {
            Some(objects) => {
                let (copy, partial) = self.local.input_copy_paths(id, attempt);
                objects.download_upload(id, &partial, &copy).await?;
                Ok(copy)
            }
            None => Ok(self.local.upload_path(id)),
        }
    }

    /// Publishes the worker's partial result under its final name.
    pub async fn publish_result(&self, id: Uuid, attempt: i32) -> Result<(), StorageError> {
        match &self.objects {
            Some(objects) => {
                let partial = self.local.partial_result_path(id, attempt);
                objects.publish_result(id, &partial).await?;
                local::remove_if_exists(&partial).await?;
            }
            None => self.local.publish_result(id, attempt).await?,
        }
        Ok(())
    }

    /// Removes an attempt's local copies once the job has left its worker:
    /// its partial result, and with a bucket its copy of the input. With the
    /// local backend the input *is* the stored upload and stays.
    pub async fn release_local_copies(&self, id: Uuid, attempt: i32) {
        let mut paths = vec![self.local.partial_result_path(id, attempt)];
        if self.objects.is_some() {
            let (copy, partial) = self.local.input_copy_paths(id, attempt);
            paths.extend([copy, partial]);
        }
        for path in paths {
            if let Err(error) = local::remove_if_exists(&path).await {
                tracing::warn!(%error, job.id = %id, "could not remove a job's local copies");
            }
        }
    }

    /// Removes every file of a job; missing files are fine.
    pub async fn remove_job_files(&self, id: Uuid) -> Result<(), StorageError> {
        self.local.remove_job_files(id).await?;
        if let Some(objects) = &self.objects {
            objects.remove_job_files(id).await?;
        }
        Ok(())
    }

    /// Free bytes where uploads are written, for back-pressure; `None` with a
    /// bucket, which has no such limit to protect.
    pub fn free_bytes(&self) -> io::Result<Option<u64>> {
        match self.objects {
            Some(_) => Ok(None),
            None => self.local.free_bytes().map(Some),
        }
    }

    /// Files and objects of jobs untouched for at least `grace`: the
    /// candidates of the orphan sweep.
    pub async fn files_older_than(
        &self,
        grace: Duration,
    ) -> Result<Vec<(Uuid, StoredFile)>, StorageError> {
        let local = self.local.clone();
        let files = tokio::task::spawn_blocking(move || local.files_older_than(grace))
            .await
            .map_err(io::Error::other)??;
        let mut found: Vec<(Uuid, StoredFile)> = files
            .into_iter()
            .map(|(id, path)| (id, StoredFile::Local(path)))
            .collect();
        if let Some(objects) = &self.objects {
            let listed = objects.objects_older_than(grace).await?;
            found.extend(
                listed
                    .into_iter()
                    .map(|(id, key)| (id, StoredFile::Object(key))),
            );
        }
        Ok(found)
    }

    /// Removes one file found by the orphan sweep.
    pub async fn remove_file(&self, file: &StoredFile) -> Result<(), StorageError> {
        match (file, &self.objects) {
            (StoredFile::Local(path), _) => Ok(local::remove_if_exists(path).await?),
            (StoredFile::Object(key), Some(objects)) => objects.remove(key).await,
            (StoredFile::Object(_), None) => Ok(()),
        }
    }
}

enum Target {
    File(local::FileSink),
    Object(s3::ObjectSink),
}

/// An upload being written chunk by chunk as it arrives. Dropping it without
/// `finish` leaves a partial file or multipart upload: call `abort` on every
/// error path.
pub struct UploadSink {
    target: Target,
    written: u64,
    limit: u64,
}

impl UploadSink {
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Appends a chunk, refusing to go past the limit.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), UploadError> {
        self.written += chunk.len() as u64;
        if self.written > self.limit {
            return Err(UploadError::TooLarge { limit: self.limit });
        }
        match &mut self.target {
            Target::File(sink) => sink.write(chunk).await.map_err(StorageError::from)?,
            Target::Object(sink) => sink.write(chunk).await?,
        }
        Ok(())
    }

    /// Completes the upload; returns its size.
    pub async fn finish(self) -> Result<u64, StorageError> {
        match self.target {
            Target::File(sink) => sink.finish().await?,
            Target::Object(sink) => sink.finish().await?,
        }
        Ok(self.written)
    }

    /// Removes whatever was written.
    pub async fn abort(self) {
        match self.target {
            Target::File(sink) => sink.abort().await,
            Target::Object(sink) => sink.abort().await,
        }
    }
}

//! Files on local disk: uploaded CSV files and Parquet results, one pair per
//! job, under the data directory. Writers go through a `.part` file that is
//! renamed into place, so a reader never sees half a file.

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;
use uuid::Uuid;

/// The data directory.
#[derive(Clone, Debug)]
pub struct Storage {
    root: PathBuf,
}

impl Storage {
    /// Creates the directory layout when missing.
    pub async fn open(root: impl Into<PathBuf>) -> io::Result<Storage> {
        let storage = Storage { root: root.into() };
        tokio::fs::create_dir_all(storage.root.join("uploads")).await?;
        tokio::fs::create_dir_all(storage.root.join("results")).await?;
        Ok(storage)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn upload_path(&self, id: Uuid) -> PathBuf {
        self.root.join("uploads").join(format!("{id}.csv"))
    }

    pub fn result_path(&self, id: Uuid) -> PathBuf {
        self.root.join("results").join(format!("{id}.parquet"))
    }

    /// Where the worker writes before the result is published.
    pub fn partial_result_path(&self, id: Uuid) -> PathBuf {
        self.root.join("results").join(format!("{id}.parquet.part"))
    }

    fn partial_upload_path(&self, id: Uuid) -> PathBuf {
        self.root.join("uploads").join(format!("{id}.csv.part"))
    }

    /// Starts storing an upload of at most `limit` bytes.
    pub async fn begin_upload(&self, id: Uuid, limit: u64) -> io::Result<UploadSink> {
        let partial = self.partial_upload_path(id);
        let file = tokio::fs::File::create(&partial).await?;
        Ok(UploadSink {
            file: Some(tokio::io::BufWriter::with_capacity(256 * 1024, file)),
            partial,
            complete: self.upload_path(id),
            written: 0,
            limit,
        })
    }

    /// Publishes the worker's partial result under its final name.
    pub async fn publish_result(&self, id: Uuid) -> io::Result<()> {
        tokio::fs::rename(self.partial_result_path(id), self.result_path(id)).await
    }

    /// Removes every file of a job; missing files are fine.
    pub async fn remove_job_files(&self, id: Uuid) -> io::Result<()> {
        for path in [
            self.upload_path(id),
            self.partial_upload_path(id),
            self.result_path(id),
            self.partial_result_path(id),
        ] {
            remove_if_exists(&path).await?;
        }
        Ok(())
    }
}

impl Storage {
    /// Free bytes on the data directory's file system, for back-pressure.
    pub fn free_bytes(&self) -> io::Result<u64> {
        let stats = rustix::fs::statvfs(&self.root)?;
        Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
    }

    /// Files of jobs (by the id their name starts with) untouched for at
    /// least `grace`: the candidates of the orphan sweep. A live upload keeps
    /// its `.part` file's modification time fresh, so it is never one.
    pub fn files_older_than(&self, grace: std::time::Duration) -> io::Result<Vec<(Uuid, PathBuf)>> {
        let now = std::time::SystemTime::now();
        let mut found = Vec::new();
        for directory in ["uploads", "results"] {
            for entry in std::fs::read_dir(self.root.join(directory))? {
                let entry = entry?;
                let name = entry.file_name();
                let Some(id) = name
                    .to_str()
                    .and_then(|n| n.split('.').next())
                    .and_then(|n| n.parse::<Uuid>().ok())
                else {
                    continue;
                };
                let modified = entry.metadata()?.modified()?;
                if now.duration_since(modified).unwrap_or_default() >= grace {
                    found.push((id, entry.path()));
                }
            }
        }
        Ok(found)
    }
}

async fn remove_if_exists(path: &Path) -> io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Why an upload could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// An upload being written chunk by chunk as it arrives. Dropping it without
/// `finish` leaves a `.part` file: call `abort` on every error path.
pub struct UploadSink {
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
    partial: PathBuf,
    complete: PathBuf,
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
        let file = self.file.as_mut().expect("write after finish");
        file.write_all(chunk).await?;
        Ok(())
    }

    /// Flushes and renames the file into place; returns its size.
    pub async fn finish(mut self) -> io::Result<u64> {
        let mut file = self.file.take().expect("finish twice");
        file.flush().await?;
        file.into_inner().sync_all().await?;
        tokio::fs::rename(&self.partial, &self.complete).await?;
        Ok(self.written)
    }

    /// Removes whatever was written.
    pub async fn abort(mut self) {
        drop(self.file.take());
        if let Err(error) = remove_if_exists(&self.partial).await {
            tracing::warn!(%error, path = %self.partial.display(), "could not remove a partial upload");
        }
    }
}

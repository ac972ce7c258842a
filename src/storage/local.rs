//! Files on local disk: uploaded CSV files and Parquet results, one pair per
//! job, under the data directory. Writers go through a `.part` file that is
//! renamed into place, so a reader never sees half a file.
//!
//! With object storage configured the same layout holds the worker's local
//! copies (the engine needs seekable files), and nothing else.

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;
use uuid::Uuid;

/// The data directory.
#[derive(Clone, Debug)]
pub struct LocalFiles {
    root: PathBuf,
}

impl LocalFiles {
    /// Creates the directory layout when missing.
    pub async fn open(root: impl Into<PathBuf>) -> io::Result<LocalFiles> {
        let files = LocalFiles { root: root.into() };
        tokio::fs::create_dir_all(files.root.join("uploads")).await?;
        tokio::fs::create_dir_all(files.root.join("results")).await?;
        Ok(files)
    }

    pub fn upload_path(&self, id: Uuid) -> PathBuf {
        self.root.join("uploads").join(format!("{id}.csv"))
    }

    pub fn result_path(&self, id: Uuid) -> PathBuf {
        self.root.join("results").join(format!("{id}.parquet"))
    }

    /// Where one attempt of a job writes before its result is published. The
    /// attempt is in the name because a worker that lost its lease may still
    /// be writing when the next attempt starts: they must not share a file.
    pub fn partial_result_path(&self, id: Uuid, attempt: i32) -> PathBuf {
        self.root
            .join("results")
            .join(format!("{id}.{attempt}.parquet.part"))
    }

    /// One attempt's local copy of an input kept in object storage, and the
    /// file it is downloaded to first (per attempt, as above).
    pub fn input_copy_paths(&self, id: Uuid, attempt: i32) -> (PathBuf, PathBuf) {
        let uploads = self.root.join("uploads");
        (
            uploads.join(format!("{id}.{attempt}.input.csv")),
            uploads.join(format!("{id}.{attempt}.input.csv.part")),
        )
    }

    pub fn partial_upload_path(&self, id: Uuid) -> PathBuf {
        self.root.join("uploads").join(format!("{id}.csv.part"))
    }

    /// Starts writing an upload; `finish` renames it into place.
    pub async fn begin_upload(&self, id: Uuid) -> io::Result<FileSink> {
        let partial = self.partial_upload_path(id);
        let file = tokio::fs::File::create(&partial).await?;
        Ok(FileSink {
            file: Some(tokio::io::BufWriter::with_capacity(256 * 1024, file)),
            partial,
            complete: self.upload_path(id),
        })
    }

    /// Publishes the worker's partial result under its final name.
    pub async fn publish_result(&self, id: Uuid, attempt: i32) -> io::Result<()> {
        tokio::fs::rename(self.partial_result_path(id, attempt), self.result_path(id)).await
    }

    /// Removes the stored files of a job; missing files are fine. An
    /// attempt's partial result is its worker's to remove (it does on cancel,
    /// failure and lost lease); the orphan sweep takes a killed worker's.
    pub async fn remove_job_files(&self, id: Uuid) -> io::Result<()> {
        for path in [
            self.upload_path(id),
            self.partial_upload_path(id),
            self.result_path(id),
        ] {
            remove_if_exists(&path).await?;
        }
        Ok(())
    }

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
                let Some(id) = name.to_str().and_then(job_id_of) else {
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

/// The job a file or object belongs to: its name starts with the job's id.
pub(super) fn job_id_of(name: &str) -> Option<Uuid> {
    name.split('.').next().and_then(|n| n.parse::<Uuid>().ok())
}

pub(super) async fn remove_if_exists(path: &Path) -> io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// An upload being written to a `.part` file.
pub struct FileSink {
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
    partial: PathBuf,
    complete: PathBuf,
}

impl FileSink {
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        let file = self.file.as_mut().expect("write after finish");
        file.write_all(chunk).await
    }

    /// Flushes and renames the file into place.
    pub async fn finish(mut self) -> io::Result<()> {
        let mut file = self.file.take().expect("finish twice");
        file.flush().await?;
        file.into_inner().sync_all().await?;
        tokio::fs::rename(&self.partial, &self.complete).await
    }

    /// Removes whatever was written.
    pub async fn abort(mut self) {
        drop(self.file.take());
        if let Err(error) = remove_if_exists(&self.partial).await {
            tracing::warn!(%error, path = %self.partial.display(), "could not remove a partial upload");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_write_apart_and_their_files_still_name_the_job() {
        let files = LocalFiles {
            root: PathBuf::from("/data"),
        };
        let id = Uuid::new_v4();
        assert_ne!(
            files.partial_result_path(id, 1),
            files.partial_result_path(id, 2)
        );
        assert_ne!(files.input_copy_paths(id, 1), files.input_copy_paths(id, 2));
        // The orphan sweep finds a killed worker's files by the id they start with.
        for path in [
            files.partial_result_path(id, 3),
            files.input_copy_paths(id, 3).0,
            files.input_copy_paths(id, 3).1,
        ] {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert_eq!(job_id_of(name), Some(id));
        }
    }
}

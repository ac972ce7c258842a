//! A worker's local files, per attempt, under `{data_dir}/work`: the result
//! being written, and a copy of an input that is not a local file. The
//! attempt is in every name because a worker that lost its lease may still
//! be writing when the next attempt starts: they must not share a file.

use std::io;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::remove_if_exists;

/// The scratch directory of this machine's workers.
#[derive(Clone, Debug)]
pub struct ScratchSpace {
    root: PathBuf,
}

/// The local files of one attempt of one job.
#[derive(Clone, Debug)]
pub struct AttemptFiles {
    root: PathBuf,
    pub job: Uuid,
    pub attempt: i32,
}

/// A scratch file and the attempt it belongs to, for the sweep.
#[derive(Debug)]
pub struct ScratchFile {
    pub job: Uuid,
    pub attempt: i32,
    pub path: PathBuf,
}

impl ScratchSpace {
    pub(super) async fn open(data_dir: &Path) -> io::Result<ScratchSpace> {
        let root = data_dir.join("work");
        tokio::fs::create_dir_all(&root).await?;
        Ok(ScratchSpace { root })
    }

    pub fn attempt(&self, job: Uuid, attempt: i32) -> AttemptFiles {
        AttemptFiles {
            root: self.root.clone(),
            job,
            attempt,
        }
    }

    /// Removes the scratch files of every attempt of `job` (a deleted job).
    pub async fn remove_job(&self, job: Uuid) -> io::Result<()> {
        for file in self.files().await? {
            if file.job == job {
                remove_if_exists(&file.path).await?;
            }
        }
        Ok(())
    }

    /// Every scratch file with its attempt: the sweep removes those whose
    /// attempt is not running anymore (a killed worker's leftovers).
    pub async fn files(&self) -> io::Result<Vec<ScratchFile>> {
        let mut entries = tokio::fs::read_dir(&self.root).await?;
        let mut found = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name();
            let mut parts = name.to_str().unwrap_or_default().split('.');
            let job = parts.next().and_then(|p| p.parse().ok());
            let attempt = parts.next().and_then(|p| p.parse().ok());
            if let (Some(job), Some(attempt)) = (job, attempt) {
                found.push(ScratchFile {
                    job,
                    attempt,
                    path: entry.path(),
                });
            }
        }
        Ok(found)
    }
}

impl ScratchFile {
    /// How long ago the file was last written; none when it is gone.
    pub async fn idle_for(&self) -> Option<std::time::Duration> {
        let modified = tokio::fs::metadata(&self.path)
            .await
            .ok()?
            .modified()
            .ok()?;
        Some(modified.elapsed().unwrap_or_default())
    }

    /// Removes the file; a missing one is fine.
    pub async fn remove(&self) -> io::Result<()> {
        remove_if_exists(&self.path).await
    }
}

impl AttemptFiles {
    fn named(&self, suffix: &str) -> PathBuf {
        self.root
            .join(format!("{}.{}.{suffix}", self.job, self.attempt))
    }

    /// Where the engine writes the result before it is published.
    pub fn result(&self) -> PathBuf {
        self.named("parquet.part")
    }

    /// Where the engine writes the rows `on_error=skip` left out.
    pub fn rejects(&self) -> PathBuf {
        self.named("rejects.csv.part")
    }

    /// The local copy of an input kept in a bucket.
    pub fn input_copy(&self) -> PathBuf {
        self.named("input.csv")
    }

    /// The copy while it downloads.
    pub fn input_partial(&self) -> PathBuf {
        self.named("input.csv.part")
    }

    /// Removes every local file of this attempt: the one place that does,
    /// whatever became of the attempt.
    pub async fn remove(&self) {
        let files = [
            self.result(),
            self.rejects(),
            self.input_copy(),
            self.input_partial(),
        ];
        for path in files {
            if let Err(error) = remove_if_exists(&path).await {
                tracing::warn!(%error, path = %path.display(), "could not remove a scratch file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn attempts_write_apart_and_their_files_name_job_and_attempt() {
        let dir = std::env::temp_dir().join(format!("parquetry-scratch-{}", Uuid::new_v4()));
        let scratch = ScratchSpace::open(&dir).await.unwrap();
        let job = Uuid::new_v4();
        let (first, second) = (scratch.attempt(job, 1), scratch.attempt(job, 2));
        assert_ne!(first.result(), second.result());
        std::fs::write(first.result(), b"x").unwrap();
        std::fs::write(second.input_copy(), b"x").unwrap();
        let mut found: Vec<(Uuid, i32)> = scratch
            .files()
            .await
            .unwrap()
            .into_iter()
            .map(|f| (f.job, f.attempt))
            .collect();
        found.sort();
        assert_eq!(found, vec![(job, 1), (job, 2)]);
        scratch.remove_job(job).await.unwrap();
        assert!(scratch.files().await.unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

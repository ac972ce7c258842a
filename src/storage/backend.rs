//! The one place that knows which backend holds the job files: an
//! `object_store` built from the settings, and the two facts that differ
//! between a local directory and a bucket (a file path the engine can read
//! in place, and free disk space to protect).

use std::io;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::ObjectStore;

use super::StorageError;
use crate::config::StorageSettings;

/// Where the objects live.
#[derive(Clone, Debug)]
pub(super) enum Backend {
    /// The data directory, through `LocalFileSystem` with fsync on.
    Directory { store: Arc<LocalFileSystem> },
    /// An S3-compatible bucket shared by every process.
    Bucket { name: String },
}

/// The store and its backend, as the settings choose.
pub(super) fn open(
    settings: &StorageSettings,
) -> Result<(Arc<dyn ObjectStore>, Backend, String), StorageError> {
    match settings.s3_bucket.as_deref().filter(|b| !b.is_empty()) {
        Some(bucket) => {
            // Endpoint, region and credentials come from the usual `AWS_*`
            // variables, as `AmazonS3Builder::from_env` reads them.
            crate::tls::install_crypto_provider();
            let store = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()?;
            let prefix = settings.s3_prefix.as_deref().unwrap_or("");
            Ok((
                Arc::new(store),
                Backend::Bucket {
                    name: bucket.to_string(),
                },
                prefix.trim_matches('/').to_string(),
            ))
        }
        None => {
            let root = &settings.data_dir;
            for directory in ["uploads", "results"] {
                std::fs::create_dir_all(root.join(directory))?;
            }
            // A 202 promises the upload is on disk: fsync files and
            // directories before a write returns.
            let store = Arc::new(LocalFileSystem::new_with_prefix(root)?.with_fsync(true));
            Ok((store.clone(), Backend::Directory { store }, String::new()))
        }
    }
}

impl Backend {
    /// The path of an object the engine can read in place, or `None` when
    /// it must be copied to local disk first.
    pub(super) fn local_path(&self, key: &Path) -> Option<PathBuf> {
        match self {
            Backend::Directory { store } => store.path_to_filesystem(key).ok(),
            Backend::Bucket { .. } => None,
        }
    }

    /// Free bytes where uploads are written, for back-pressure; `None` for a
    /// bucket, which has no such limit to protect.
    pub(super) fn free_bytes(&self) -> io::Result<Option<u64>> {
        match self {
            Backend::Directory { store } => {
                let root = store
                    .path_to_filesystem(&Path::from("uploads"))
                    .map_err(io::Error::other)?;
                free_bytes_at(&root).map(Some)
            }
            Backend::Bucket { .. } => Ok(None),
        }
    }

    /// What the span of a storage call names: the bucket, or the directory.
    pub(super) fn describe(&self) -> String {
        match self {
            Backend::Directory { .. } => "data directory".to_string(),
            Backend::Bucket { name } => format!("bucket {name}"),
        }
    }

    /// `rpc.system`-like name of the backend for spans.
    pub(super) fn system(&self) -> &'static str {
        match self {
            Backend::Directory { .. } => "filesystem",
            Backend::Bucket { .. } => "aws-api",
        }
    }
}

impl Backend {
    /// Staging files of uploads into the data directory that a killed
    /// process never completed nor aborted (`uploads/<id>.csv#<n>`),
    /// untouched for `grace`. Object listings do not show them. A bucket
    /// keeps its incomplete uploads out of sight; its lifecycle rule aborts
    /// them.
    pub(super) fn stale_staging_files(
        &self,
        grace: std::time::Duration,
    ) -> io::Result<Vec<PathBuf>> {
        let Backend::Directory { store } = self else {
            return Ok(Vec::new());
        };
        let now = std::time::SystemTime::now();
        let mut found = Vec::new();
        for directory in ["uploads", "results"] {
            let path = store
                .path_to_filesystem(&Path::from(directory))
                .map_err(io::Error::other)?;
            for entry in std::fs::read_dir(path)? {
                let entry = entry?;
                let staged = entry.file_name().to_str().is_some_and(|n| n.contains('#'));
                let age = now
                    .duration_since(entry.metadata()?.modified()?)
                    .unwrap_or_default();
                if staged && age >= grace {
                    found.push(entry.path());
                }
            }
        }
        Ok(found)
    }
}

/// Free bytes on the file system holding `path`.
pub(super) fn free_bytes_at(path: &FsPath) -> io::Result<u64> {
    let stats = rustix::fs::statvfs(path)?;
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}

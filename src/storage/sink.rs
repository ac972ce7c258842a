//! An upload written chunk by chunk as it arrives, into a multipart upload
//! of the job's input object.

use object_store::WriteMultipart;
use tracing::Span;

use super::objects::{traced, MAX_CONCURRENT_PARTS};
use super::{Storage, StorageError, UploadError};

/// How many bytes may be written between two looks at the free disk space:
/// an upload without `Content-Length` passed the floor check with nothing
/// declared, so the floor is checked again as it grows.
const FREE_SPACE_CHECK_EVERY: u64 = 16 * 1024 * 1024;
/// How many bytes may be written between two early flushes of a local upload.
const FLUSH_EVERY: u64 = 16 * 1024 * 1024;

/// An upload being written. Dropping it without `finish` or `abort` leaves
/// an incomplete multipart upload behind: call `abort` on every error path.
pub struct UploadSink {
    writer: Option<WriteMultipart>,
    span: Span,
    written: u64,
    limit: u64,
    checked_at: u64,
    storage: Storage,
    early_flush: Option<EarlyFlush>,
}

/// A local upload is flushed to disk while it still arrives, in the
/// background: the fsync that makes it durable before the 202 then finds
/// little left to write, instead of the whole file (about 50 ms for 100 MB
/// here, on the critical path of every upload).
struct EarlyFlush {
    staging: std::path::PathBuf,
    flushed_at: u64,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl EarlyFlush {
    /// Starts a flush when enough was written since the last one and the
    /// last one is over.
    fn maybe_start(&mut self, written: u64) {
        if written - self.flushed_at < FLUSH_EVERY
            || self
                .running
                .as_ref()
                .is_some_and(|task| !task.is_finished())
        {
            return;
        }
        self.flushed_at = written;
        let staging = self.staging.clone();
        self.running = Some(tokio::task::spawn_blocking(move || {
            // Any descriptor of the file flushes its pages; a failure only
            // leaves the work to the completion's fsync.
            if let Ok(file) = std::fs::File::open(&staging) {
                let _ = file.sync_data();
            }
        }));
    }
}

impl UploadSink {
    pub(super) fn new(
        (writer, span): (WriteMultipart, Span),
        limit: u64,
        storage: Storage,
        staging: Option<std::path::PathBuf>,
    ) -> Self {
        UploadSink {
            writer: Some(writer),
            span,
            written: 0,
            limit,
            checked_at: 0,
            storage,
            early_flush: staging.map(|staging| EarlyFlush {
                staging,
                flushed_at: 0,
                running: None,
            }),
        }
    }

    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Appends a chunk, refusing to go past the size limit or below the free
    /// disk floor; waits while too many parts are in flight, so a fast
    /// client cannot fill the memory.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), UploadError> {
        self.written += chunk.len() as u64;
        if self.written > self.limit {
            return Err(UploadError::TooLarge { limit: self.limit });
        }
        if self.written - self.checked_at >= FREE_SPACE_CHECK_EVERY {
            self.checked_at = self.written;
            if !self.storage.has_room_for(0).map_err(StorageError::from)? {
                return Err(UploadError::DiskFull);
            }
        }
        let writer = self.writer.as_mut().expect("write after finish");
        writer.write(chunk);
        traced(&self.span, writer.wait_for_capacity(MAX_CONCURRENT_PARTS))
            .await
            .map_err(|error| disk_full_or(StorageError::from(error)))?;
        if let Some(flush) = &mut self.early_flush {
            flush.maybe_start(self.written);
        }
        Ok(())
    }

    /// Completes the upload (durably: the object is on disk or in the
    /// bucket when this returns); returns its size.
    pub async fn finish(mut self) -> Result<u64, UploadError> {
        let writer = self.writer.take().expect("finish twice");
        traced(&self.span, writer.finish())
            .await
            .map_err(|error| disk_full_or(StorageError::from(error)))?;
        Ok(self.written)
    }

    /// Removes whatever was written.
    pub async fn abort(mut self) {
        if let Some(writer) = self.writer.take() {
            if let Err(error) = traced(&self.span, writer.abort()).await {
                tracing::warn!(%error, "could not remove a partial upload");
            }
        }
    }
}

fn disk_full_or(error: StorageError) -> UploadError {
    if error.is_disk_full() {
        UploadError::DiskFull
    } else {
        UploadError::Storage(error)
    }
}

//! An upload written chunk by chunk as it arrives: into the data directory
//! in order (see `local_upload`), or as a multipart upload to the bucket.

use std::sync::Arc;

use object_store::WriteMultipart;
use parquetry_convert::Arrival;
use tracing::Span;

use super::local_upload::LocalUpload;

use super::objects::{traced, MAX_CONCURRENT_PARTS};
use super::{Storage, StorageError, UploadError};

/// How many bytes may be written between two looks at the free disk space:
/// an upload without `Content-Length` passed the floor check with nothing
/// declared, so the floor is checked again as it grows.
const FREE_SPACE_CHECK_EVERY: u64 = 16 * 1024 * 1024;
/// An upload being written. Dropping it without `finish` or `abort` leaves
/// an incomplete upload behind: call `abort` on every error path.
pub struct UploadSink {
    destination: Option<Destination>,
    span: Span,
    written: u64,
    limit: u64,
    checked_at: u64,
    storage: Storage,
}

/// Where the bytes go: the data directory's own in-order writer, or a
/// multipart upload to the bucket.
pub(super) enum Destination {
    Directory(LocalUpload),
    Bucket(WriteMultipart),
}

impl UploadSink {
    pub(super) fn new(
        (destination, span): (Destination, Span),
        limit: u64,
        storage: Storage,
    ) -> Self {
        UploadSink {
            destination: Some(destination),
            span,
            written: 0,
            limit,
            checked_at: 0,
            storage,
        }
    }

    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// The upload as a conversion can read it while it arrives: only a
    /// local file is written in order.
    pub fn arrival(&self) -> Option<Arc<dyn Arrival>> {
        match self.destination.as_ref()? {
            Destination::Directory(upload) => Some(upload.arrival()),
            Destination::Bucket(_) => None,
        }
    }

    /// Appends a chunk, refusing to go past the size limit or below the free
    /// disk floor; waits while too much is in flight, so a fast client
    /// cannot fill the memory.
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
        let written = match self.destination.as_mut().expect("write after finish") {
            Destination::Directory(upload) => upload.write(chunk).await.map_err(StorageError::from),
            Destination::Bucket(writer) => {
                writer.write(chunk);
                traced(&self.span, writer.wait_for_capacity(MAX_CONCURRENT_PARTS))
                    .await
                    .map_err(StorageError::from)
            }
        };
        written.map_err(disk_full_or)
    }

    /// Completes the upload (durably: the object is on disk or in the
    /// bucket when this returns); returns its size.
    pub async fn finish(mut self) -> Result<u64, UploadError> {
        let finished = match self.destination.take().expect("finish twice") {
            Destination::Directory(upload) => traced(&self.span, upload.finish())
                .await
                .map_err(StorageError::from),
            Destination::Bucket(writer) => traced(&self.span, writer.finish())
                .await
                .map(drop)
                .map_err(StorageError::from),
        };
        finished.map_err(disk_full_or)?;
        Ok(self.written)
    }

    /// Removes whatever was written.
    pub async fn abort(mut self) {
        let aborted = match self.destination.take() {
            None => return,
            Some(Destination::Directory(upload)) => traced(&self.span, upload.abort())
                .await
                .map_err(StorageError::from),
            Some(Destination::Bucket(writer)) => traced(&self.span, writer.abort())
                .await
                .map_err(StorageError::from),
        };
        if let Err(error) = aborted {
            tracing::warn!(%error, "could not remove a partial upload");
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

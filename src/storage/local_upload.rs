//! An upload into the data directory, written in order into its staging
//! file (`uploads/<id>.csv#1`, which the orphan sweep knows) and moved into
//! place once complete and on disk. Written in order, unlike an
//! `object_store` multipart upload whose parts land in parallel: at any time
//! every byte up to a known length is in the file, so a conversion can read
//! the upload while it still arrives (see [`UploadArrival`]).

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

use parquetry_convert::{Arrival, Written};

use super::early_flush::FlushBehind;

/// Bytes gathered before a write to the file: one write in flight while the
/// next block arrives.
const BLOCK: usize = 1024 * 1024;
/// How many bytes may be written between two early flushes (see
/// `early_flush`): the fsync before the 202 then finds little left to write.
const FLUSH_EVERY: u64 = 16 * 1024 * 1024;

/// A block being written: it gives the file and its buffer back.
type BlockWrite = tokio::task::JoinHandle<io::Result<(File, Vec<u8>)>>;

/// An upload being written to the data directory.
pub(super) struct LocalUpload {
    /// The staging file, taken by each write in turn.
    file: Option<File>,
    pending: Vec<u8>,
    writing: Option<BlockWrite>,
    /// Bytes in the file once the write in flight is done.
    queued: u64,
    flush: FlushBehind,
    arrival: Arc<UploadArrival>,
}

impl LocalUpload {
    /// Creates the staging file of `target`.
    pub(super) async fn begin(target: PathBuf) -> io::Result<LocalUpload> {
        let mut staging = target.clone().into_os_string();
        staging.push("#1");
        let staging = PathBuf::from(staging);
        let file = Creating::start(staging.clone()).finish().await?;
        Ok(LocalUpload {
            file: Some(file),
            pending: Vec::with_capacity(BLOCK),
            writing: None,
            queued: 0,
            flush: FlushBehind::new(FLUSH_EVERY),
            arrival: Arc::new(UploadArrival::new(staging, target)),
        })
    }

    /// The upload as a conversion reads it while it arrives.
    pub(super) fn arrival(&self) -> Arc<UploadArrival> {
        self.arrival.clone()
    }

    pub(super) async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(chunk);
        if self.pending.len() >= BLOCK {
            self.start_write().await?;
        }
        Ok(())
    }

    /// Waits for the write in flight, then starts writing what is pending.
    async fn start_write(&mut self) -> io::Result<()> {
        let spare = self.settle_write().await?;
        let block = std::mem::replace(&mut self.pending, spare);
        let mut file = self.file.take().expect("the file is back after a write");
        self.queued += block.len() as u64;
        let (arrival, written) = (self.arrival.clone(), self.queued);
        self.writing = Some(tokio::task::spawn_blocking(move || {
            file.write_all(&block)?;
            // Readers go on as soon as the bytes are in the file.
            arrival.grown(written);
            Ok((file, block))
        }));
        Ok(())
    }

    /// Waits for the write in flight, if any; returns its emptied buffer for
    /// the next block.
    async fn settle_write(&mut self) -> io::Result<Vec<u8>> {
        let Some(writing) = self.writing.take() else {
            return Ok(Vec::with_capacity(BLOCK));
        };
        let (file, mut block) = writing.await.map_err(io::Error::other)??;
        self.flush.grown(self.queued, || file.try_clone());
        self.file = Some(file);
        block.clear();
        Ok(block)
    }

    /// Writes the rest, makes the file durable and moves it into place.
    pub(super) async fn finish(mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.start_write().await?;
        }
        self.settle_write().await?;
        let file = self.file.take().expect("the file is back after a write");
        let arrival = self.arrival.clone();
        blocking(move || {
            file.sync_all()?;
            arrival.move_into_place()
        })
        .await?;
        self.arrival.complete(self.queued);
        Ok(())
    }

    /// Removes what was written; readers get an error.
    pub(super) async fn abort(mut self) -> io::Result<()> {
        self.arrival.fail();
        let _ = self.settle_write().await;
        let arrival = self.arrival.clone();
        blocking(move || arrival.remove_staging()).await
    }
}

impl Drop for LocalUpload {
    /// An upload dropped unfinished (its request cut off, the connection
    /// closed by the HTTP layer on a malformed body) will never complete: a
    /// reader waiting for it must not wait forever, and its staging file
    /// goes at once rather than at the next orphan sweep.
    fn drop(&mut self) {
        self.arrival.fail();
        // Finished (moved into place) or aborted (removed): nothing to do.
        if !self.arrival.staging_left() {
            return;
        }
        let arrival = self.arrival.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || arrival.remove_staging())),
            Err(_) => {
                let _ = arrival.remove_staging();
            }
        }
    }
}

/// A staging file being created off the async threads. An upload's request
/// can be dropped while it waits (actix drops the handler when the body
/// turns out malformed), but the creation still happens: the file is then
/// removed once created, rather than left for the orphan sweep.
struct Creating {
    path: PathBuf,
    creation: Option<tokio::task::JoinHandle<io::Result<File>>>,
}

impl Creating {
    fn start(path: PathBuf) -> Creating {
        let create = path.clone();
        let creation = tokio::task::spawn_blocking(move || {
            File::options().write(true).create_new(true).open(create)
        });
        Creating {
            path,
            creation: Some(creation),
        }
    }

    async fn finish(mut self) -> io::Result<File> {
        let creation = self.creation.as_mut().expect("finished once");
        let created = creation.await.map_err(io::Error::other)?;
        self.creation = None;
        created
    }
}

impl Drop for Creating {
    fn drop(&mut self) {
        let Some(creation) = self.creation.take() else {
            return;
        };
        let path = std::mem::take(&mut self.path);
        // Without a runtime (it is shutting down) the file is the sweep's.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Ok(Ok(file)) = creation.await {
                    drop(file);
                    let _ = tokio::fs::remove_file(path).await;
                }
            });
        }
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}

fn not_found() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "the upload's file was removed")
}

/// How far a local upload got, shared with the conversion reading it.
pub struct UploadArrival {
    state: Mutex<ArrivalState>,
    changed: Condvar,
}

struct ArrivalState {
    /// Where the file is now: the staging file, then the target; `None`
    /// once the staging file is removed.
    path: Option<PathBuf>,
    target: PathBuf,
    written: Written,
    failed: bool,
}

impl UploadArrival {
    fn new(staging: PathBuf, target: PathBuf) -> UploadArrival {
        UploadArrival {
            state: Mutex::new(ArrivalState {
                path: Some(staging),
                target,
                written: Written {
                    bytes: 0,
                    complete: false,
                },
                failed: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ArrivalState> {
        // The state stays consistent whatever panicked while holding it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the staging file is still there: neither moved into place
    /// nor removed.
    fn staging_left(&self) -> bool {
        let state = self.lock();
        state
            .path
            .as_ref()
            .is_some_and(|path| *path != state.target)
    }

    /// Removes the staging file unless it was moved into place. Under the
    /// lock, so it never races the rename.
    fn remove_staging(&self) -> io::Result<()> {
        let mut state = self.lock();
        match state.path.take() {
            Some(path) if path != state.target => match std::fs::remove_file(&path) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => {
                    state.path = Some(path);
                    Err(error)
                }
                _ => Ok(()),
            },
            kept => {
                state.path = kept;
                Ok(())
            }
        }
    }

    fn grown(&self, bytes: u64) {
        self.lock().written.bytes = bytes;
        self.changed.notify_all();
    }

    /// Renames the staging file to its target, and syncs the directory so
    /// the name is durable; readers opening it from now on find it there.
    fn move_into_place(&self) -> io::Result<()> {
        let mut state = self.lock();
        let staging = state.path.as_ref().ok_or_else(not_found)?;
        std::fs::rename(staging, &state.target)?;
        state.path = Some(state.target.clone());
        if let Some(directory) = state.target.parent() {
            File::open(directory)?.sync_all()?;
        }
        Ok(())
    }

    fn complete(&self, bytes: u64) {
        self.lock().written = Written {
            bytes,
            complete: true,
        };
        self.changed.notify_all();
    }

    fn fail(&self) {
        let mut state = self.lock();
        if !state.written.complete {
            state.failed = true;
        }
        drop(state);
        self.changed.notify_all();
    }
}

impl Arrival for UploadArrival {
    fn open(&self) -> io::Result<File> {
        // Under the lock: the file is not renamed between reading its path and opening it.
        let state = self.lock();
        File::open(state.path.as_ref().ok_or_else(not_found)?)
    }

    fn wait_past(&self, bytes: u64) -> io::Result<Written> {
        let mut state = self.lock();
        loop {
            if state.failed {
                return Err(io::Error::other("the upload did not complete"));
            }
            if state.written.bytes > bytes || state.written.complete {
                return Ok(state.written);
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap()
    }

    /// A directory of its own, removed when the test ends.
    struct Directory(PathBuf);

    impl Directory {
        fn new() -> Directory {
            let path =
                std::env::temp_dir().join(format!("parquetry-upload-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir(&path).unwrap();
            Directory(path)
        }

        fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Directory {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn names(directory: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(directory)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Dropped outside the runtime, the removal runs inline: the staging
    /// file is gone when `drop` returns, with a block's write in flight or not.
    #[test]
    fn an_upload_dropped_unfinished_leaves_no_staging_file() {
        let directory = Directory::new();
        let runtime = runtime();
        for size in [10, BLOCK + 10] {
            let target = directory.path().join("job.csv");
            let upload = runtime.block_on(async {
                let mut upload = LocalUpload::begin(target).await.unwrap();
                upload.write(&vec![b'a'; size]).await.unwrap();
                upload
            });
            assert_eq!(names(directory.path()), ["job.csv#1"]);
            let arrival = upload.arrival();
            drop(upload);
            assert!(names(directory.path()).is_empty(), "{size}");
            assert!(arrival.wait_past(0).is_err());
        }
    }

    #[test]
    fn a_finished_upload_is_in_place_and_stays_after_drop() {
        let directory = Directory::new();
        let target = directory.path().join("job.csv");
        let arrival = runtime().block_on(async {
            let mut upload = LocalUpload::begin(target.clone()).await.unwrap();
            upload.write(b"a,b\n1,2\n").await.unwrap();
            let arrival = upload.arrival();
            upload.finish().await.unwrap();
            arrival
        });
        assert_eq!(names(directory.path()), ["job.csv"]);
        assert_eq!(std::fs::read(&target).unwrap(), b"a,b\n1,2\n");
        let written = arrival.wait_past(0).unwrap();
        assert!(written.complete);
        assert_eq!(written.bytes, 8);
    }
}

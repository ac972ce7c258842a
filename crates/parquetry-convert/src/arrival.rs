//! Input that is still arriving: a file another thread writes while the conversion reads it
//! (the service converts an upload while its body is received). A read at the end of what is
//! written so far waits for more, so the engine sees exactly the bytes of the finished file,
//! in order, whatever its pace; the writer giving up is a read error.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

/// How far a file that is being written has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Bytes written from the start of the file, all readable.
    pub bytes: u64,
    /// No byte will be added: `bytes` is the file's length.
    pub complete: bool,
}

/// A file being written by someone else, read by a conversion as it grows.
pub trait Arrival: Send + Sync {
    /// Opens the file for reading, wherever it is now (a writer may move it into place when
    /// it completes).
    fn open(&self) -> io::Result<File>;

    /// Blocks until more than `bytes` bytes are written or the file is complete, and returns
    /// how far it got. An error means the file will never be complete (the upload failed).
    fn wait_past(&self, bytes: u64) -> io::Result<Written>;
}

/// Blocks until the file is complete; returns its length.
pub(crate) fn wait_complete(arrival: &dyn Arrival) -> io::Result<u64> {
    let mut written = arrival.wait_past(0)?;
    while !written.complete {
        written = arrival.wait_past(written.bytes)?;
    }
    Ok(written.bytes)
}

/// The conversion's input file: complete on disk, or still arriving.
#[derive(Clone, Copy)]
pub(crate) enum InputFile<'a> {
    Complete(&'a Path),
    Arriving(&'a Arc<dyn Arrival>),
}

impl InputFile<'_> {
    pub(crate) fn open(&self) -> io::Result<File> {
        match self {
            InputFile::Complete(path) => File::open(path),
            InputFile::Arriving(arrival) => arrival.open(),
        }
    }

    /// What to call the input in a message.
    pub(crate) fn describe(&self) -> String {
        match self {
            InputFile::Complete(path) => path.display().to_string(),
            InputFile::Arriving(_) => "the arriving input".to_string(),
        }
    }
}

/// Reads an arriving file from its start, waiting at the end of what is written so far
/// (tested through `convert_arriving` in `tests/arriving.rs`: pieces of one byte and more, a
/// writer that gives up, a zip archive that waits for its end).
pub(crate) struct ArrivingReader {
    file: File,
    arrival: Arc<dyn Arrival>,
    position: u64,
    written: Written,
}

impl ArrivingReader {
    pub(crate) fn new(file: File, arrival: Arc<dyn Arrival>) -> Self {
        ArrivingReader {
            file,
            arrival,
            position: 0,
            written: Written {
                bytes: 0,
                complete: false,
            },
        }
    }
}

impl Read for ArrivingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        if buf.is_empty() {
            return Ok(0);
        }
        while self.position == self.written.bytes {
            if self.written.complete {
                return Ok(0);
            }
            self.written = self.arrival.wait_past(self.written.bytes)?;
        }
        let ready = (self.written.bytes - self.position).min(buf.len() as u64) as usize;
        let read = self.file.read_at(&mut buf[..ready], self.position)?;
        if read == 0 {
            // The writer said these bytes were written: a shorter file is not the one it wrote.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the arriving input is shorter than its writer reported",
            ));
        }
        self.position += read as u64;
        Ok(read)
    }
}

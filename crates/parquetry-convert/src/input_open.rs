//! Opening the input: plain, gzip, zstd or a zip archive, recognised by magic bytes whatever
//! the file name, complete or still arriving (see [`crate::arrival`]); and telling the file's
//! own read errors (transient) from corrupt compressed data (the input's fault).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use crate::arrival::{ArrivingReader, InputFile};
use crate::error::{ConvertError, ErrorKind};

/// How the input file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputCompression {
    None,
    Gzip,
    Zstd,
    Zip,
}

impl InputCompression {
    pub(crate) fn name(self) -> &'static str {
        match self {
            InputCompression::None => "none",
            InputCompression::Gzip => "gzip",
            InputCompression::Zstd => "zstd",
            InputCompression::Zip => "zip",
        }
    }
}

/// An error of the file itself (not of the decompressor reading it), so that a retry-worthy
/// disk error is told apart from corrupt compressed data.
#[derive(Debug)]
struct FsError(std::io::Error);

impl std::fmt::Display for FsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for FsError {}

/// The compressed file, with its own errors tagged as [`FsError`].
pub(crate) struct TaggedFile<R>(pub(crate) R);

impl<R: Read> Read for TaggedFile<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| std::io::Error::new(e.kind(), FsError(e)))
    }
}

/// A decompressor whose own errors (bad or truncated data) are tagged as corrupt input.
pub(crate) struct Decompress<R> {
    pub(crate) inner: R,
    pub(crate) format: &'static str,
}

/// Corrupt or truncated compressed data.
#[derive(Debug)]
struct Corrupt(String);

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Corrupt {}

impl<R: Read> Read for Decompress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let from_file = e.get_ref().is_some_and(|r| r.is::<FsError>());
            if from_file || e.kind() == std::io::ErrorKind::Interrupted {
                e
            } else {
                let what = format!("the {} input is truncated or corrupt: {e}", self.format);
                std::io::Error::new(std::io::ErrorKind::InvalidData, Corrupt(what))
            }
        })
    }
}

/// The error for a failed read: corrupt compressed data is the input's fault (permanent),
/// anything else is I/O (transient).
pub(crate) fn read_error(e: std::io::Error) -> ConvertError {
    match e.get_ref().and_then(|r| r.downcast_ref::<Corrupt>()) {
        Some(c) => ConvertError::new(ErrorKind::CorruptCompressedInput, c.0.clone()),
        None => ConvertError::new(ErrorKind::Io, format!("cannot read input: {e}")),
    }
}

/// Opens the input, recognising gzip, zstd and zip by their magic bytes whatever the file name;
/// `member` (the option) picks the file to read in a zip archive, and is refused for other input.
/// An arriving input is read as it grows, except a zip archive: its directory is at its end.
pub(crate) fn open(
    input: InputFile,
    member: Option<&str>,
) -> Result<(Box<dyn Read + Send>, InputCompression), ConvertError> {
    let file = input.open().map_err(|e| {
        ConvertError::new(
            ErrorKind::Io,
            format!("cannot open input {}: {e}", input.describe()),
        )
    })?;
    match input {
        InputFile::Complete(_) => open_file(file, member),
        InputFile::Arriving(arrival) => {
            let mut reader = ArrivingReader::new(file.try_clone()?, arrival.clone());
            let (magic, n) = read_magic(&mut reader)?;
            if is_zip(&magic, n) {
                crate::arrival::wait_complete(&**arrival).map_err(read_error)?;
                return open_file(file, member);
            }
            let reader = ArrivingReader::new(file, arrival.clone());
            open_stream(reader, (magic, n), member)
        }
    }
}

fn read_magic(reader: &mut dyn Read) -> Result<([u8; 4], usize), ConvertError> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match reader.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(e)),
        }
    }
    Ok((magic, n))
}

fn is_zip(magic: &[u8; 4], n: usize) -> bool {
    n == 4 && (*magic == *b"PK\x03\x04" || *magic == *b"PK\x05\x06")
}

/// A complete file, read from its start.
fn open_file(
    mut file: File,
    member: Option<&str>,
) -> Result<(Box<dyn Read + Send>, InputCompression), ConvertError> {
    let (magic, n) = read_magic(&mut file)?;
    file.seek(SeekFrom::Start(0))?;
    if is_zip(&magic, n) {
        return Ok((crate::zip_input::open(file, member)?, InputCompression::Zip));
    }
    open_stream(file, (magic, n), member)
}

/// Plain, gzip or zstd input from `source`, positioned at its start, by its first bytes.
fn open_stream<R: Read + Send + 'static>(
    source: R,
    (magic, n): ([u8; 4], usize),
    member: Option<&str>,
) -> Result<(Box<dyn Read + Send>, InputCompression), ConvertError> {
    crate::zip_input::no_member(member)?;
    let buffered = |source: R| BufReader::with_capacity(1 << 20, TaggedFile(source));
    Ok(if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        let inner = flate2::bufread::MultiGzDecoder::new(buffered(source));
        (
            Box::new(Decompress {
                inner,
                format: "gzip",
            }),
            InputCompression::Gzip,
        )
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        let inner = zstd::Decoder::with_buffer(buffered(source))?;
        (
            Box::new(Decompress {
                inner,
                format: "zstd",
            }),
            InputCompression::Zstd,
        )
    } else {
        // Plain files are read in chunk-sized blocks straight into the chunk buffers: a
        // BufReader would only add a copy.
        (Box::new(source), InputCompression::None)
    })
}

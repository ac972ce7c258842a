//! Opening the input (plain, gzip or zstd by magic bytes), decoding it to UTF-8 and cutting it
//! into chunks of complete records.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{ConvertError, ErrorKind};

/// How the input file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputCompression {
    None,
    Gzip,
    Zstd,
}

impl InputCompression {
    pub(crate) fn name(self) -> &'static str {
        match self {
            InputCompression::None => "none",
            InputCompression::Gzip => "gzip",
            InputCompression::Zstd => "zstd",
        }
    }
}

/// Opens the input, recognising gzip and zstd by their magic bytes whatever the file name.
pub(crate) fn open(path: &Path) -> Result<(Box<dyn Read + Send>, InputCompression), ConvertError> {
    let mut file = File::open(path).map_err(|e| {
        ConvertError::new(
            ErrorKind::Io,
            format!("cannot open input {}: {e}", path.display()),
        )
    })?;
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match file.read(&mut magic[n..])? {
            0 => break,
            k => n += k,
        }
    }
    file.seek(SeekFrom::Start(0))?;
    let buffered = |f: File| BufReader::with_capacity(1 << 20, f);
    Ok(if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        (
            Box::new(flate2::bufread::MultiGzDecoder::new(buffered(file))),
            InputCompression::Gzip,
        )
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        let decoder = zstd::Decoder::with_buffer(buffered(file))?;
        (Box::new(decoder), InputCompression::Zstd)
    } else {
        // Plain files are read in chunk-sized blocks straight into the chunk buffers: a
        // BufReader would only add a copy.
        (Box::new(file), InputCompression::None)
    })
}

/// Fills `buf` from `r` until it is full or the stream ends; returns the bytes read.
pub(crate) fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize, ConvertError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(ConvertError::new(
                    ErrorKind::Io,
                    format!("cannot read input: {e}"),
                ));
            }
        }
    }
    Ok(n)
}

/// A run of complete records, decoded to UTF-8.
pub(crate) struct Chunk {
    /// Position of the chunk in the file, from 0.
    pub index: u64,
    /// 1-based line number of the first byte.
    pub first_line: u64,
    pub data: Vec<u8>,
}

/// Cuts the decoded input into chunks that end on a record boundary.
pub(crate) struct ChunkReader {
    inner: Box<dyn Read + Send>,
    windows_1252: bool,
    /// Forced UTF-8 (error) or auto (re-plan) when validation fails.
    utf8_forced: bool,
    quote: u8,
    escape: Option<u8>,
    pending: Vec<u8>,
    raw: Vec<u8>,
    eof: bool,
    started: bool,
    next_line: u64,
    next_index: u64,
    chunk_size: usize,
    /// Buffers of parsed chunks, reused so that big allocations are not faulted in again.
    spare: Vec<Vec<u8>>,
}

impl ChunkReader {
    pub(crate) fn new(
        inner: Box<dyn Read + Send>,
        windows_1252: bool,
        utf8_forced: bool,
        quote: u8,
        escape: Option<u8>,
        chunk_size: usize,
    ) -> Self {
        ChunkReader {
            inner,
            windows_1252,
            utf8_forced,
            quote,
            escape,
            pending: Vec::with_capacity(chunk_size + (chunk_size >> 2)),
            raw: Vec::new(),
            eof: false,
            started: false,
            next_line: 1,
            next_index: 0,
            chunk_size,
            spare: Vec::new(),
        }
    }

    /// Gives back the buffer of a chunk that is no longer needed.
    pub(crate) fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < 4 {
            buf.clear();
            self.spare.push(buf);
        }
    }

    /// Index the next chunk will have.
    pub(crate) fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Reads about `want` more decoded bytes into `pending`.
    fn fill(&mut self, want: usize) -> Result<(), ConvertError> {
        if self.windows_1252 {
            self.raw.resize(want, 0);
            let n = read_full(&mut *self.inner, &mut self.raw)?;
            self.eof = n < want;
            let mut raw = &self.raw[..n];
            if !self.started && raw.starts_with(b"\xEF\xBB\xBF") {
                raw = &raw[3..];
            }
            // Windows-1252 is a single-byte encoding, so chunks decode independently.
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(raw);
            self.pending.extend_from_slice(text.as_bytes());
        } else {
            // `read_to_end` fills spare capacity without zeroing it first.
            self.pending.reserve(want);
            let n = (&mut *self.inner)
                .take(want as u64)
                .read_to_end(&mut self.pending)
                .map_err(|e| ConvertError::new(ErrorKind::Io, format!("cannot read input: {e}")))?;
            self.eof = n < want;
            if !self.started && self.pending.starts_with(b"\xEF\xBB\xBF") {
                self.pending.drain(..3);
            }
        }
        self.started = true;
        Ok(())
    }

    /// Position just after the last record boundary of `data`, if any.
    fn boundary(&self, data: &[u8]) -> Option<usize> {
        if let Some(esc) = self.escape {
            // Escapes break quote parity: walk the bytes with the full state machine.
            let (mut inside, mut last, mut i) = (false, None, 0);
            while i < data.len() {
                let b = data[i];
                if b == esc {
                    i += 2;
                    continue;
                }
                if b == self.quote {
                    inside = !inside;
                } else if b == b'\n' && !inside {
                    last = Some(i + 1);
                }
                i += 1;
            }
            return last;
        }
        // With doubled quotes, a newline is a boundary iff an even number of quotes precede it.
        let mut quotes = memchr::memchr_iter(self.quote, data).count();
        for i in (0..data.len()).rev() {
            let b = data[i];
            if b == self.quote {
                quotes -= 1;
            } else if b == b'\n' && quotes.is_multiple_of(2) {
                return Some(i + 1);
            }
        }
        None
    }

    /// The next chunk, or `None` at the end of the input.
    pub(crate) fn next_chunk(&mut self) -> Result<Option<Chunk>, ConvertError> {
        let mut target = self.chunk_size;
        loop {
            if !self.eof && self.pending.len() < target {
                let want = (target - self.pending.len()).max(64 << 10);
                self.fill(want)?;
                continue;
            }
            let cut = if self.eof {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                self.pending.len()
            } else {
                match self.boundary(&self.pending) {
                    Some(p) => p,
                    None => {
                        // One record is larger than a chunk: read more before cutting.
                        target = self.pending.len() * 2;
                        continue;
                    }
                }
            };
            let mut data = self
                .spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(self.chunk_size + (self.chunk_size >> 2)));
            data.extend_from_slice(&self.pending[cut..]);
            self.pending.truncate(cut);
            std::mem::swap(&mut data, &mut self.pending);
            let first_line = self.next_line;
            // Only a forced UTF-8 is checked here (for the error's line); in auto mode the text
            // columns are validated when their Arrow arrays are built, which catches the same
            // bytes without a second pass over every chunk.
            if !self.windows_1252 && self.utf8_forced {
                if let Err(e) = std::str::from_utf8(&data) {
                    let line = first_line + count_lines(&data[..e.valid_up_to()]);
                    return Err(ConvertError::new(
                        ErrorKind::InvalidUtf8,
                        format!("line {line}: bytes that are not UTF-8 (encoding forced to utf-8)"),
                    )
                    .at_line(line));
                }
            }
            self.next_line += count_lines(&data);
            let index = self.next_index;
            self.next_index += 1;
            return Ok(Some(Chunk {
                index,
                first_line,
                data,
            }));
        }
    }
}

/// Number of `\n` in `data`.
pub(crate) fn count_lines(data: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', data).count() as u64
}

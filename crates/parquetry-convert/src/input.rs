//! Reading the input (opened in [`crate::input_open`]): decoding it to UTF-8 and cutting it
//! into chunks of complete records. Which member of a zip archive is read, and
//! how, is in [`crate::zip_input`]: the `member` option picks it when there are several.

use std::io::Read;

use crate::arrival::InputFile;
use crate::error::{ConvertError, ErrorKind};
pub(crate) use crate::input_open::{open, read_error, InputCompression};

/// Where the CSV comes from: a file (plain, gzip, zstd or a zip archive), or text already in
/// memory (an upload that an inspection reads whole, or only the head of a longer one).
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    File(InputFile<'a>),
    Text(&'a [u8]),
    /// The first bytes of a longer file, its last line cut wherever the head ended.
    Head(&'a [u8]),
}

impl Source<'_> {
    pub(crate) fn open(
        &self,
        member: Option<&str>,
    ) -> Result<(Box<dyn Read + Send>, InputCompression), ConvertError> {
        match *self {
            Source::File(input) => open(input, member),
            Source::Text(text) | Source::Head(text) => Ok((
                Box::new(std::io::Cursor::new(text.to_vec())),
                InputCompression::None,
            )),
        }
    }
}

/// Fills `buf` from `r` until it is full or the stream ends; returns the bytes read.
pub(crate) fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize, ConvertError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(e)),
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
    /// The last chunk of the input: it holds at least the last [`LOOKAHEAD`] bytes of the
    /// file (or all of it), so a footer is never split across chunks.
    pub last: bool,
}

impl Chunk {
    /// The 1-based line number of byte `pos` of the chunk.
    pub(crate) fn line_at(&self, pos: usize) -> u64 {
        self.first_line + count_lines(&self.data[..pos])
    }
}

/// Bytes read past a chunk's end before cutting it, so that the end of the input is seen
/// by the chunk that holds it (see [`Chunk::last`]).
pub(crate) const LOOKAHEAD: usize = 64 << 10;

/// Cuts the decoded input into chunks that end on a record boundary.
pub(crate) struct ChunkReader {
    inner: Box<dyn Read + Send>,
    windows_1252: bool,
    /// Forced UTF-8 (error) or auto (re-plan) when validation fails.
    utf8_forced: bool,
    delimiter: u8,
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
    /// Lines still to drop before the table (see `Plan::skip_lines`).
    skip_lines: u64,
    /// Rewrite lone CRs and CRLFs to LF as the text is read.
    cr_line_ends: bool,
    /// The block read last ended with a CR whose LF may start the next one.
    held_cr: bool,
}

impl ChunkReader {
    pub(crate) fn new(
        inner: Box<dyn Read + Send>,
        windows_1252: bool,
        utf8_forced: bool,
        delimiter: u8,
        quote: u8,
        escape: Option<u8>,
        chunk_size: usize,
    ) -> Self {
        ChunkReader {
            inner,
            windows_1252,
            utf8_forced,
            delimiter,
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
            skip_lines: 0,
            cr_line_ends: false,
            held_cr: false,
        }
    }

    /// Drops the first `skip_lines` lines (still counted in line numbers) and, with
    /// `cr_line_ends`, reads a lone CR as a line end.
    pub(crate) fn with_layout(mut self, skip_lines: u64, cr_line_ends: bool) -> Self {
        self.skip_lines = skip_lines;
        self.cr_line_ends = cr_line_ends;
        self
    }

    /// Drops the lines still to skip from the start of `pending`; false when more input is
    /// needed to find their end.
    fn drop_skipped_lines(&mut self) -> bool {
        let mut cut = 0;
        while self.skip_lines > 0 {
            match memchr::memchr(b'\n', &self.pending[cut..]) {
                Some(end) => {
                    cut += end + 1;
                    self.skip_lines -= 1;
                    self.next_line += 1;
                }
                None if self.eof => {
                    cut = self.pending.len();
                    self.skip_lines = 0;
                }
                None => break,
            }
        }
        self.pending.drain(..cut);
        self.skip_lines == 0
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
        let from = self.pending.len();
        self.fill_decoded(want)?;
        if self.cr_line_ends {
            crate::layout::normalise_line_ends(&mut self.pending, from, &mut self.held_cr);
        }
        Ok(())
    }

    fn fill_decoded(&mut self, want: usize) -> Result<(), ConvertError> {
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
                .map_err(read_error)?;
            self.eof = n < want;
            if !self.started && self.pending.starts_with(b"\xEF\xBB\xBF") {
                self.pending.drain(..3);
            }
        }
        self.started = true;
        Ok(())
    }

    /// Position just after the last record boundary of `data`, if any, and the line ends
    /// before it. `data` starts at a record boundary, and the quote rules are the tokenizer's:
    /// a quote opens a quoted field only at the start of a field, so `32" TV` is plain text.
    fn boundary(&self, data: &[u8]) -> Option<(usize, u64)> {
        match self.escape {
            Some(escape) => self
                .boundary_with_escape(data, escape)
                .map(|cut| (cut, count_lines(&data[..cut]))),
            None => crate::cut::last_boundary(data, self.delimiter, self.quote),
        }
    }

    /// With an escape byte, the full state machine, a byte at a time (such files are rare).
    fn boundary_with_escape(&self, data: &[u8], escape: u8) -> Option<usize> {
        let (mut inside, mut field_start, mut found, mut i) = (false, true, None, 0);
        while i < data.len() {
            let b = data[i];
            if b == escape {
                // The escape protects the next byte, whatever it is.
                field_start = false;
                i += 2;
                continue;
            }
            if inside {
                inside = b != self.quote;
            } else if b == self.quote && field_start {
                inside = true;
            } else if b == b'\n' {
                found = Some(i + 1);
            }
            field_start = !inside && (b == self.delimiter || b == b'\n');
            i += 1;
        }
        found
    }

    /// The next chunk, or `None` at the end of the input.
    pub(crate) fn next_chunk(&mut self) -> Result<Option<Chunk>, ConvertError> {
        let mut target = self.chunk_size;
        loop {
            if !self.eof && self.pending.len() < target + LOOKAHEAD {
                let want = (target + LOOKAHEAD - self.pending.len()).max(64 << 10);
                self.fill(want)?;
                continue;
            }
            if self.skip_lines > 0 {
                if !self.drop_skipped_lines() {
                    // The skipped lines go on past what was read: read more.
                    target = self.pending.len();
                }
                continue;
            }
            let last = self.eof;
            let (cut, lines) = if self.eof {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                (self.pending.len(), count_lines(&self.pending))
            } else {
                let before_lookahead = self.pending.len() - LOOKAHEAD;
                match self.boundary(&self.pending[..before_lookahead]) {
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
            self.next_line += lines;
            let index = self.next_index;
            self.next_index += 1;
            return Ok(Some(Chunk {
                index,
                first_line,
                data,
                last,
            }));
        }
    }
}

/// Number of `\n` in `data`.
pub(crate) fn count_lines(data: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', data).count() as u64
}

/// Magic numbers of files that users upload by mistake instead of a CSV export.
const NOT_CSV: &[(&[u8], &str)] = &[
    (b"PK\x03\x04", "a ZIP archive (an .xlsx, .ods or .zip file)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (
        b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
        "an old Excel (.xls) or Office file",
    ),
    (b"PAR1", "a Parquet file"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xFF\xD8\xFF", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"7z\xBC\xAF\x27\x1C", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"BZh", "a bzip2 file (only gzip and zstd are decompressed)"),
    (
        b"\xFD7zXZ\x00",
        "an xz file (only gzip and zstd are decompressed)",
    ),
    (b"SQLite format 3\x00", "an SQLite database"),
];

/// Rejects, from the first (decompressed) block, input that is not CSV text: known binary
/// formats, UTF-16/32 text, and data full of NUL bytes. Without this an .xlsx "converts" to
/// zero rows with a binary column name, and UTF-16 fails later as a ragged row.
pub(crate) fn check_text(block: &[u8]) -> Result<(), ConvertError> {
    let not_csv = |what: &str| {
        ConvertError::new(
            ErrorKind::NotCsv,
            format!("the file looks like {what}, not CSV text; export it as CSV and upload that"),
        )
    };
    if let Some((_, what)) = NOT_CSV.iter().find(|(magic, _)| block.starts_with(magic)) {
        return Err(not_csv(what));
    }
    let utf16 = |what: &str| {
        ConvertError::new(
            ErrorKind::UnsupportedEncoding,
            format!("the file is {what} text; save it as UTF-8 (or Windows-1252) CSV"),
        )
    };
    // UTF-32 first: its little-endian BOM starts with the UTF-16 one.
    if block.starts_with(b"\xFF\xFE\x00\x00") || block.starts_with(b"\x00\x00\xFE\xFF") {
        return Err(utf16("UTF-32"));
    }
    if block.starts_with(b"\xFF\xFE") || block.starts_with(b"\xFE\xFF") {
        return Err(utf16("UTF-16"));
    }
    let head = &block[..block.len().min(64 << 10)];
    let nuls = memchr::memchr_iter(0, head).count();
    // A stray NUL happens in real exports; text where NULs are common is not CSV.
    if nuls >= 4 && nuls * 100 > head.len() {
        // UTF-16 of mostly ASCII text has NULs in every other byte, all at one parity.
        let even = memchr::memchr_iter(0, head).filter(|p| p % 2 == 0).count();
        if nuls * 4 > head.len() && (even * 10 > nuls * 9 || even * 10 < nuls) {
            return Err(utf16("UTF-16 (without byte-order mark)"));
        }
        return Err(not_csv("binary data (it holds NUL bytes)"));
    }
    // Control bytes other than tab and line ends have no place in text; a few slip into real
    // exports, but random or binary data is full of them.
    let controls = head
        .iter()
        .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7F)
        .count();
    if controls >= 8 && controls * 100 > head.len() {
        return Err(not_csv("binary data (it holds control bytes)"));
    }
    // An error or login page saved in place of the download.
    let start = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = &start[start.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
    let prefix = start[..start.len().min(14)].to_ascii_lowercase();
    if prefix.starts_with(b"<!doctype html") || prefix.starts_with(b"<html") {
        return Err(not_csv(
            "an HTML page (perhaps an error page saved instead of the file)",
        ));
    }
    if prefix.starts_with(b"<?xml") {
        return Err(not_csv("an XML document"));
    }
    Ok(())
}

/// `bytes` with every invalid UTF-8 sequence read as Windows-1252; also how many sequences
/// were invalid.
pub(crate) fn repair_utf8(bytes: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    let mut bad = 0;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.extend_from_slice(s.as_bytes());
                return (out, bad);
            }
            Err(e) => {
                let (valid, tail) = rest.split_at(e.valid_up_to());
                out.extend_from_slice(valid);
                let n = e.error_len().unwrap_or(tail.len());
                let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&tail[..n]);
                out.extend_from_slice(text.as_bytes());
                bad += 1;
                rest = &tail[n..];
            }
        }
    }
}

/// True when the input shows a valid multi-byte UTF-8 character before its first invalid
/// byte, i.e. it is a UTF-8 file with stray Windows-1252 values. Only called after a pass
/// met invalid UTF-8, and it stops at the first non-ASCII byte.
pub(crate) fn utf8_before_invalid(
    input: InputFile,
    member: Option<&str>,
) -> Result<bool, ConvertError> {
    let (mut reader, _) = open(input, member)?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut carry, mut first) = (0, true);
    loop {
        let n = read_full(&mut *reader, &mut buf[carry..])?;
        let eof = carry + n < buf.len();
        let mut data = &buf[..carry + n];
        if first && data.starts_with(b"\xEF\xBB\xBF") {
            // The byte-order mark is handled apart; it says nothing about later rows.
            data = &data[3..];
        }
        first = false;
        let (valid, cut) = match std::str::from_utf8(data) {
            Ok(_) => (data, 0),
            Err(e) if e.error_len().is_none() && !eof => {
                (&data[..e.valid_up_to()], data.len() - e.valid_up_to())
            }
            Err(e) => return Ok(!data[..e.valid_up_to()].is_ascii()),
        };
        if !valid.is_ascii() {
            return Ok(true);
        }
        if eof {
            return Ok(false);
        }
        let len = carry + n;
        buf.copy_within(len - cut..len, 0);
        carry = cut;
    }
}

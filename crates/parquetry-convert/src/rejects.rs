//! Rows left out with `on_error=skip`, and the other lines a pass did not read as rows
//! (blank, comment and footer lines): what each chunk saw, and the rejects file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{ConvertError, ErrorKind};
use crate::options::MaxErrors;

/// Longest original line kept in the rejects file: a runaway record (an unterminated quote)
/// would otherwise copy the rest of the file.
const MAX_RAW_BYTES: usize = 64 << 10;
/// The columns of the rejects file, in order.
pub const REJECTS_HEADER: [&str; 5] = ["line", "column", "code", "message", "raw"];
/// Footer lines kept, as text, for the report.
pub(crate) const SHOWN_FOOTER_LINES: usize = 5;

/// A row that could not be read.
#[derive(Debug, Clone)]
pub(crate) struct Reject {
    /// 1-based line where the row starts.
    pub line: u64,
    pub column: Option<String>,
    pub code: &'static str,
    pub message: String,
    /// The row as read (decoded to UTF-8), at most [`MAX_RAW_BYTES`].
    pub raw: Vec<u8>,
}

impl Reject {
    pub(crate) fn new(error: ConvertError, raw: &[u8]) -> Reject {
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        Reject {
            line: error.line.unwrap_or(0),
            code: error.code(),
            message: error.message,
            column: error.column,
            raw: raw[..raw.len().min(MAX_RAW_BYTES)].to_vec(),
        }
    }
}

/// What one chunk's parse met besides its rows.
#[derive(Debug, Default)]
pub(crate) struct ChunkNotes {
    pub blank_lines: u64,
    pub comment_lines: u64,
    /// The footer's first lines, shown (only the last chunk has a footer).
    pub footer: Vec<String>,
    /// All its lines.
    pub footer_lines: u64,
    pub rejects: Vec<Reject>,
}

/// The figures of a pass about lines that did not become rows.
#[derive(Debug, Default, Clone)]
pub(crate) struct LineCounts {
    pub blank_lines: u64,
    pub comment_lines: u64,
    pub footer: Vec<String>,
    pub footer_lines: u64,
    pub rows_rejected: u64,
    /// The first reject, to name it when too many fail the job.
    pub first_reject: Option<(u64, String)>,
}

impl LineCounts {
    pub(crate) fn add(&mut self, notes: &ChunkNotes) {
        self.blank_lines += notes.blank_lines;
        self.comment_lines += notes.comment_lines;
        if notes.footer_lines > 0 {
            self.footer = notes.footer.clone();
            self.footer_lines = notes.footer_lines;
        }
        if self.first_reject.is_none() {
            if let Some(r) = notes.rejects.first() {
                self.first_reject = Some((r.line, r.message.clone()));
            }
        }
        self.rows_rejected += notes.rejects.len() as u64;
    }

    /// Fails when more rows were rejected than `max` allows; `rows` are the rows written
    /// (only known at the end: a percentage is checked then, with `finished`).
    pub(crate) fn check(
        &self,
        max: Option<MaxErrors>,
        rows: u64,
        finished: bool,
    ) -> Result<(), ConvertError> {
        let over = match max {
            Some(MaxErrors::Count(n)) => self.rows_rejected > n,
            Some(MaxErrors::Percent(p)) if finished => {
                let total = rows + self.rows_rejected;
                total > 0 && self.rows_rejected as f64 * 100.0 > p * total as f64
            }
            _ => false,
        };
        if !over {
            return Ok(());
        }
        let limit = match max {
            Some(MaxErrors::Count(n)) => format!("{n}"),
            Some(MaxErrors::Percent(p)) => format!("{p}%"),
            None => unreachable!("no limit, never over"),
        };
        let first = self
            .first_reject
            .as_ref()
            .map(|(_, message)| format!("; the first: {message}"))
            .unwrap_or_default();
        let line = self.first_reject.as_ref().map(|(l, _)| *l);
        let error = ConvertError::new(
            ErrorKind::TooManyErrors,
            format!(
                "{} rows could not be read, more than max_errors={limit} allows{first} \
                 (see the rejects file; raise max_errors to accept more)",
                self.rows_rejected
            ),
        );
        Err(match line {
            Some(l) => error.at_line(l),
            None => error,
        })
    }
}

/// The rejects CSV (`line,column,code,message,raw`), created at the first reject.
pub(crate) struct RejectsFile<'a> {
    path: Option<&'a Path>,
    writer: Option<csv::Writer<BufWriter<File>>>,
}

impl<'a> RejectsFile<'a> {
    /// Nothing is written when `path` is `None`; an existing file is replaced.
    pub(crate) fn new(path: Option<&'a Path>) -> Self {
        if let Some(p) = path {
            // A file left by an earlier pass describes rows of another plan.
            let _ = std::fs::remove_file(p);
        }
        RejectsFile { path, writer: None }
    }

    pub(crate) fn write(&mut self, rejects: &[Reject]) -> Result<(), ConvertError> {
        let Some(path) = self.path.filter(|_| !rejects.is_empty()) else {
            return Ok(());
        };
        if self.writer.is_none() {
            let file = File::create(path).map_err(|e| {
                ConvertError::new(
                    ErrorKind::Io,
                    format!("cannot create the rejects file: {e}"),
                )
            })?;
            let mut w = csv::Writer::from_writer(BufWriter::new(file));
            w.write_record(REJECTS_HEADER).map_err(csv_error)?;
            self.writer = Some(w);
        }
        let w = self.writer.as_mut().expect("created above");
        for r in rejects {
            let line = r.line.to_string();
            let raw = String::from_utf8_lossy(&r.raw);
            let column = r.column.as_deref().unwrap_or("");
            w.write_record([line.as_str(), column, r.code, &r.message, &raw])
                .map_err(csv_error)?;
        }
        Ok(())
    }

    /// Flushes the file, when one was written, to disk.
    pub(crate) fn finish(self) -> Result<(), ConvertError> {
        let Some(w) = self.writer else {
            return Ok(());
        };
        let mut inner = w
            .into_inner()
            .map_err(|e| csv_error(e.into_error().into()))?;
        inner.flush()?;
        inner.get_ref().sync_all()?;
        Ok(())
    }
}

fn csv_error(e: csv::Error) -> ConvertError {
    ConvertError::new(ErrorKind::Io, format!("cannot write the rejects file: {e}"))
}

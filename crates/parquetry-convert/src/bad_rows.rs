//! What a pass does with a record that cannot be a row: a footer at the end of the file is
//! dropped (and reported), with `on_error=skip` the row is rejected, otherwise the pass
//! fails with an error that names the line and the option that would get past it.

use arrow_array::{BooleanArray, RecordBatch};

use crate::error::{ConvertError, ErrorKind};
use crate::input::Chunk;
use crate::layout::{self, MAX_FOOTER_LINES};
use crate::plan::{ColumnPlan, Kind, Plan};
use crate::rejects::{ChunkNotes, Reject, SHOWN_FOOTER_LINES};
use crate::tokenize::Tokenizer;
use crate::write::Fault;

/// Where parsing goes after a record that cannot be a row.
pub(crate) enum Flow {
    /// It starts the file's footer: the chunk has no more rows.
    Footer,
    /// It was rejected: parsing goes on after it.
    Rejected,
}

/// Handles the record at `start..end` of `chunk` that failed with `error`.
pub(crate) fn unreadable(
    plan: &Plan,
    chunk: &Chunk,
    start: usize,
    end: usize,
    ncols: usize,
    error: ConvertError,
    notes: &mut ChunkNotes,
) -> Result<Flow, Fault> {
    if chunk.last {
        if let Some((lines, shown)) = footer_at(plan, &chunk.data[start..], ncols) {
            notes.footer = shown;
            notes.footer_lines = lines;
            return Ok(Flow::Footer);
        }
    }
    if !plan.skip_bad_rows {
        return Err(with_hint(error).into());
    }
    notes
        .rejects
        .push(Reject::new(error, &chunk.data[start..end]));
    Ok(Flow::Rejected)
}

/// The footer, when `rest` (from a record that does not fit to the end of the file) is a
/// short block of lines none of which fits the table: how many, and the first ones shown.
fn footer_at(plan: &Plan, rest: &[u8], ncols: usize) -> Option<(u64, Vec<String>)> {
    let lines: Vec<&[u8]> = rest
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(|b| b.is_ascii_whitespace()))
        .collect();
    if lines.is_empty() || lines.len() > MAX_FOOTER_LINES {
        return None;
    }
    let tok = Tokenizer::new(plan.delimiter, plan.quote, plan.escape);
    let mut fields = Vec::new();
    // A footer line is shorter than a row and starts with words (`Fonte: IBGE`, `Total
    // geral:`, `Notas`); a row too long, or one that starts like data, is not.
    let footer_like = |line: &[u8], fields: &mut Vec<_>| {
        let first = line.split(|&b| b == plan.delimiter).next().unwrap_or(line);
        let shorter = match tok.record(line, 0, fields) {
            Ok(_) => fields.len() < ncols && !plan.pad_short_rows,
            Err(_) => true,
        };
        shorter && first.iter().any(|b| b.is_ascii_alphabetic())
    };
    if !lines.iter().all(|l| footer_like(l, &mut fields)) {
        return None;
    }
    let shown = lines
        .iter()
        .take(SHOWN_FOOTER_LINES)
        .map(|l| layout::shown(l))
        .collect();
    Some((lines.len() as u64, shown))
}

/// The error with the option that would get past it, where one would.
pub(crate) fn with_hint(mut error: ConvertError) -> ConvertError {
    let hint = match error.kind {
        ErrorKind::RaggedRow => {
            "; to leave such rows out set on_error=skip (they go to the rejects file), \
             or ragged=pad to read short rows with nulls"
        }
        ErrorKind::UnterminatedQuote => {
            "; to leave such rows out set on_error=skip, or set `quote` if this character \
             is not the file's quote"
        }
        ErrorKind::InvalidValue => {
            "; to leave such rows out set on_error=skip, or give the column another type \
             in `schema`"
        }
        ErrorKind::InvalidUtf8 => {
            "; set encoding=windows-1252 if the file is not UTF-8, or on_error=skip to leave \
             such rows out"
        }
        _ => "",
    };
    error.message.push_str(hint);
    error
}

pub(crate) fn unterminated(line: u64) -> ConvertError {
    ConvertError::new(
        ErrorKind::UnterminatedQuote,
        format!("line {line}: a quoted field is not closed before the end of the file"),
    )
    .at_line(line)
}

/// A value that does not fit its column's type (forced, or text past its size limits).
/// The value itself stays out of the message: messages reach logs and spans, and cells are
/// the user's data; the line leads to it, and the rejects file has the row.
pub(crate) fn invalid_value(line: u64, col: &ColumnPlan, kind: Kind) -> ConvertError {
    ConvertError::new(
        ErrorKind::InvalidValue,
        format!(
            "line {line}, column `{}`: the value is not a valid {}",
            col.name,
            kind.data_type()
        ),
    )
    .at_line(line)
    .in_column(col.name.clone())
}

/// With `on_error=skip` and a forced UTF-8 encoding, a row whose bytes are not UTF-8.
pub(crate) fn check_utf8(
    plan: &Plan,
    raw: &[u8],
    line: impl Fn() -> u64,
) -> Result<(), ConvertError> {
    if !(plan.skip_bad_rows && plan.utf8_forced) || std::str::from_utf8(raw).is_ok() {
        return Ok(());
    }
    let line = line();
    Err(ConvertError::new(
        ErrorKind::InvalidUtf8,
        format!("line {line}: bytes that are not UTF-8 (encoding forced to utf-8)"),
    )
    .at_line(line))
}

/// The position after the line that starts at `pos`.
pub(crate) fn next_line(data: &[u8], pos: usize) -> usize {
    memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |end| pos + end + 1)
}

/// `batch` without the rows at `rejected` (sorted indexes).
pub(crate) fn without_rows(batch: RecordBatch, rejected: &[u32]) -> Result<RecordBatch, Fault> {
    if rejected.is_empty() {
        return Ok(batch);
    }
    let mut keep = vec![true; batch.num_rows()];
    for &r in rejected {
        keep[r as usize] = false;
    }
    let mask = BooleanArray::from(keep);
    arrow_select::filter::filter_record_batch(&batch, &mask).map_err(|e| Fault::Error(e.into()))
}

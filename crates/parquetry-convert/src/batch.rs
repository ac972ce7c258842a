//! Turns one chunk of records into an Arrow `RecordBatch` following the plan: through a table
//! of cells typed column by column when the chunk is clean (`clean.rs`), record by record
//! otherwise.

mod clean;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema;

use crate::bad_rows::{
    check_utf8, invalid_value, next_line, unreadable, unterminated, with_hint, without_rows, Flow,
};
use crate::columns::Builder;
use crate::error::{ConvertError, ErrorKind};
use crate::field_table::{Cell, TableTokenizer};
use crate::input::Chunk;
use crate::plan::{self, Kind, Plan};
use crate::rejects::{ChunkNotes, Reject};
use crate::report::TypeSource;
use crate::tokenize::{is_blank, Field, Tokenizer, QUOTED};
use crate::values;
use crate::write::{Fault, Widening};

/// Reusable state of one parsing thread.
pub(crate) struct BatchParser {
    tok: Tokenizer,
    fields: Vec<Field>,
    /// The fast path's tokenizer, for the dialects it reads.
    table: Option<TableTokenizer>,
    cells: Vec<Cell>,
    /// Chunks in a row that the fast path gave up on.
    table_misses: u32,
    scratch: Vec<u8>,
    /// Text bytes and rows of each column in the previous chunk: chunks are alike, so this
    /// sizes the builders right the first time instead of regrowing (and copying) them.
    hints: Vec<(usize, usize)>,
    /// Values read as Windows-1252 in a UTF-8 file, since the last [`BatchParser::take_repaired`].
    repaired: u64,
}

impl BatchParser {
    pub(crate) fn new(plan: &Plan) -> Self {
        BatchParser {
            tok: Tokenizer::new(plan.delimiter, plan.quote, plan.escape),
            fields: Vec::with_capacity(plan.columns.len() + 1),
            table: TableTokenizer::new(plan.delimiter, plan.quote, plan.escape, plan.comment),
            cells: Vec::new(),
            table_misses: 0,
            scratch: Vec::new(),
            hints: Vec::new(),
            repaired: 0,
        }
    }

    /// Values read as Windows-1252 since the last call.
    pub(crate) fn take_repaired(&mut self) -> u64 {
        std::mem::take(&mut self.repaired)
    }

    /// Parses every record of `chunk` (skipping the header in chunk 0): the batch of its
    /// rows, and what else it met (blank, comment and footer lines, rejected rows).
    pub(crate) fn parse(
        &mut self,
        plan: &Plan,
        schema: &Arc<Schema>,
        chunk: &Chunk,
    ) -> Result<(RecordBatch, ChunkNotes), Fault> {
        if self.tries_table(chunk) {
            if let Some(parsed) = self.parse_table(plan, schema, chunk) {
                return parsed;
            }
        }
        self.parse_records(plan, schema, chunk)
    }

    /// [`BatchParser::parse`] one record at a time, for any chunk.
    fn parse_records(
        &mut self,
        plan: &Plan,
        schema: &Arc<Schema>,
        chunk: &Chunk,
    ) -> Result<(RecordBatch, ChunkNotes), Fault> {
        let data = &chunk.data[..];
        let ncols = plan.columns.len();
        let mut cols = self.columns(plan, data.len());
        let mut row = RowNotes::default();
        let mut notes = ChunkNotes::default();
        let mut skip_header = chunk.index == 0 && plan.header;
        let (mut pos, mut rows) = (0, 0usize);
        while pos < data.len() {
            let start = pos;
            if plan.comment.is_some() && data.get(pos) == plan.comment.as_ref() {
                notes.comment_lines += 1;
                pos = next_line(data, pos);
                continue;
            }
            let read = self.tok.record(data, pos, &mut self.fields);
            let fault = match read {
                Ok(next) => {
                    pos = next;
                    if is_blank(&self.fields) {
                        notes.blank_lines += 1;
                        continue;
                    }
                    if skip_header {
                        skip_header = false;
                        continue;
                    }
                    self.fit_record(ncols, plan.pad_short_rows, || chunk.line_at(start))
                        .and_then(|()| check_utf8(plan, &data[start..pos], || chunk.line_at(start)))
                        .err()
                }
                Err(_) => {
                    pos = next_line(data, start);
                    Some(unterminated(chunk.line_at(start)))
                }
            };
            if let Some(error) = fault {
                match unreadable(plan, chunk, start, pos, ncols, error, &mut notes)? {
                    Flow::Footer => break,
                    Flow::Rejected => continue,
                }
            }
            let record = &data[start..pos];
            if let Some(error) =
                self.append_row(plan, data, &mut cols, &mut row, || chunk.line_at(start))
            {
                if !plan.skip_bad_rows {
                    return Err(with_hint(error).into());
                }
                notes.rejects.push(Reject::new(error, record));
                row.rejected_rows.push(rows as u32);
            }
            rows += 1;
        }
        let RowNotes {
            widened,
            rejected_rows,
        } = row;
        if !widened.is_empty() {
            return Err(Fault::Widen(widened));
        }
        let batch = self.finish_chunk(cols, plan, schema, rows, chunk)?;
        Ok((without_rows(batch, &rejected_rows)?, notes))
    }

    /// The batch of a chunk's columns; remembers their sizes for the next chunk.
    fn finish_chunk(
        &mut self,
        cols: Vec<Column>,
        plan: &Plan,
        schema: &Arc<Schema>,
        rows: usize,
        chunk: &Chunk,
    ) -> Result<RecordBatch, Fault> {
        self.hints = cols
            .iter()
            .map(|c| (c.builder.text_bytes(), rows))
            .collect();
        self.finish_batch(cols, plan, schema, rows)
            .map_err(|fault| match fault {
                // Text offsets are right by construction, so a text array fails on bad UTF-8.
                Fault::Error(e) => match std::str::from_utf8(&chunk.data) {
                    Err(bad) => Fault::NotUtf8 {
                        line: chunk.line_at(bad.valid_up_to()),
                    },
                    Ok(_) => Fault::Error(e),
                },
                other => other,
            })
    }

    /// Empty columns for a chunk of `bytes`, sized from the previous chunk.
    fn columns(&self, plan: &Plan, bytes: usize) -> Vec<Column> {
        let ncols = plan.columns.len();
        // Rough per-chunk sizes: avoids regrowing the builders.
        let est_rows = bytes / (ncols * 8).max(16) + 16;
        plan.columns
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let (rows, text) = match self.hints.get(j) {
                    Some(&(b, rows)) => (rows + rows / 8 + 16, b + b / 8),
                    None => (est_rows, bytes / ncols.max(1)),
                };
                Column::new(c.kind, c.decimal, c.source, rows, text)
            })
            .collect()
    }

    /// Appends the values of the record in `self.fields` to `cols`. A value that does not
    /// fit its inferred type widens the column (noted in `row`) and is read with the wider
    /// type; one that cannot fit at all is the returned error, with a null in its place.
    #[inline]
    fn append_row(
        &mut self,
        plan: &Plan,
        data: &[u8],
        cols: &mut [Column],
        row: &mut RowNotes,
        line: impl Fn() -> u64,
    ) -> Option<ConvertError> {
        let mut error = None;
        for (j, (col, f)) in cols.iter_mut().zip(&self.fields).enumerate() {
            let v = self.tok.value(data, f, &mut self.scratch);
            if v.is_empty() {
                // `""` is an empty string in a text column; an empty unquoted cell is null.
                if f.flags & QUOTED != 0 && col.kind == Kind::Utf8 {
                    col.builder.append(Kind::Utf8, b'.', v, plan);
                } else {
                    col.builder.append_null();
                }
                continue;
            }
            if plan.null_values.contains(v) {
                col.builder.append_null();
                continue;
            }
            let fits = !loses_zeros(col.guards_zeros, v)
                && col.builder.append(col.kind, col.decimal, v, plan);
            if !fits && !col.widen_to_fit(j, v, plan, &mut row.widened) {
                error.get_or_insert_with(|| invalid_value(line(), &plan.columns[j], col.kind));
                col.builder.append_null();
            }
        }
        error
    }

    /// Makes the record in `self.fields` have `ncols` fields, or says which
    /// line does not. Exports that end every data row with a delimiter the
    /// header lacks (`1;2;3;`) have an empty extra field: dropping it loses
    /// nothing. With `pad`, a short row gets empty (null) fields.
    #[inline]
    fn fit_record(
        &mut self,
        ncols: usize,
        pad: bool,
        line: impl Fn() -> u64,
    ) -> Result<(), ConvertError> {
        if self.fields.len() == ncols + 1
            && self.fields[ncols].start == self.fields[ncols].end
            && self.fields[ncols].flags == 0
        {
            self.fields.pop();
        }
        if self.fields.len() == ncols {
            return Ok(());
        }
        if pad && self.fields.len() < ncols {
            let end = self.fields.last().map_or(0, |f| f.end);
            let empty = Field {
                start: end,
                end,
                flags: 0,
            };
            self.fields.resize(ncols, empty);
            return Ok(());
        }
        let line = line();
        Err(ConvertError::new(
            ErrorKind::RaggedRow,
            format!(
                "line {line}: {} fields, expected {ncols} as in the header",
                self.fields.len()
            ),
        )
        .at_line(line))
    }

    /// The record batch of the builders' arrays.
    fn finish_batch(
        &mut self,
        cols: Vec<Column>,
        plan: &Plan,
        schema: &Arc<Schema>,
        rows: usize,
    ) -> Result<RecordBatch, Fault> {
        let arrays = cols
            .into_iter()
            .map(|c| {
                c.builder
                    .finish(c.kind, plan.utf8_lenient, &mut self.repaired)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let opts = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(schema.clone(), arrays, &opts)
            .map_err(|e| Fault::Error(e.into()))
    }
}

/// A column of the chunk being parsed: its builder and how its values are read.
struct Column {
    builder: Builder,
    kind: Kind,
    decimal: u8,
    source: TypeSource,
    /// A value like `007` met after the sample in an inferred numeric column would lose its
    /// zeros as a number, so it widens the column to text instead, as it would have had the
    /// sample seen it. A forced numeric type reads it as a number.
    guards_zeros: bool,
}

impl Column {
    fn new(kind: Kind, decimal: u8, source: TypeSource, rows: usize, text: usize) -> Column {
        Column {
            builder: Builder::new(kind, rows, text),
            kind,
            decimal,
            source,
            guards_zeros: matches!(kind, Kind::Int64 | Kind::Float64 | Kind::Decimal(..))
                && source != TypeSource::Forced,
        }
    }

    /// After `v` did not fit: widens an inferred column (column `j`) until it does, noting
    /// the change in `widened` (the chunk goes on being parsed with the wider type, so one
    /// pass finds every break of the chunk). False for a forced type or text: `v` cannot fit.
    fn widen_to_fit(
        &mut self,
        j: usize,
        v: &[u8],
        plan: &Plan,
        widened: &mut Vec<Widening>,
    ) -> bool {
        loop {
            if self.source == TypeSource::Forced || self.kind == Kind::Utf8 {
                return false;
            }
            let (k, d) = plan::widen(self.kind, self.decimal, v, plan);
            *self = Column::new(k, d, self.source, 0, 0);
            match widened.iter_mut().find(|(c, _, _)| *c == j) {
                Some(w) => (w.1, w.2) = (k, d),
                None => widened.push((j, k, d)),
            }
            let fits = !loses_zeros(self.guards_zeros, v) && self.builder.append(k, d, v, plan);
            if fits {
                return true;
            }
        }
    }
}

/// `v` would lose its leading zeros (`007`) as a number of a column that `guards` them (see
/// `Column::guards_zeros`): it widens the column instead.
fn loses_zeros(guards: bool, v: &[u8]) -> bool {
    guards && values::has_leading_zero(values::trim(v))
}

/// What the rows of a chunk changed besides their values.
#[derive(Default)]
struct RowNotes {
    /// Columns whose values did not fit their sampled type, with the wider type.
    widened: Vec<Widening>,
    /// Rows (of the batch) that were rejected, to be left out of it.
    rejected_rows: Vec<u32>,
}

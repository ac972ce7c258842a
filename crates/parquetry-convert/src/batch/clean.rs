//! The fast path of [`BatchParser::parse`], for the chunk that needs nothing but its values:
//! every record has the header's fields, no line is blank, a comment or a footer, and every
//! value fits its column. Records are split a block at a time into a table of cells, then
//! each column's values are typed in a loop of their own, the column's type decided once per
//! block instead of once per value.
//!
//! At the first thing it does not handle (a ragged record, a value that would widen its
//! column or be rejected, ...) it gives up, and the chunk is read record by record from its
//! start: that path gives the same batch for a clean chunk and everything else for the rest
//! (errors with their lines, widenings, rejects, footers). Nothing the fast path did is kept.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema;

use super::{loses_zeros, BatchParser, Column};
use crate::columns::{parse_date, parse_ts, Builder, Prim};
use crate::field_table::Cell;
use crate::input::Chunk;
use crate::plan::{Kind, NullSet, Plan};
use crate::rejects::ChunkNotes;
use crate::tokenize::{is_blank, Tokenizer};
use crate::values;
use crate::write::Fault;

/// Cells tabled at once: the table (8 bytes a cell) and the text it points into stay in the
/// core's first-level cache while each column is typed (80 rows of the benchmark file, 21 KB;
/// 4,096 cells measured 3–7 % slower in the parse stage, 512 the same as 1,024).
const TABLE_CELLS: usize = 1024;

/// Chunks in a row the fast path gave up on before a parser stops trying it (a file whose
/// every chunk holds a rejected row would otherwise be read twice); it tries again every
/// [`RETRY_EVERY`] chunks.
const MAX_MISSES: u32 = 2;
const RETRY_EVERY: u64 = 16;

/// What typing a value needs besides its column.
struct Values<'a> {
    data: &'a [u8],
    tok: &'a Tokenizer,
    nulls: &'a NullSet,
}

impl<'a> Values<'a> {
    /// The bytes of a cell, its quotes removed when needed.
    #[inline]
    fn of<'s>(&self, cell: Cell, scratch: &'s mut Vec<u8>) -> &'s [u8]
    where
        'a: 's,
    {
        self.tok
            .bytes(&self.data[cell.range()], cell.complex(), scratch)
    }
}

impl BatchParser {
    /// Whether to try the fast path on `chunk`.
    pub(super) fn tries_table(&self, chunk: &Chunk) -> bool {
        self.table.is_some()
            && (self.table_misses < MAX_MISSES || chunk.index.is_multiple_of(RETRY_EVERY))
    }

    /// The batch of `chunk` read through the table, or `None` when the chunk needs the
    /// record-by-record path (see the module docs).
    pub(super) fn parse_table(
        &mut self,
        plan: &Plan,
        schema: &Arc<Schema>,
        chunk: &Chunk,
    ) -> Option<Result<(RecordBatch, ChunkNotes), Fault>> {
        let result = self.try_table(plan, schema, chunk);
        self.table_misses = match result {
            Some(_) => 0,
            None => self.table_misses.saturating_add(1),
        };
        result
    }

    fn try_table(
        &mut self,
        plan: &Plan,
        schema: &Arc<Schema>,
        chunk: &Chunk,
    ) -> Option<Result<(RecordBatch, ChunkNotes), Fault>> {
        // Each row's own UTF-8 check decides whether it is rejected.
        if plan.skip_bad_rows && plan.utf8_forced {
            return None;
        }
        let table = self.table.as_ref()?;
        let data = &chunk.data[..];
        let ncols = plan.columns.len();
        let mut pos = 0;
        if chunk.index == 0 && plan.header {
            let comment = plan.comment.is_some() && data.first() == plan.comment.as_ref();
            pos = self.tok.record(data, 0, &mut self.fields).ok()?;
            if comment || is_blank(&self.fields) {
                return None;
            }
        }
        let mut cols = self.columns(plan, data.len());
        let values = Values {
            data,
            tok: &self.tok,
            nulls: &plan.null_values,
        };
        let max_rows = (TABLE_CELLS / ncols.max(1)).max(1);
        let mut rows = 0;
        while pos < data.len() {
            pos = table.rows(data, pos, ncols, max_rows, &mut self.cells)?;
            for (j, col) in cols.iter_mut().enumerate() {
                let cells = self.cells[j..].iter().step_by(ncols).copied();
                type_column(col, cells, &values, plan, &mut self.scratch)?;
            }
            rows += self.cells.len() / ncols;
        }
        Some(
            self.finish_chunk(cols, plan, schema, rows, chunk)
                .map(|batch| (batch, ChunkNotes::default())),
        )
    }
}

/// Appends the values of `cells` to `col`; `None` at the first one that does not fit as it
/// is (it would widen the column or be an error).
fn type_column(
    col: &mut Column,
    cells: impl Iterator<Item = Cell>,
    values: &Values,
    plan: &Plan,
    scratch: &mut Vec<u8>,
) -> Option<()> {
    let (decimal, guards) = (col.decimal, col.guards_zeros);
    match (&mut col.builder, col.kind) {
        (Builder::Text(text), _) => {
            for cell in cells {
                let v = values.of(cell, scratch);
                // `""` is an empty string; an empty unquoted cell is null.
                if (v.is_empty() && !cell.quoted()) || values.nulls.contains(v) {
                    text.push_null();
                } else if !text.push(v) {
                    return None;
                }
            }
            Some(())
        }
        (Builder::Int(b), _) => fill(b, cells, values, guards, scratch, |v| {
            values::parse_i64(v, decimal)
        }),
        (Builder::Float(b), _) => fill(b, cells, values, guards, scratch, |v| {
            values::parse_f64(v, decimal)
        }),
        (Builder::Bool(b), _) => fill(b, cells, values, guards, scratch, values::parse_bool),
        (Builder::Date(b), Kind::Date(fmt)) => fill(b, cells, values, guards, scratch, |v| {
            parse_date(v, fmt, plan)
        }),
        (Builder::Ts(b), Kind::Timestamp { fmt, utc }) => {
            fill(b, cells, values, guards, scratch, |v| {
                parse_ts(v, fmt, utc, plan)
            })
        }
        (Builder::Dec(b), Kind::Decimal(p, s)) => fill(b, cells, values, guards, scratch, |v| {
            values::parse_decimal(v, p, s, decimal)
        }),
        _ => None,
    }
}

/// [`type_column`] for a fixed-width column: an empty cell or a null token is null, and a
/// value with a leading zero in a column that `guards` them would widen it.
#[inline(always)]
fn fill<T: Default>(
    column: &mut Prim<T>,
    cells: impl Iterator<Item = Cell>,
    values: &Values,
    guards: bool,
    scratch: &mut Vec<u8>,
    parse: impl Fn(&[u8]) -> Option<T>,
) -> Option<()> {
    for cell in cells {
        let v = values.of(cell, scratch);
        if v.is_empty() || values.nulls.contains(v) {
            column.push_null();
            continue;
        }
        if loses_zeros(guards, v) {
            return None;
        }
        column.push(parse(v)?);
    }
    Some(())
}

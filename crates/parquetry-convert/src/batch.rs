//! Turns one chunk of records into an Arrow `RecordBatch` following the plan.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_buffer::{Buffer, NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::Schema;

use crate::bad_rows::{
    check_utf8, invalid_value, next_line, unreadable, unterminated, with_hint, without_rows, Flow,
};
use crate::error::{ConvertError, ErrorKind};
use crate::input::{count_lines, Chunk};
use crate::plan::{self, DateFmt, Kind, Plan, TsFmt};
use crate::rejects::{ChunkNotes, Reject};
use crate::report::TypeSource;
use crate::tokenize::{is_blank, Field, Tokenizer, QUOTED};
use crate::values;
use crate::write::{Fault, Widening};

/// Text column built straight into Arrow buffers (no per-value `&str` check: the chunk was
/// validated as UTF-8 as a whole and fields are cut at ASCII bytes).
struct TextBuilder {
    offsets: Vec<i32>,
    values: Vec<u8>,
    nulls: NullBufferBuilder,
}

enum Builder {
    Text(TextBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
    Dec(Decimal128Builder),
}

impl Builder {
    fn new(kind: Kind, rows: usize, bytes: usize) -> Builder {
        match kind {
            Kind::Utf8 => {
                let mut offsets = Vec::with_capacity(rows + 1);
                offsets.push(0);
                Builder::Text(TextBuilder {
                    offsets,
                    values: Vec::with_capacity(bytes),
                    nulls: NullBufferBuilder::new(rows),
                })
            }
            Kind::Int64 => Builder::Int(Int64Builder::with_capacity(rows)),
            Kind::Float64 => Builder::Float(Float64Builder::with_capacity(rows)),
            Kind::Boolean => Builder::Bool(BooleanBuilder::with_capacity(rows)),
            Kind::Date(_) => Builder::Date(Date32Builder::with_capacity(rows)),
            Kind::Timestamp { .. } => Builder::Ts(TimestampMicrosecondBuilder::with_capacity(rows)),
            Kind::Decimal(..) => Builder::Dec(Decimal128Builder::with_capacity(rows)),
        }
    }

    /// Bytes of text held so far (0 for other types).
    fn text_bytes(&self) -> usize {
        match self {
            Builder::Text(t) => t.values.len(),
            _ => 0,
        }
    }

    fn append_null(&mut self) {
        match self {
            Builder::Text(t) => {
                t.offsets.push(t.values.len() as i32);
                t.nulls.append_null();
            }
            Builder::Int(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Ts(b) => b.append_null(),
            Builder::Dec(b) => b.append_null(),
        }
    }

    /// Appends a non-null value; false when it is not a value of `kind` (numbers read with
    /// the `decimal` separator).
    fn append(&mut self, kind: Kind, decimal: u8, v: &[u8], plan: &Plan) -> bool {
        match self {
            Builder::Text(t) => {
                t.values.extend_from_slice(v);
                match i32::try_from(t.values.len()) {
                    Ok(end) => t.offsets.push(end),
                    Err(_) => return false,
                }
                t.nulls.append_non_null();
                true
            }
            Builder::Int(b) => values::parse_i64(v, decimal)
                .map(|x| b.append_value(x))
                .is_some(),
            Builder::Float(b) => values::parse_f64(v, decimal)
                .map(|x| b.append_value(x))
                .is_some(),
            Builder::Bool(b) => values::parse_bool(v).map(|x| b.append_value(x)).is_some(),
            Builder::Date(b) => {
                let Kind::Date(fmt) = kind else { return false };
                parse_date(v, fmt, plan)
                    .map(|x| b.append_value(x))
                    .is_some()
            }
            Builder::Ts(b) => {
                let Kind::Timestamp { fmt, utc } = kind else {
                    return false;
                };
                parse_ts(v, fmt, utc, plan)
                    .map(|x| b.append_value(x))
                    .is_some()
            }
            Builder::Dec(b) => {
                let Kind::Decimal(p, s) = kind else {
                    return false;
                };
                values::parse_decimal(v, p, s, decimal)
                    .map(|x| b.append_value(x))
                    .is_some()
            }
        }
    }

    /// The Arrow array. With `lenient`, text values that are not UTF-8 are read as
    /// Windows-1252 one by one, counted in `repaired`.
    fn finish(
        self,
        kind: Kind,
        lenient: bool,
        repaired: &mut u64,
    ) -> Result<ArrayRef, ConvertError> {
        Ok(match self {
            Builder::Text(mut t) => {
                // Both buffers are reference-counted: keeping them costs nothing and lets the
                // rare invalid batch be repaired without a second UTF-8 check of every batch.
                let offsets = OffsetBuffer::new(ScalarBuffer::from(t.offsets));
                let values = Buffer::from_vec(t.values);
                let nulls = t.nulls.finish();
                match StringArray::try_new(offsets.clone(), values.clone(), nulls.clone()) {
                    Ok(a) => Arc::new(a),
                    Err(_) if lenient => {
                        let (offsets, values) = repair_text(&offsets, &values, repaired);
                        Arc::new(StringArray::try_new(offsets, values, nulls)?)
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Builder::Int(mut b) => Arc::new(b.finish()),
            Builder::Float(mut b) => Arc::new(b.finish()),
            Builder::Bool(mut b) => Arc::new(b.finish()),
            Builder::Date(mut b) => Arc::new(b.finish()),
            Builder::Ts(mut b) => {
                let a = b.finish();
                Arc::new(match kind {
                    Kind::Timestamp { utc: true, .. } => a.with_timezone("UTC"),
                    _ => a,
                })
            }
            Builder::Dec(mut b) => {
                let Kind::Decimal(p, s) = kind else {
                    unreachable!("decimal builder for {kind:?}")
                };
                Arc::new(b.finish().with_precision_and_scale(p, s)?)
            }
        })
    }
}

/// Rebuilds a text column, reading the bytes of each value that are not UTF-8 as
/// Windows-1252.
fn repair_text(
    offsets: &OffsetBuffer<i32>,
    values: &[u8],
    repaired: &mut u64,
) -> (OffsetBuffer<i32>, Buffer) {
    let mut out = Vec::with_capacity(values.len() + 64);
    let mut ends = Vec::with_capacity(offsets.len());
    ends.push(0i32);
    for w in offsets.windows(2) {
        let v = &values[w[0] as usize..w[1] as usize];
        if std::str::from_utf8(v).is_ok() {
            out.extend_from_slice(v);
        } else {
            // The same repair the sample got in `detect`, so both read a value alike.
            out.extend_from_slice(&crate::input::repair_utf8(v).0);
            *repaired += 1;
        }
        // Growth is at most 3x of a few values; a batch is far below 2 GiB of text.
        ends.push(i32::try_from(out.len()).unwrap_or(i32::MAX));
    }
    (
        OffsetBuffer::new(ScalarBuffer::from(ends)),
        Buffer::from_vec(out),
    )
}

fn parse_date(v: &[u8], fmt: DateFmt, plan: &Plan) -> Option<i32> {
    match fmt {
        DateFmt::Iso => values::parse_iso_date(v),
        DateFmt::DayFirst => values::parse_slash_date(v, true),
        DateFmt::MonthFirst => values::parse_slash_date(v, false),
        DateFmt::Custom(i) => plan::custom_date(v, plan.date_formats.get(i as usize)?),
        DateFmt::Any => values::parse_iso_date(v)
            .or_else(|| {
                plan.date_formats
                    .iter()
                    .find_map(|f| plan::custom_date(v, f))
            })
            .or_else(|| values::parse_slash_date(v, true)),
    }
}

fn parse_ts(v: &[u8], fmt: TsFmt, utc: bool, plan: &Plan) -> Option<i64> {
    let iso = || match values::parse_iso_timestamp(v)? {
        // A forced type reads what it can: naive values in a UTC column are taken as UTC, and
        // values with offsets in a naive column are normalised to UTC.
        (us, _) if fmt == TsFmt::Any => Some(us),
        (us, None) if !utc => Some(us),
        (us, Some(_)) if utc => Some(us),
        _ => None,
    };
    match fmt {
        TsFmt::Iso => iso(),
        TsFmt::DayFirst => values::parse_slash_timestamp(v, true),
        TsFmt::MonthFirst => values::parse_slash_timestamp(v, false),
        TsFmt::Custom(i) => plan::custom_timestamp(v, plan.timestamp_formats.get(i as usize)?),
        TsFmt::Any => iso()
            .or_else(|| {
                plan.timestamp_formats
                    .iter()
                    .find(|f| plan::format_has_offset(f) == utc || !utc)
                    .and_then(|f| plan::custom_timestamp(v, f))
            })
            .or_else(|| values::parse_slash_timestamp(v, true)),
    }
}

/// Reusable state of one parsing thread.
pub(crate) struct BatchParser {
    tok: Tokenizer,
    fields: Vec<Field>,
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
        let data = &chunk.data[..];
        let ncols = plan.columns.len();
        let mut kinds: Vec<Kind> = plan.columns.iter().map(|c| c.kind).collect();
        let mut decimals: Vec<u8> = plan.columns.iter().map(|c| c.decimal).collect();
        let mut builders = self.builders(&kinds, data.len());
        let mut widened: Vec<Widening> = Vec::new();
        let mut notes = ChunkNotes::default();
        let mut rejected_rows: Vec<u32> = Vec::new();
        let mut skip_header = chunk.index == 0 && plan.header;
        let line_of = |start: usize| chunk.first_line + count_lines(&data[..start]);
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
                    self.fit_record(ncols, plan.pad_short_rows, || line_of(start))
                        .and_then(|()| check_utf8(plan, &data[start..pos], || line_of(start)))
                        .err()
                }
                Err(_) => {
                    pos = next_line(data, start);
                    Some(unterminated(line_of(start)))
                }
            };
            if let Some(error) = fault {
                match unreadable(plan, chunk, start, pos, ncols, error, &mut notes)? {
                    Flow::Footer => break,
                    Flow::Rejected => continue,
                }
            }
            let mut rejected = false;
            for j in 0..ncols {
                let f = self.fields[j];
                let v = self.tok.value(data, &f, &mut self.scratch);
                let quoted = f.flags & QUOTED != 0;
                if v.is_empty() {
                    // `""` is an empty string in a text column; an empty unquoted cell is null.
                    if quoted && kinds[j] == Kind::Utf8 {
                        builders[j].append(Kind::Utf8, b'.', v, plan);
                    } else {
                        builders[j].append_null();
                    }
                    continue;
                }
                if plan.null_values.contains(v) {
                    builders[j].append_null();
                    continue;
                }
                while loses_leading_zeros(kinds[j], plan.columns[j].source, v)
                    || !builders[j].append(kinds[j], decimals[j], v, plan)
                {
                    let col = &plan.columns[j];
                    if col.source == TypeSource::Forced || kinds[j] == Kind::Utf8 {
                        let error = invalid_value(line_of(start), col, kinds[j]);
                        if !plan.skip_bad_rows {
                            return Err(with_hint(error).into());
                        }
                        if !rejected {
                            notes.rejects.push(Reject::new(error, &data[start..pos]));
                        }
                        rejected = true;
                        builders[j].append_null();
                        break;
                    }
                    // Keep scanning with the wider type so one pass finds every break of the chunk.
                    let (k, d) = plan::widen(kinds[j], decimals[j], v, plan);
                    (kinds[j], decimals[j]) = (k, d);
                    builders[j] = Builder::new(k, 0, 0);
                    match widened.iter_mut().find(|(c, _, _)| *c == j) {
                        Some(w) => (w.1, w.2) = (k, d),
                        None => widened.push((j, k, d)),
                    }
                }
            }
            if rejected {
                rejected_rows.push(rows as u32);
            }
            rows += 1;
        }
        if !widened.is_empty() {
            return Err(Fault::Widen(widened));
        }
        self.hints = builders.iter().map(|b| (b.text_bytes(), rows)).collect();
        let batch = self
            .finish_batch(builders, &kinds, plan, schema, rows)
            .map_err(|fault| match fault {
                // Text offsets are right by construction, so a text array fails on bad UTF-8.
                Fault::Error(e) => match std::str::from_utf8(data) {
                    Err(bad) => Fault::NotUtf8 {
                        line: line_of(bad.valid_up_to()),
                    },
                    Ok(_) => Fault::Error(e),
                },
                other => other,
            })?;
        Ok((without_rows(batch, &rejected_rows)?, notes))
    }

    /// Empty builders for a chunk of `bytes`, sized from the previous chunk.
    fn builders(&self, kinds: &[Kind], bytes: usize) -> Vec<Builder> {
        let ncols = kinds.len();
        // Rough per-chunk sizes: avoids regrowing the builders.
        let est_rows = bytes / (ncols * 8).max(16) + 16;
        kinds
            .iter()
            .enumerate()
            .map(|(j, &k)| match self.hints.get(j) {
                Some(&(b, rows)) => Builder::new(k, rows + rows / 8 + 16, b + b / 8),
                None => Builder::new(k, est_rows, bytes / ncols.max(1)),
            })
            .collect()
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
        builders: Vec<Builder>,
        kinds: &[Kind],
        plan: &Plan,
        schema: &Arc<Schema>,
        rows: usize,
    ) -> Result<RecordBatch, Fault> {
        let arrays = builders
            .into_iter()
            .zip(kinds)
            .map(|(b, &k)| b.finish(k, plan.utf8_lenient, &mut self.repaired))
            .collect::<Result<Vec<_>, _>>()?;
        let opts = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(schema.clone(), arrays, &opts)
            .map_err(|e| Fault::Error(e.into()))
    }
}

/// True when `v` is a code like `007` met after the sample in an inferred numeric column:
/// reading it as a number would lose its zeros, so the column widens to text instead, as it
/// would have had the sample seen such a value. A forced numeric type reads it as a number.
#[inline]
fn loses_leading_zeros(kind: Kind, source: TypeSource, v: &[u8]) -> bool {
    matches!(kind, Kind::Int64 | Kind::Float64 | Kind::Decimal(..))
        && source != TypeSource::Forced
        && values::has_leading_zero(values::trim(v))
}

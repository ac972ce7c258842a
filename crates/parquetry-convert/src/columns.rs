//! The Arrow columns of one chunk, built value by value by [`crate::batch::BatchParser`].

use std::sync::Arc;

use arrow_array::types::{
    Date32Type, Decimal128Type, Float64Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::{ArrayRef, ArrowPrimitiveType, BooleanArray, PrimitiveArray, StringArray};
use arrow_buffer::{
    BooleanBuffer, BooleanBufferBuilder, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer,
};

use crate::error::ConvertError;
use crate::plan::{self, DateFmt, Kind, Plan, TsFmt};
use crate::values;

/// Text column built straight into Arrow buffers (no per-value `&str` check: the chunk was
/// validated as UTF-8 as a whole and fields are cut at ASCII bytes).
pub(crate) struct TextBuilder {
    offsets: Vec<i32>,
    values: Vec<u8>,
    nulls: Nulls,
}

/// Values of a fixed-width column in a plain `Vec`: a push per value, where Arrow's builders
/// also set a validity bit per value. Nulls are rare, so their rows are listed instead and
/// become the validity bitmap once, in [`Nulls::finish`].
pub(crate) struct Prim<T> {
    values: Vec<T>,
    nulls: Nulls,
}

impl TextBuilder {
    /// Appends a value; false when the column would pass Arrow's 2 GiB of text.
    #[inline]
    pub(crate) fn push(&mut self, v: &[u8]) -> bool {
        self.values.extend_from_slice(v);
        match i32::try_from(self.values.len()) {
            Ok(end) => self.offsets.push(end),
            Err(_) => return false,
        }
        true
    }

    pub(crate) fn push_null(&mut self) {
        self.nulls.rows.push(self.offsets.len() - 1);
        self.offsets.push(self.values.len() as i32);
    }
}

impl<T: Default> Prim<T> {
    fn with_capacity(rows: usize) -> Self {
        Prim {
            values: Vec::with_capacity(rows),
            nulls: Nulls::default(),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, v: T) {
        self.values.push(v);
    }

    pub(crate) fn push_null(&mut self) {
        self.nulls.rows.push(self.values.len());
        self.values.push(T::default());
    }

    /// The values and the validity bitmap, for an Arrow array.
    fn into_parts(self) -> (Vec<T>, Option<NullBuffer>) {
        let len = self.values.len();
        (self.values, self.nulls.finish(len))
    }
}

/// The rows of a column that are null.
#[derive(Default)]
pub(crate) struct Nulls {
    rows: Vec<usize>,
}

impl Nulls {
    /// The validity bitmap of `len` rows (none when no row is null, as Arrow's builders do).
    fn finish(self, len: usize) -> Option<NullBuffer> {
        if self.rows.is_empty() {
            return None;
        }
        let mut valid = BooleanBufferBuilder::new(len);
        valid.append_n(len, true);
        for row in self.rows {
            valid.set_bit(row, false);
        }
        Some(NullBuffer::new(valid.finish()))
    }
}

/// The column being built from one chunk, by type.
pub(crate) enum Builder {
    Text(TextBuilder),
    Int(Prim<i64>),
    Float(Prim<f64>),
    Bool(Prim<bool>),
    Date(Prim<i32>),
    Ts(Prim<i64>),
    Dec(Prim<i128>),
}

impl Builder {
    pub(crate) fn new(kind: Kind, rows: usize, bytes: usize) -> Builder {
        match kind {
            Kind::Utf8 => {
                let mut offsets = Vec::with_capacity(rows + 1);
                offsets.push(0);
                Builder::Text(TextBuilder {
                    offsets,
                    values: Vec::with_capacity(bytes),
                    nulls: Nulls::default(),
                })
            }
            Kind::Int64 => Builder::Int(Prim::with_capacity(rows)),
            Kind::Float64 => Builder::Float(Prim::with_capacity(rows)),
            Kind::Boolean => Builder::Bool(Prim::with_capacity(rows)),
            Kind::Date(_) => Builder::Date(Prim::with_capacity(rows)),
            Kind::Timestamp { .. } => Builder::Ts(Prim::with_capacity(rows)),
            Kind::Decimal(..) => Builder::Dec(Prim::with_capacity(rows)),
        }
    }

    /// Bytes of text held so far (0 for other types).
    pub(crate) fn text_bytes(&self) -> usize {
        match self {
            Builder::Text(t) => t.values.len(),
            _ => 0,
        }
    }

    pub(crate) fn append_null(&mut self) {
        match self {
            Builder::Text(t) => t.push_null(),
            Builder::Int(b) => b.push_null(),
            Builder::Float(b) => b.push_null(),
            Builder::Bool(b) => b.push_null(),
            Builder::Date(b) => b.push_null(),
            Builder::Ts(b) => b.push_null(),
            Builder::Dec(b) => b.push_null(),
        }
    }

    /// Appends a non-null value; false when it is not a value of `kind` (numbers read with
    /// the `decimal` separator).
    #[inline]
    pub(crate) fn append(&mut self, kind: Kind, decimal: u8, v: &[u8], plan: &Plan) -> bool {
        match self {
            Builder::Text(t) => t.push(v),
            Builder::Int(b) => values::parse_i64(v, decimal).map(|x| b.push(x)).is_some(),
            Builder::Float(b) => values::parse_f64(v, decimal).map(|x| b.push(x)).is_some(),
            Builder::Bool(b) => values::parse_bool(v).map(|x| b.push(x)).is_some(),
            Builder::Date(b) => {
                let Kind::Date(fmt) = kind else { return false };
                parse_date(v, fmt, plan).map(|x| b.push(x)).is_some()
            }
            Builder::Ts(b) => {
                let Kind::Timestamp { fmt, utc } = kind else {
                    return false;
                };
                parse_ts(v, fmt, utc, plan).map(|x| b.push(x)).is_some()
            }
            Builder::Dec(b) => {
                let Kind::Decimal(p, s) = kind else {
                    return false;
                };
                values::parse_decimal(v, p, s, decimal)
                    .map(|x| b.push(x))
                    .is_some()
            }
        }
    }

    /// The Arrow array. With `lenient`, text values that are not UTF-8 are read as
    /// Windows-1252 one by one, counted in `repaired`.
    pub(crate) fn finish(
        self,
        kind: Kind,
        lenient: bool,
        repaired: &mut u64,
    ) -> Result<ArrayRef, ConvertError> {
        Ok(match self {
            Builder::Text(t) => {
                // Both buffers are reference-counted: keeping them costs nothing and lets the
                // rare invalid batch be repaired without a second UTF-8 check of every batch.
                let nulls = t.nulls.finish(t.offsets.len() - 1);
                let offsets = OffsetBuffer::new(ScalarBuffer::from(t.offsets));
                let values = Buffer::from_vec(t.values);
                match StringArray::try_new(offsets.clone(), values.clone(), nulls.clone()) {
                    Ok(a) => Arc::new(a),
                    Err(_) if lenient => {
                        let (offsets, values) = repair_text(&offsets, &values, repaired);
                        Arc::new(StringArray::try_new(offsets, values, nulls)?)
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Builder::Int(b) => Arc::new(primitive::<Int64Type>(b)),
            Builder::Float(b) => Arc::new(primitive::<Float64Type>(b)),
            Builder::Bool(b) => {
                let (values, nulls) = b.into_parts();
                Arc::new(BooleanArray::new(BooleanBuffer::from_iter(values), nulls))
            }
            Builder::Date(b) => Arc::new(primitive::<Date32Type>(b)),
            Builder::Ts(b) => {
                let a = primitive::<TimestampMicrosecondType>(b);
                Arc::new(match kind {
                    Kind::Timestamp { utc: true, .. } => a.with_timezone("UTC"),
                    _ => a,
                })
            }
            Builder::Dec(b) => {
                let Kind::Decimal(p, s) = kind else {
                    unreachable!("decimal builder for {kind:?}")
                };
                Arc::new(primitive::<Decimal128Type>(b).with_precision_and_scale(p, s)?)
            }
        })
    }
}

/// The Arrow array of a fixed-width column: its `Vec` becomes the values buffer as it is.
fn primitive<A: ArrowPrimitiveType>(b: Prim<A::Native>) -> PrimitiveArray<A> {
    let (values, nulls) = b.into_parts();
    PrimitiveArray::new(ScalarBuffer::from(values), nulls)
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

pub(crate) fn parse_date(v: &[u8], fmt: DateFmt, plan: &Plan) -> Option<i32> {
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

pub(crate) fn parse_ts(v: &[u8], fmt: TsFmt, utc: bool, plan: &Plan) -> Option<i64> {
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

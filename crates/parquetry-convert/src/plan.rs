//! The conversion plan: dialect plus one target type per column, and the type lattice used to
//! classify sampled values and to widen a column when a later value does not fit.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, TimeUnit};

use crate::input::InputCompression;
use crate::options::ColumnType;
use crate::report::TypeSource;
use crate::values;

/// How a date column is written in the CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateFmt {
    Iso,
    DayFirst,
    MonthFirst,
    /// Index into the user's date formats.
    Custom(u8),
    /// Forced type: try ISO, the user's formats, then day-first.
    Any,
}

/// How a timestamp column is written in the CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TsFmt {
    Iso,
    /// `dd/mm/yyyy hh:mm[:ss]`.
    DayFirst,
    /// `mm/dd/yyyy hh:mm[:ss]`.
    MonthFirst,
    Custom(u8),
    /// Forced type: ISO, the user's formats, then day-first.
    Any,
}

/// The target type of a column and how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Utf8,
    Int64,
    Float64,
    Boolean,
    Date(DateFmt),
    /// `utc`: values carry offsets and are normalised to UTC.
    Timestamp {
        fmt: TsFmt,
        utc: bool,
    },
    Decimal(u8, i8),
}

impl Kind {
    pub(crate) fn data_type(self) -> DataType {
        match self {
            Kind::Utf8 => DataType::Utf8,
            Kind::Int64 => DataType::Int64,
            Kind::Float64 => DataType::Float64,
            Kind::Boolean => DataType::Boolean,
            Kind::Date(_) => DataType::Date32,
            Kind::Timestamp { utc: false, .. } => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::Timestamp { utc: true, .. } => {
                DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
            }
            Kind::Decimal(p, s) => DataType::Decimal128(p, s),
        }
    }

    pub(crate) fn forced(t: ColumnType) -> Kind {
        match t {
            ColumnType::Utf8 => Kind::Utf8,
            ColumnType::Int64 => Kind::Int64,
            ColumnType::Float64 => Kind::Float64,
            ColumnType::Boolean => Kind::Boolean,
            ColumnType::Date => Kind::Date(DateFmt::Any),
            ColumnType::Timestamp => Kind::Timestamp {
                fmt: TsFmt::Any,
                utc: false,
            },
            ColumnType::TimestampTz => Kind::Timestamp {
                fmt: TsFmt::Any,
                utc: true,
            },
            ColumnType::Decimal { precision, scale } => Kind::Decimal(precision, scale),
        }
    }
}

/// One column of the plan.
#[derive(Debug, Clone)]
pub(crate) struct ColumnPlan {
    pub name: String,
    pub kind: Kind,
    /// Decimal separator of this column's numbers (files can mix conventions per column).
    pub decimal: u8,
    pub source: TypeSource,
    /// Why the type is not what the values first suggest, for the report.
    pub note: Option<String>,
    /// Nearly every sampled value is distinct: dictionary encoding would only be tried and
    /// abandoned in every row group, so it is switched off for this column.
    pub mostly_unique: bool,
}

/// Everything a conversion pass needs to know before reading the file.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub delimiter: u8,
    pub quote: u8,
    /// `None` = doubled quotes.
    pub escape: Option<u8>,
    pub header: bool,
    /// Lines the reader drops before the table: an Excel `sep=X` first line, then titles,
    /// notes, leading comments and blank lines (counted in line numbers all the same).
    pub skip_lines: u64,
    /// The lines before the table, without the `sep=` line, for the report.
    pub lines_before_table: u64,
    /// The first non-blank line skipped before the table, shortened, for the report.
    pub first_skipped: Option<String>,
    /// Lines that start with this byte are comments, skipped anywhere.
    pub comment: Option<u8>,
    /// A lone CR ends a line (CR-only or mixed files); the reader rewrites line ends to LF.
    pub cr_line_ends: bool,
    /// `on_error=skip`: a row that cannot be read is rejected rather than failing the pass.
    pub skip_bad_rows: bool,
    /// `ragged=pad`: short rows get nulls for their missing fields.
    pub pad_short_rows: bool,
    pub windows_1252: bool,
    pub utf8_forced: bool,
    /// Auto-detected encoding and the file has shown multi-byte UTF-8: it is UTF-8, and a
    /// value that is not (a row pasted from a Windows-1252 source) is read as Windows-1252
    /// on its own instead of re-decoding the whole file.
    pub utf8_lenient: bool,
    /// The file's decimal separator for the report: `,` when any column uses a decimal comma.
    pub decimal: u8,
    /// The user set `decimal_separator`: no column may read numbers another way.
    pub decimal_forced: bool,
    pub input_compression: InputCompression,
    pub columns: Vec<ColumnPlan>,
    pub null_values: NullSet,
    pub date_formats: Vec<String>,
    pub timestamp_formats: Vec<String>,
    /// Why the sample had to be cut inside its first records, for the report.
    pub sample_cut: Option<String>,
}

/// The null tokens, with a cheap first-byte/length filter: most cells are not null tokens,
/// and comparing every cell with every token showed up in profiles.
#[derive(Debug, Clone)]
pub(crate) struct NullSet {
    tokens: Vec<Vec<u8>>,
    first: [bool; 256],
    max_len: usize,
}

impl NullSet {
    pub(crate) fn new(tokens: Vec<Vec<u8>>) -> NullSet {
        let mut first = [false; 256];
        let mut max_len = 0;
        for t in &tokens {
            if let Some(&b) = t.first() {
                first[b as usize] = true;
            }
            max_len = max_len.max(t.len());
        }
        NullSet {
            tokens,
            first,
            max_len,
        }
    }

    /// True when `v` is one of the tokens (an empty `v` is handled by the caller).
    #[inline]
    pub(crate) fn contains(&self, v: &[u8]) -> bool {
        match v.first() {
            Some(&b) if v.len() <= self.max_len && self.first[b as usize] => {
                self.tokens.iter().any(|t| t.as_slice() == v)
            }
            _ => false,
        }
    }
}

impl Plan {
    pub(crate) fn schema(&self) -> Arc<Schema> {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(&c.name, c.kind.data_type(), true))
                .collect::<Vec<_>>(),
        ))
    }
}

// Candidate bits: what a single value could be. A column's type is chosen from the
// intersection of its values' bits, so one odd value is enough to rule a type out.
pub(crate) const BOOL: u64 = 1;
pub(crate) const INT: u64 = 1 << 1;
pub(crate) const FLOAT: u64 = 1 << 2;
pub(crate) const DATE_ISO: u64 = 1 << 3;
pub(crate) const DATE_DMY: u64 = 1 << 4;
pub(crate) const DATE_MDY: u64 = 1 << 5;
pub(crate) const TS_NAIVE: u64 = 1 << 6;
pub(crate) const TS_UTC: u64 = 1 << 7;
/// An integer of at most 38 digits: Decimal128(38, 0) keeps every digit of those beyond Int64.
pub(crate) const BIG_INT: u64 = 1 << 8;
/// A slash date with a time of day (or a bare slash date, midnight), day or month first.
pub(crate) const TS_DMY: u64 = 1 << 9;
pub(crate) const TS_MDY: u64 = 1 << 10;
const DATE_CUSTOM0: u32 = 16;
const TS_CUSTOM0: u32 = 32;
/// At most this many user formats of each kind take part in inference.
pub(crate) const MAX_FORMATS: usize = 16;
pub(crate) const ALL: u64 = u64::MAX;
/// The built-in date and timestamp types.
const DATES_AND_TIMES: u64 = DATE_ISO | DATE_DMY | DATE_MDY | TS_NAIVE | TS_UTC | TS_DMY | TS_MDY;

/// Parses a date with a user format.
pub(crate) fn custom_date(v: &[u8], fmt: &str) -> Option<i32> {
    let s = std::str::from_utf8(values::trim(v)).ok()?;
    let d = chrono::NaiveDate::parse_from_str(s, fmt).ok()?;
    values::days_from_civil(
        chrono::Datelike::year(&d) as i64,
        chrono::Datelike::month(&d),
        chrono::Datelike::day(&d),
    )
}

/// True when a user timestamp format reads an offset.
pub(crate) fn format_has_offset(fmt: &str) -> bool {
    fmt.contains("%z") || fmt.contains("%:z") || fmt.contains("%#z") || fmt.contains("%::z")
}

/// Parses a timestamp with a user format; microseconds since the epoch (UTC when the format
/// has an offset).
pub(crate) fn custom_timestamp(v: &[u8], fmt: &str) -> Option<i64> {
    let s = std::str::from_utf8(values::trim(v)).ok()?;
    if format_has_offset(fmt) {
        let t = chrono::DateTime::parse_from_str(s, fmt).ok()?;
        Some(t.timestamp_micros())
    } else {
        let t = chrono::NaiveDateTime::parse_from_str(s, fmt).ok()?;
        Some(t.and_utc().timestamp_micros())
    }
}

/// Everything a value could be.
pub(crate) fn classify(
    v: &[u8],
    decimal: u8,
    date_formats: &[String],
    ts_formats: &[String],
) -> u64 {
    classify_among(v, decimal, (date_formats, ts_formats), ALL)
}

/// What a value could be of the types in `possible`: `classify(…) & possible`, without
/// trying the parsers of the other types. Detection passes what a column's values so far
/// allow; a column is text after its first word, and a float column's values no longer go
/// through the timestamp parsers.
pub(crate) fn classify_among(
    v: &[u8],
    decimal: u8,
    (date_formats, ts_formats): (&[String], &[String]),
    possible: u64,
) -> u64 {
    let t = values::trim(v);
    let Some(&first) = t.first() else { return 0 };
    let mut bits = 0;
    let numeric = first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.' | b',');
    if numeric && possible & (INT | FLOAT | BIG_INT) != 0 {
        if values::has_leading_zero(t) {
            // `007`, `01310-100`: codes whose zeros matter; a number would lose them.
        } else if values::parse_i64(t, decimal).is_some() {
            bits |= INT | FLOAT | BIG_INT;
        } else if values::is_big_int(t) {
            // 20-digit case numbers, 44-digit NF-e keys: as floats two keys would collide.
            if values::parse_decimal(t, 38, 0, decimal).is_some() {
                bits |= BIG_INT;
            }
        } else if values::parse_f64(t, decimal).is_some() {
            bits |= FLOAT;
        }
    }
    if numeric && possible & DATES_AND_TIMES != 0 {
        if t.len() >= 10 && t[4] == b'-' {
            match values::parse_iso_timestamp(t) {
                Some((_, None)) if t.len() == 10 => bits |= DATE_ISO | TS_NAIVE,
                Some((_, None)) => bits |= TS_NAIVE,
                Some((_, Some(_))) => bits |= TS_UTC,
                None => {}
            }
        } else if let Some((a, b, y)) = values::split_slash_date(t) {
            // A date is also a timestamp at midnight, so a column mixing dates and date-times
            // becomes a timestamp column.
            if values::days_from_civil(y, b, a).is_some() {
                bits |= DATE_DMY | TS_DMY;
            }
            if values::days_from_civil(y, a, b).is_some() {
                bits |= DATE_MDY | TS_MDY;
            }
        } else if t.len() > 10 {
            if values::parse_slash_timestamp(t, true).is_some() {
                bits |= TS_DMY;
            }
            if values::parse_slash_timestamp(t, false).is_some() {
                bits |= TS_MDY;
            }
        }
    }
    if !numeric && possible & BOOL != 0 && values::parse_bool(t).is_some() {
        bits |= BOOL;
    }
    for (i, f) in date_formats.iter().take(MAX_FORMATS).enumerate() {
        let bit = 1 << (DATE_CUSTOM0 + i as u32);
        if possible & bit != 0 && custom_date(t, f).is_some() {
            bits |= bit;
        }
    }
    for (i, f) in ts_formats.iter().take(MAX_FORMATS).enumerate() {
        let bit = 1 << (TS_CUSTOM0 + i as u32);
        if possible & bit != 0 && custom_timestamp(t, f).is_some() {
            bits |= bit;
        }
    }
    bits & possible
}

/// The most specific type allowed by a column's candidate bits.
pub(crate) fn choose(bits: u64, ts_formats: &[String]) -> Kind {
    // Formats the user named win over everything else (`20240131` is a date, not an integer,
    // when the user says `%Y%m%d`).
    let custom_dates = (bits >> DATE_CUSTOM0) & 0xffff;
    if custom_dates != 0 {
        return Kind::Date(DateFmt::Custom(custom_dates.trailing_zeros() as u8));
    }
    let custom_ts = (bits >> TS_CUSTOM0) & 0xffff;
    if custom_ts != 0 {
        let i = custom_ts.trailing_zeros() as u8;
        let utc = format_has_offset(&ts_formats[i as usize]);
        return Kind::Timestamp {
            fmt: TsFmt::Custom(i),
            utc,
        };
    }
    if bits & BOOL != 0 {
        return Kind::Boolean;
    }
    if bits & INT != 0 {
        return Kind::Int64;
    }
    if bits & BIG_INT != 0 {
        return Kind::Decimal(38, 0);
    }
    if bits & FLOAT != 0 {
        return Kind::Float64;
    }
    if bits & DATE_ISO != 0 {
        return Kind::Date(DateFmt::Iso);
    }
    // A slash date is only a date when the column says which number is the day.
    match (bits & DATE_DMY != 0, bits & DATE_MDY != 0) {
        (true, false) => return Kind::Date(DateFmt::DayFirst),
        (false, true) => return Kind::Date(DateFmt::MonthFirst),
        _ => {}
    }
    let fmt = match (bits & TS_DMY != 0, bits & TS_MDY != 0) {
        (true, false) => Some(TsFmt::DayFirst),
        (false, true) => Some(TsFmt::MonthFirst),
        _ => None,
    };
    if let Some(fmt) = fmt {
        return Kind::Timestamp { fmt, utc: false };
    }
    if bits & TS_NAIVE != 0 {
        return Kind::Timestamp {
            fmt: TsFmt::Iso,
            utc: false,
        };
    }
    if bits & TS_UTC != 0 {
        return Kind::Timestamp {
            fmt: TsFmt::Iso,
            utc: true,
        };
    }
    Kind::Utf8
}

/// Bits of the types a column of `kind` may widen to without losing earlier values.
fn wider(kind: Kind) -> u64 {
    match kind {
        // Whole numbers widen without losing digits; to Float64 only for a decimal point.
        Kind::Int64 => INT | FLOAT | BIG_INT,
        Kind::Date(DateFmt::Iso) => DATE_ISO | TS_NAIVE,
        Kind::Date(DateFmt::DayFirst) => DATE_DMY | TS_DMY,
        Kind::Date(DateFmt::MonthFirst) => DATE_MDY | TS_MDY,
        _ => 0,
    }
}

/// The type (and decimal separator) a sampled column of `kind` read with `decimal` widens to
/// when `value` does not fit.
pub(crate) fn widen(kind: Kind, decimal: u8, value: &[u8], plan: &Plan) -> (Kind, u8) {
    let (dates, ts) = (&plan.date_formats, &plan.timestamp_formats);
    let allowed = classify(value, decimal, dates, ts) & wider(kind);
    if allowed != 0 {
        return (choose(allowed, ts), decimal);
    }
    // A late `3,5` in an integer column of a file not delimited by commas is a decimal comma.
    // The column's integers held no dot (with `.` they could not), so they read the same way.
    if kind == Kind::Int64
        && decimal == b'.'
        && !plan.decimal_forced
        && plan.delimiter != b','
        && value.contains(&b',')
        && classify(value, b',', dates, ts) & FLOAT != 0
    {
        return (Kind::Float64, b',');
    }
    (Kind::Utf8, decimal)
}

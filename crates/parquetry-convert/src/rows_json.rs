//! Typed values as JSON, for a preview of rows and for the column profile of
//! the report: both show a value the same way.
//!
//! | Arrow type | JSON |
//! |---|---|
//! | Int64 (any integer) | number |
//! | Float64 | number; NaN and ±infinity as `null` (JSON has no such numbers) |
//! | Boolean | `true` / `false` |
//! | Date32 | `"YYYY-MM-DD"` |
//! | Timestamp | RFC 3339: `"2024-01-31T08:00:00.123Z"` with a time zone, no offset without |
//! | Decimal128 | string with the column's scale: `"12.50"` (no float rounding) |
//! | Utf8 | string, cut after a number of characters with `…` |
//! | null, or a type not listed | `null` |

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, DecimalType, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema, TimeUnit};
use chrono::{DateTime, NaiveDate, SecondsFormat};
use serde::Serialize;
use serde_json::Value;

/// Characters of a text value a preview row shows; longer values end in `…`.
/// A preview is for looking at rows: 1,000 rows of multi-megabyte text would
/// make an answer nobody reads.
pub const PREVIEW_TEXT_CHARS: usize = 1024;

/// Rows of a record batch as JSON, in column order. serde_json's objects do
/// not keep key order here, so the columns are listed once and each row is an
/// array with one value per column, in the same order:
///
/// ```json
/// {"columns": [{"name": "id", "arrow_type": "Int64"}, {"name": "day", "arrow_type": "Date32"}],
///  "rows": [[1, "2024-01-31"], [2, null]]}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonRows {
    pub columns: Vec<JsonColumn>,
    pub rows: Vec<Vec<Value>>,
}

/// A column of [`JsonRows`]: its name and Arrow type as the report writes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonColumn {
    pub name: String,
    pub arrow_type: String,
}

/// The first `limit` rows of `batch` as JSON (see [`JsonRows`] for the shape
/// and the module for the value of each type).
pub fn rows_as_json(batch: &RecordBatch, limit: usize) -> JsonRows {
    let mut json = JsonRows::empty(&batch.schema());
    json.append(batch, limit);
    json
}

impl JsonRows {
    /// The columns of `schema` and no rows yet: a file of no rows still has
    /// columns to show.
    pub fn empty(schema: &Schema) -> JsonRows {
        let columns = schema
            .fields()
            .iter()
            .map(|field| JsonColumn {
                name: field.name().clone(),
                arrow_type: field.data_type().to_string(),
            })
            .collect();
        JsonRows {
            columns,
            rows: Vec::new(),
        }
    }

    /// Appends the rows of `batch` (of the same columns) until there are
    /// `limit` rows in all: a file is read as several batches.
    pub fn append(&mut self, batch: &RecordBatch, limit: usize) {
        let take = limit.saturating_sub(self.rows.len()).min(batch.num_rows());
        let start = self.rows.len();
        self.rows
            .extend((0..take).map(|_| Vec::with_capacity(batch.num_columns())));
        // Column by column: one type dispatch per column, not per value.
        for array in batch.columns() {
            for (row, value) in self.rows[start..].iter_mut().enumerate() {
                value.push(value_at(array.as_ref(), row, PREVIEW_TEXT_CHARS));
            }
        }
    }
}

/// The value at `row` of `array`, with text cut after `max_chars` characters.
pub(crate) fn value_at(array: &dyn Array, row: usize, max_chars: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    macro_rules! number {
        ($t:ty) => {
            Value::from(array.as_primitive::<$t>().value(row))
        };
    }
    match array.data_type() {
        DataType::Int8 => number!(Int8Type),
        DataType::Int16 => number!(Int16Type),
        DataType::Int32 => number!(Int32Type),
        DataType::Int64 => number!(Int64Type),
        DataType::UInt8 => number!(UInt8Type),
        DataType::UInt16 => number!(UInt16Type),
        DataType::UInt32 => number!(UInt32Type),
        DataType::UInt64 => number!(UInt64Type),
        DataType::Float32 => float(f64::from(array.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Date32 => date(array.as_primitive::<Date32Type>().value(row)),
        DataType::Timestamp(unit, zone) => {
            let value = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row)
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row),
            };
            timestamp(value, *unit, zone.is_some())
        }
        DataType::Decimal128(precision, scale) => decimal(
            array.as_primitive::<Decimal128Type>().value(row),
            *precision,
            *scale,
        ),
        DataType::Utf8 => text(array.as_string::<i32>().value(row), max_chars, false),
        DataType::LargeUtf8 => text(array.as_string::<i64>().value(row), max_chars, false),
        DataType::Utf8View => text(array.as_string_view().value(row), max_chars, false),
        _ => Value::Null,
    }
}

/// A float as a JSON number; NaN and infinities, which JSON cannot write, as null.
pub(crate) fn float(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

/// Days since 1970-01-01 as `YYYY-MM-DD`; null past chrono's years (±262,142).
pub(crate) fn date(days: i32) -> Value {
    NaiveDate::from_epoch_days(days).map_or(Value::Null, |d| Value::String(d.to_string()))
}

/// A timestamp as RFC 3339 with as many fraction digits as it needs (0, 3, 6
/// or 9): `Z` when the column has a time zone (Arrow stores those instants
/// in UTC), no offset for a local date-time.
pub(crate) fn timestamp(value: i64, unit: TimeUnit, zoned: bool) -> Value {
    let instant = match unit {
        TimeUnit::Second => DateTime::from_timestamp(value, 0),
        TimeUnit::Millisecond => DateTime::from_timestamp_millis(value),
        TimeUnit::Microsecond => DateTime::from_timestamp_micros(value),
        TimeUnit::Nanosecond => Some(DateTime::from_timestamp_nanos(value)),
    };
    let Some(instant) = instant else {
        return Value::Null;
    };
    Value::String(if zoned {
        instant.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    } else {
        instant
            .naive_utc()
            .format("%Y-%m-%dT%H:%M:%S%.f")
            .to_string()
    })
}

/// An unscaled decimal as a string with its scale's digits, e.g. `"-0.050"`:
/// a JSON number would be read back as a float by most clients.
pub(crate) fn decimal(value: i128, precision: u8, scale: i8) -> Value {
    Value::String(Decimal128Type::format_decimal(value, precision, scale))
}

/// Text cut after `max_chars` characters with `…`, or ending in `…` anyway
/// when `cut` says it already was (a truncated Parquet statistic).
pub(crate) fn text(value: &str, max_chars: usize, cut: bool) -> Value {
    match value.char_indices().nth(max_chars) {
        Some((end, _)) => Value::String(format!("{}…", &value[..end])),
        None if cut => Value::String(format!("{value}…")),
        None => Value::String(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, StringArray,
        TimestampMicrosecondArray,
    };
    use arrow_schema::Field;
    use serde_json::json;

    use super::*;

    fn batch() -> RecordBatch {
        let columns: Vec<Arc<dyn Array>> = vec![
            Arc::new(Int64Array::from(vec![Some(1), None, Some(-3)])),
            Arc::new(Float64Array::from(vec![1.5, f64::NAN, f64::INFINITY])),
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
            Arc::new(Date32Array::from(vec![Some(19_753), None, Some(0)])),
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(1_706_688_000_123_000),
                Some(0),
                None,
            ])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(1_706_688_000_000_000), None, None])
                    .with_timezone("UTC"),
            ),
            Arc::new(
                Decimal128Array::from(vec![Some(1250), Some(-5), None])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
            Arc::new(StringArray::from(vec![Some("a"), None, Some("naïve")])),
        ];
        let fields: Vec<Field> = ["i", "f", "b", "d", "ts", "tz", "dec", "t"]
            .iter()
            .zip(&columns)
            .map(|(name, c)| Field::new(*name, c.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    #[test]
    fn rows_keep_column_order_and_typed_values() {
        let json = serde_json::to_value(rows_as_json(&batch(), 10)).unwrap();

        assert_eq!(
            json["columns"][0],
            json!({"name": "i", "arrow_type": "Int64"})
        );
        assert_eq!(json["columns"][5]["arrow_type"], "Timestamp(µs, \"UTC\")");
        assert_eq!(
            json["rows"],
            json!([
                [
                    1,
                    1.5,
                    true,
                    "2024-01-31",
                    "2024-01-31T08:00:00.123",
                    "2024-01-31T08:00:00Z",
                    "12.50",
                    "a"
                ],
                [
                    null,
                    null,
                    false,
                    null,
                    "1970-01-01T00:00:00",
                    null,
                    "-0.05",
                    null
                ],
                [-3, null, null, "1970-01-01", null, null, null, "naïve"]
            ])
        );
    }

    #[test]
    fn the_limit_counts_rows_across_appended_batches() {
        let batch = batch();
        let mut json = rows_as_json(&batch, 2);
        assert_eq!(json.rows.len(), 2);

        json.append(&batch, 4);

        assert_eq!(json.rows.len(), 4);
        assert_eq!(json.rows[2][0], json!(1));
        assert!(rows_as_json(&batch, 0).rows.is_empty());
    }

    #[test]
    fn long_text_is_cut_on_a_character_with_an_ellipsis() {
        assert_eq!(text("ééé", 2, false), json!("éé…"));
        assert_eq!(text("éé", 2, false), json!("éé"));
        assert_eq!(text("éé", 2, true), json!("éé…"));
    }

    #[test]
    fn values_json_cannot_hold_are_null() {
        assert_eq!(float(f64::NEG_INFINITY), Value::Null);
        assert_eq!(date(i32::MAX), Value::Null);
        assert_eq!(
            timestamp(i64::MAX, TimeUnit::Microsecond, true),
            Value::Null
        );
        assert_eq!(decimal(-123, 5, 0), json!("-123"));
        assert_eq!(
            timestamp(1_500, TimeUnit::Millisecond, true),
            json!("1970-01-01T00:00:01.500Z")
        );
    }
}

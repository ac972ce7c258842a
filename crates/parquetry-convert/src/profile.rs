//! The column profile of the report, read from the statistics the Parquet
//! writer already keeps for each column chunk: no second look at the data.

use arrow_schema::DataType;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;
use serde_json::Value;

use crate::report::ColumnProfile;
use crate::rows_json;

/// Characters of a text minimum or maximum: Parquet keeps at most 64 bytes
/// of one anyway.
const STATISTIC_TEXT_CHARS: usize = 64;

/// A minimum or maximum as Parquet stores it, comparable within one column
/// (every chunk of a column has the same physical type).
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Scalar {
    Bool(bool),
    /// Int32, Int64, and decimals stored as fixed-length big-endian bytes.
    Int(i128),
    Float(f64),
    /// Text, compared bytewise as Parquet orders UTF-8.
    Bytes(Vec<u8>),
}

/// A bound and whether it is the value itself: a long text bound is cut
/// (a minimum keeps a prefix, a maximum is a prefix raised to stay above).
#[derive(Debug, Clone, PartialEq)]
struct Bound {
    value: Scalar,
    exact: bool,
}

/// The profile of leaf column `column` over every row group of the file;
/// `None` when a row group has no statistics for it.
pub(crate) fn of_column(
    metadata: &ParquetMetaData,
    column: usize,
    data_type: &DataType,
) -> Option<ColumnProfile> {
    let mut nulls = 0u64;
    let mut low: Option<Bound> = None;
    let mut high: Option<Bound> = None;
    let mut distinct = Vec::new();
    for row_group in metadata.row_groups() {
        let stats = row_group.column(column).statistics()?;
        nulls += stats.null_count_opt()?;
        distinct.push(stats.distinct_count_opt());
        let (min, max) = bounds(stats);
        low = pick(low, min, |new, old| new < old);
        high = pick(high, max, |new, old| new > old);
    }
    Some(ColumnProfile {
        null_count: nulls,
        min: low.and_then(|b| json(&b.value, data_type, !b.exact)),
        // A raised maximum is no value of the column: left out.
        max: high
            .filter(|b| b.exact)
            .and_then(|b| json(&b.value, data_type, false)),
        // Distinct counts do not add up across row groups.
        distinct_count: match distinct[..] {
            [only] => only,
            _ => None,
        },
    })
}

/// The bound that wins by `beats`; an exact bound wins a tie.
fn pick(
    current: Option<Bound>,
    new: Option<Bound>,
    beats: fn(&Scalar, &Scalar) -> bool,
) -> Option<Bound> {
    match (current, new) {
        (Some(old), Some(new)) => {
            let tie_won = new.value == old.value && new.exact && !old.exact;
            Some(if beats(&new.value, &old.value) || tie_won {
                new
            } else {
                old
            })
        }
        (old, new) => old.or(new),
    }
}

/// A chunk's minimum and maximum, when it has values.
fn bounds(stats: &Statistics) -> (Option<Bound>, Option<Bound>) {
    fn both<T>(
        s: &parquet::file::statistics::ValueStatistics<T>,
        scalar: impl Fn(&T) -> Scalar,
    ) -> (Option<Bound>, Option<Bound>) {
        let bound = |value: Option<&T>, exact| {
            value.map(|v| Bound {
                value: scalar(v),
                exact,
            })
        };
        (
            bound(s.min_opt(), s.min_is_exact()),
            bound(s.max_opt(), s.max_is_exact()),
        )
    }
    match stats {
        Statistics::Boolean(s) => both(s, |v| Scalar::Bool(*v)),
        Statistics::Int32(s) => both(s, |v| Scalar::Int(i128::from(*v))),
        Statistics::Int64(s) => both(s, |v| Scalar::Int(i128::from(*v))),
        Statistics::Float(s) => both(s, |v| Scalar::Float(f64::from(*v))),
        Statistics::Double(s) => both(s, |v| Scalar::Float(*v)),
        Statistics::ByteArray(s) => both(s, |v| Scalar::Bytes(v.data().to_vec())),
        Statistics::FixedLenByteArray(s) => both(s, |v| Scalar::Int(big_endian(v.data()))),
        Statistics::Int96(_) => (None, None),
    }
}

/// A big-endian two's complement integer of up to 16 bytes (a decimal's
/// unscaled value), sign-extended.
fn big_endian(bytes: &[u8]) -> i128 {
    let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        0xff
    } else {
        0
    };
    let mut wide = [fill; 16];
    let tail = bytes.len().min(16);
    wide[16 - tail..].copy_from_slice(&bytes[bytes.len() - tail..]);
    i128::from_be_bytes(wide)
}

/// A bound as the column's values are shown (see `rows_json`); `cut` marks
/// a text prefix with `…`.
fn json(value: &Scalar, data_type: &DataType, cut: bool) -> Option<Value> {
    let json = match (value, data_type) {
        (Scalar::Bool(b), _) => Value::Bool(*b),
        (Scalar::Float(f), _) => rows_json::float(*f),
        (Scalar::Int(v), DataType::Date32) => rows_json::date(i32::try_from(*v).ok()?),
        (Scalar::Int(v), DataType::Timestamp(unit, zone)) => {
            rows_json::timestamp(i64::try_from(*v).ok()?, *unit, zone.is_some())
        }
        (Scalar::Int(v), DataType::Decimal128(p, s)) => rows_json::decimal(*v, *p, *s),
        (Scalar::Int(v), _) => Value::from(i64::try_from(*v).ok()?),
        (Scalar::Bytes(b), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {
            rows_json::text(&String::from_utf8_lossy(b), STATISTIC_TEXT_CHARS, cut)
        }
        (Scalar::Bytes(_), _) => return None,
    };
    (!json.is_null()).then_some(json)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn exact(value: Scalar) -> Option<Bound> {
        Some(Bound { value, exact: true })
    }

    #[test]
    fn the_lowest_minimum_and_highest_maximum_win_and_exact_wins_a_tie() {
        let lower = |a, b| pick(a, b, |n, o| n < o);
        let higher = |a, b| pick(a, b, |n, o| n > o);
        assert_eq!(
            lower(exact(Scalar::Int(3)), exact(Scalar::Int(-2))),
            exact(Scalar::Int(-2))
        );
        assert_eq!(
            higher(exact(Scalar::Int(3)), exact(Scalar::Int(-2))),
            exact(Scalar::Int(3))
        );
        assert_eq!(lower(None, exact(Scalar::Int(1))), exact(Scalar::Int(1)));
        assert_eq!(higher(exact(Scalar::Int(1)), None), exact(Scalar::Int(1)));
        let cut = Some(Bound {
            value: Scalar::Bytes(b"b".to_vec()),
            exact: false,
        });
        assert_eq!(
            higher(cut, exact(Scalar::Bytes(b"b".to_vec()))),
            exact(Scalar::Bytes(b"b".to_vec()))
        );
    }

    #[test]
    fn bounds_are_shown_as_the_column_type() {
        let ts = DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into()));
        let show = |v, t: &DataType| json(&v, t, false);
        assert_eq!(
            show(Scalar::Int(19_753), &DataType::Date32),
            Some(json!("2024-01-31"))
        );
        assert_eq!(
            show(Scalar::Int(0), &ts),
            Some(json!("1970-01-01T00:00:00Z"))
        );
        assert_eq!(
            show(Scalar::Int(-1234), &DataType::Decimal128(38, 3)),
            Some(json!("-1.234"))
        );
        assert_eq!(show(Scalar::Int(7), &DataType::Int64), Some(json!(7)));
        assert_eq!(show(Scalar::Float(f64::NAN), &DataType::Float64), None);
        assert_eq!(
            json(&Scalar::Bytes(b"abc".to_vec()), &DataType::Utf8, true),
            Some(json!("abc…"))
        );
    }

    #[test]
    fn fixed_length_decimals_are_sign_extended() {
        assert_eq!(big_endian(&[0xff, 0xfe]), -2);
        assert_eq!(big_endian(&[0x01, 0x00]), 256);
        assert_eq!(big_endian(&[0x80; 16]), i128::from_be_bytes([0x80; 16]));
    }
}

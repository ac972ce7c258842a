//! Type inference over the sample: one small accumulator of evidence per
//! column (as arrow-csv's `InferredDataType`), fed record by record, which
//! then chooses the column's type; and the header decision it supports.

use std::borrow::Cow;

use crate::decimal::ColumnDecimal;
use crate::detect::SampledRecord;
use crate::error::{ConvertError, ErrorKind};
use crate::options::ConvertOptions;
use crate::plan::{self, ColumnPlan, Kind};
use crate::report::TypeSource;

/// What the sampled values of one column allow: the candidate types (bits of
/// `plan::classify`) that every non-null value fits, and how many there were.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ColumnEvidence {
    fits: u64,
    seen: usize,
    /// Values like `007` or `01310-100`: codes whose zeros a number would drop.
    pub leading_zeros: usize,
}

impl Default for ColumnEvidence {
    fn default() -> Self {
        ColumnEvidence {
            fits: plan::ALL,
            seen: 0,
            leading_zeros: 0,
        }
    }
}

impl ColumnEvidence {
    fn observe(&mut self, fits: u64) {
        self.fits &= fits;
        self.seen += 1;
    }

    /// The slash-date type of a column whose dates read both day-first and month-first
    /// (every day ≤ 12), read day-first.
    pub(crate) fn day_first(&self) -> Option<Kind> {
        use crate::plan::{DateFmt, TsFmt, DATE_DMY, DATE_MDY, TS_DMY, TS_MDY};
        if self.seen == 0 {
            return None;
        }
        if self.fits & (DATE_DMY | DATE_MDY) == DATE_DMY | DATE_MDY {
            return Some(Kind::Date(DateFmt::DayFirst));
        }
        (self.fits & (TS_DMY | TS_MDY) == TS_DMY | TS_MDY).then_some(Kind::Timestamp {
            fmt: TsFmt::DayFirst,
            utc: false,
        })
    }

    /// The type the evidence chooses; `None` when no value was seen.
    pub(crate) fn kind(&self, timestamp_formats: &[String]) -> Option<Kind> {
        (self.seen > 0).then(|| plan::choose(self.fits, timestamp_formats))
    }
}

/// Classifies sampled values by column: with the column's decimal separator,
/// the user's formats and null tokens.
pub(crate) struct Classifier<'a> {
    pub options: &'a ConvertOptions,
    pub decimals: &'a [ColumnDecimal],
    pub nulls: &'a [Vec<u8>],
}

impl Classifier<'_> {
    /// The decimal separator numbers of column `j` are read with.
    pub(crate) fn separator(&self, j: usize) -> u8 {
        match self.decimals[j] {
            ColumnDecimal::Sep(d) => d,
            ColumnDecimal::Ambiguous => b'.',
        }
    }

    fn is_null(&self, v: &[u8]) -> bool {
        v.is_empty() || self.nulls.iter().any(|n| n == v)
    }

    fn classify(&self, v: &[u8], j: usize) -> u64 {
        self.classify_among(v, j, plan::ALL)
    }

    /// [`Self::classify`] `& possible`, trying only those types' parsers.
    fn classify_among(&self, v: &[u8], j: usize, possible: u64) -> u64 {
        let formats = (
            &self.options.date_formats[..],
            &self.options.timestamp_formats[..],
        );
        plan::classify_among(v, self.separator(j), formats, possible)
    }

    /// Adds one record's values to the evidence of their columns.
    pub(crate) fn observe(&self, evidence: &mut [ColumnEvidence], record: &[Cow<[u8]>]) {
        for (j, v) in record.iter().enumerate().take(evidence.len()) {
            if !self.is_null(v) {
                // Types an earlier value ruled out stay out: they need not be tried.
                let fits = self.classify_among(v, j, evidence[j].fits);
                evidence[j].observe(fits);
                if crate::values::has_leading_zero(crate::values::trim(v)) {
                    evidence[j].leading_zeros += 1;
                }
            }
        }
    }

    /// Whether `first` is a header, judged against the evidence of the
    /// records after it: in typed columns, a first value that does not fit
    /// the column's type votes for a header. With only text columns, a
    /// header has distinct, non-empty names.
    pub(crate) fn is_header(&self, first: &[Cow<[u8]>], evidence: &[ColumnEvidence]) -> bool {
        let (mut for_header, mut against) = (0, 0);
        for (j, column) in evidence.iter().enumerate() {
            let typed = column
                .kind(&self.options.timestamp_formats)
                .is_some_and(|kind| kind != Kind::Utf8);
            if !typed {
                continue;
            }
            if !self.is_null(&first[j]) && self.classify_among(&first[j], j, column.fits) != 0 {
                against += 1;
            } else {
                for_header += 1;
            }
        }
        if for_header + against > 0 {
            return for_header > against;
        }
        // Nothing to compare with (a one-line file, or other rows all null): a first row made
        // only of numbers, dates or booleans is data, as DuckDB reads it.
        let nothing_seen = evidence.iter().all(|c| c.seen == 0);
        let all_typed = first
            .iter()
            .enumerate()
            .all(|(j, v)| !self.is_null(v) && self.classify(v, j) != 0);
        if nothing_seen && all_typed {
            return false;
        }
        first
            .iter()
            .enumerate()
            .all(|(i, a)| !a.is_empty() && !first[..i].contains(a))
    }
}

const LEADING_ZEROS_NOTE: &str = "kept as text: values like `007` have leading zeros a \
     number would drop; give the column a numeric type in `schema` to read them as numbers";

const DAY_FIRST_NOTE: &str = "read day first like the file's other dates: every day is 12 or \
     less, so the values alone do not say; set `date_format` (e.g. `%m/%d/%Y`) if not";

/// Slash dates whose days are all ≤ 12 read either way; the file decides: day first when
/// another column proves it (`27/09/2022`), or when the file is written the way day-first
/// countries write (`;`-delimited, decimal comma).
pub(crate) fn settle_day_first(
    columns: &mut [ColumnPlan],
    evidence: &[ColumnEvidence],
    leans: bool,
) {
    use crate::plan::{DateFmt, TsFmt};
    let proves = |first: DateFmt, ts: TsFmt| {
        columns.iter().any(|c| match c.kind {
            Kind::Date(f) => f == first,
            Kind::Timestamp { fmt, .. } => fmt == ts,
            _ => false,
        })
    };
    // A file that proves both orders (one column each) says nothing about the others.
    let day_first = !proves(DateFmt::MonthFirst, TsFmt::MonthFirst)
        && (leans || proves(DateFmt::DayFirst, TsFmt::DayFirst));
    for (column, seen) in columns.iter_mut().zip(evidence) {
        if column.kind != Kind::Utf8 || column.note.is_some() {
            continue;
        }
        match seen.day_first() {
            Some(kind) if day_first => {
                column.kind = kind;
                column.note = Some(DAY_FIRST_NOTE.to_string());
            }
            Some(_) => column.note = Some(AMBIGUOUS_DATES_NOTE.to_string()),
            None => {}
        }
    }
}

const AMBIGUOUS_DATES_NOTE: &str = "kept as text: dates like `01/02/2024` read day first or \
     month first, and nothing in the file says which; set `date_format` (`%d/%m/%Y` or \
     `%m/%d/%Y`) to read them as dates";

/// Text columns whose values have leading zeros say why they are text.
pub(crate) fn note_leading_zeros(columns: &mut [ColumnPlan], evidence: &[ColumnEvidence]) {
    for (column, seen) in columns.iter_mut().zip(evidence) {
        if column.kind == Kind::Utf8 && column.note.is_none() && seen.leading_zeros > 0 {
            column.note = Some(LEADING_ZEROS_NOTE.to_string());
        }
    }
}

/// Forces the types the `schema` option names: the exact column name first,
/// so `ID` and `id` can both exist, then case-insensitively.
pub(crate) fn force_schema(
    columns: &mut [ColumnPlan],
    options: &ConvertOptions,
) -> Result<(), ConvertError> {
    for (name, ty) in &options.schema {
        let idx = columns
            .iter()
            .position(|c| &c.name == name)
            .or_else(|| {
                columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(name))
            })
            .ok_or_else(|| {
                ConvertError::new(
                    ErrorKind::InvalidOption,
                    format!("invalid option `schema`: no column named `{name}`"),
                )
                .in_column(name.clone())
            })?;
        columns[idx].kind = Kind::forced(*ty);
        columns[idx].source = TypeSource::Forced;
        columns[idx].note = None;
    }
    Ok(())
}

/// True when at least 1000 sampled values of column `j` are more than 90 % distinct.
/// Stops at the first repeat too many: a column of a few categories is decided after a
/// tenth of its values. Hashed with foldhash: the standard SipHash was a fifth of the time
/// of detection, which is most of a small file's conversion.
pub(crate) fn mostly_unique(values: &[SampledRecord], j: usize, header: bool) -> bool {
    let column = || {
        values
            .iter()
            .skip(header as usize)
            .filter_map(|r| r.get(j))
            .filter(|v| !v.is_empty())
    };
    let n = column().count();
    if n < 1000 {
        return false;
    }
    let mut distinct = std::collections::HashSet::with_capacity_and_hasher(
        n,
        foldhash::fast::FixedState::default(),
    );
    let mut repeats = 0;
    for v in column() {
        if !distinct.insert(&v[..]) {
            repeats += 1;
            // More than 90 % distinct is fewer repeats than a tenth of the values.
            if repeats * 10 >= n {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::mostly_unique;
    use crate::detect::SampledRecord;

    /// A header row and `n` values of which `repeats` repeat the first.
    fn column(n: usize, repeats: usize) -> Vec<SampledRecord<'static>> {
        let mut rows = vec![vec![Cow::Borrowed(&b"name"[..])]];
        rows.extend((0..n).map(|i| {
            vec![Cow::Owned(
                if i < repeats { 0 } else { i }.to_string().into_bytes(),
            )]
        }));
        rows
    }

    /// Trying only the possible types' parsers gives what trying all of them and masking
    /// gives, for values of every kind and every way of ruling types out.
    #[test]
    fn classifying_among_possible_types_is_classifying_then_masking() {
        use crate::plan::{classify, classify_among, ALL};
        let values: &[&str] = &[
            "42",
            "-7",
            "007",
            "01310-100",
            "3.25",
            "-0.5",
            "1,5",
            "1.234,56",
            "1e5",
            "12345678901234567890123",
            "2024-01-31",
            "2024-01-31T12:00:00",
            "2024-01-31 12:00:00+02:00",
            "31/01/2024",
            "01/02/2024",
            "13/13/2024",
            "31/01/2024 12:30",
            "01/02/2024 08:00:00",
            "true",
            "FALSE",
            "sim",
            "não",
            "31.01.2024",
            "20240131 120000",
            "text",
            " 12 ",
            "+",
            "-",
            "2024-1",
        ];
        let dates = ["%d.%m.%Y".to_string()];
        let times = ["%Y%m%d %H%M%S".to_string()];
        let mut masks = vec![0, ALL, 1 << 16, 1 << 32];
        masks.extend((0..11).map(|bit| 1u64 << bit));
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            masks.push(state);
        }
        for v in values {
            for decimal in [b'.', b','] {
                let all = classify(v.as_bytes(), decimal, &dates, &times);
                for &possible in &masks {
                    let among = classify_among(v.as_bytes(), decimal, (&dates, &times), possible);
                    assert_eq!(among, all & possible, "{v:?} among {possible:#x}");
                }
            }
        }
    }

    #[test]
    fn more_than_nine_in_ten_distinct_of_at_least_a_thousand_values() {
        // 1000 values: 99 repeats leave 901 distinct (> 90 %), 100 leave 900 (not more).
        assert!(mostly_unique(&column(1000, 100), 0, true));
        assert!(!mostly_unique(&column(1000, 101), 0, true));
        assert!(mostly_unique(&column(1011, 102), 0, true));
        assert!(!mostly_unique(&column(1011, 103), 0, true));
        // Too few values to say, however distinct.
        assert!(!mostly_unique(&column(999, 0), 0, true));
        // Empty values are not counted, and the header is not a value.
        let mut with_empty = column(1000, 0);
        with_empty[500][0] = Cow::Borrowed(&[]);
        assert!(!mostly_unique(&with_empty, 0, true));
        assert!(mostly_unique(&with_empty, 0, false));
    }
}

//! The decimal separator of each column, decided from that column's own sampled values.
//!
//! One decision for the whole file broke files that mix conventions: a Brazilian `valor`
//! column (`1.234,56`) next to `lat`/`lon` columns (`-23.550`) made the coordinates integers
//! (-23550), and one `-23.5505` flipped the file and made `valor` text.

use crate::detect::SampledRecord;
use crate::values;

/// What a column's values say about its decimal separator.
#[derive(Debug, Default, Clone, Copy)]
struct Evidence {
    /// `1.234,56`, `3,5`, `12.345.678`: only a decimal comma reads these.
    comma: usize,
    /// `12.5`, `-23.5505`, `1234.567`: only a decimal dot reads these.
    dot: usize,
    /// `-23.550`, `1.234`: a decimal dot or a thousands dot.
    ambiguous: usize,
    /// Integers below 1000 written plainly (`7`): beside `1.500` they show thousands grouping.
    small: usize,
    /// Integers of 1000 and more written without grouping (`1500`).
    ungrouped: usize,
}

fn evidence(value: &[u8], e: &mut Evidence) {
    let t = values::trim(value);
    if t.is_empty()
        || !t
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b',' | b'-' | b'+'))
        || values::has_leading_zero(t)
    {
        return;
    }
    let dots = t.iter().filter(|&&c| c == b'.').count();
    if dots == 0 && !t.contains(&b',') {
        let digits = t.iter().filter(|c| c.is_ascii_digit()).count();
        if digits >= 4 {
            e.ungrouped += 1;
        } else if digits > 0 {
            e.small += 1;
        }
    } else if t.contains(&b',') {
        if values::parse_f64(t, b',').is_some() {
            e.comma += 1;
        }
    } else if dots > 1 {
        if values::parse_i64(t, b',').is_some() {
            e.comma += 1;
        }
    } else if let Some(p) = t.iter().position(|&c| c == b'.') {
        if t.len() - p - 1 == 3 && values::parse_i64(t, b',').is_some() {
            e.ambiguous += 1;
        } else if values::parse_f64(t, b'.').is_some() {
            e.dot += 1;
        }
    }
}

/// The decision for one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnDecimal {
    /// Numbers of the column use this separator.
    Sep(u8),
    /// Only `X.YYY` values in a file whose other columns use a decimal comma: reading them
    /// either way could be wrong by a factor of 1000, so the column stays text.
    Ambiguous,
}

/// The separator of each of `ncols` columns of `rows` (records of field values), and the
/// file's own (`,` when any column uses a decimal comma), for a file not delimited by commas.
pub(crate) fn detect(rows: &[SampledRecord], ncols: usize) -> (Vec<ColumnDecimal>, u8) {
    let mut ev = vec![Evidence::default(); ncols];
    for row in rows {
        for (e, v) in ev.iter_mut().zip(row) {
            evidence(v, e);
        }
    }
    let file_comma = ev.iter().any(|e| e.comma > 0 && e.dot == 0);
    let file = if file_comma { b',' } else { b'.' };
    let columns = ev
        .iter()
        .map(|e| match (e.comma > 0, e.dot > 0) {
            (true, false) => ColumnDecimal::Sep(b','),
            (_, true) => ColumnDecimal::Sep(b'.'),
            // `1.500` beside `7` (and no `1500`) is the thousands grouping of a decimal-comma
            // file; `-23.550` and `-46.633` alone could be coordinates.
            (false, false) if e.ambiguous > 0 && file_comma => {
                if e.small > 0 && e.ungrouped == 0 {
                    ColumnDecimal::Sep(b',')
                } else {
                    ColumnDecimal::Ambiguous
                }
            }
            // Plain integers (or `1.234` in a file without decimal commas, as before) read
            // the same way as the rest of the file.
            (false, false) => ColumnDecimal::Sep(file),
        })
        .collect();
    (columns, file)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn rows<'a>(cols: &[&[&'a str]]) -> Vec<SampledRecord<'a>> {
        let n = cols[0].len();
        (0..n)
            .map(|i| {
                cols.iter()
                    .map(|c| Cow::Borrowed(c[i].as_bytes()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn each_column_keeps_its_own_separator() {
        let r = rows(&[
            &["1.234,56", "3,5", "10"],
            &["-23.5505", "-23.55", "1"],
            &["-23.550", "-22.900", "1.000"],
            &["12.345.678", "1.234", "7"],
            &["1", "2", "3"],
            &["1.500", "7", ""],
            &["1.500", "7", "2500"],
        ]);
        let (cols, file) = detect(&r, 7);
        assert_eq!(file, b',');
        assert_eq!(
            cols,
            [
                ColumnDecimal::Sep(b','),
                ColumnDecimal::Sep(b'.'),
                ColumnDecimal::Ambiguous,
                ColumnDecimal::Sep(b','),
                ColumnDecimal::Sep(b','),
                ColumnDecimal::Sep(b','),
                ColumnDecimal::Ambiguous,
            ]
        );
        // Without decimal commas anywhere, `X.YYY` stays a decimal dot.
        let (cols, file) = detect(&rows(&[&["-23.550", "1.000"]]), 1);
        assert_eq!((cols[0], file), (ColumnDecimal::Sep(b'.'), b'.'));
    }
}

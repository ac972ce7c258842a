//! Finds the table in the sample: the lines to skip before it (forced by `skip_rows`, or
//! detected), the dialect it is written in, and its shape.

use crate::detect::{self, SampledRecord};
use crate::layout::{self, Shape};
use crate::options::ConvertOptions;
use crate::tokenize::Tokenizer;

/// Records looked at to find the table's shape.
const SHAPE_RECORDS: usize = 500;

/// Where the table is in the sample text.
pub(crate) struct Table {
    /// Delimiter, quote and escape.
    pub dialect: (u8, u8, Option<u8>),
    pub shape: Shape,
    /// Byte offset of the table's first record in the sample text.
    pub start: usize,
    /// Lines of the sample text before the table (titles, notes, comments, blank lines).
    pub lines_before: u64,
    /// The first non-blank line skipped, for the report.
    pub first_skipped: Option<String>,
}

/// Locates the table in `text` (the sample after any `sep=` line; `sep` is the delimiter
/// that line named).
pub(crate) fn table(text: &[u8], sep: Option<u8>, options: &ConvertOptions) -> Table {
    let forced = options
        .skip_rows
        .map(|n| n.saturating_sub(u64::from(sep.is_some())));
    let (lead, lead_lines) = match forced {
        Some(n) => (layout::lines_len(text, n), n),
        None => layout::leading_comments(text, options.comment.unwrap_or(b'#')),
    };
    let body = &text[lead..];
    let dialect = dialect_of(body, sep, options);
    let tok = Tokenizer::new(dialect.0, dialect.1, dialect.2);
    let recs = layout::records(&tok, body, SHAPE_RECORDS, options.comment);
    let mut shape = layout::shape(&recs, body);
    if forced.is_some() && shape.first > 0 {
        // The user said where the table starts: the header is the first record after it.
        shape.first = 0;
        shape.header_short = false;
    }
    let table_start = recs.get(shape.first).map_or(0, |r| r.start);
    let skipped = &text[..lead + table_start];
    Table {
        dialect,
        shape,
        start: lead + table_start,
        lines_before: lead_lines + crate::input::count_lines(&body[..table_start]),
        first_skipped: layout::first_nonblank_line(skipped),
    }
}

/// The delimiter, quote and escape: detected, with what the user forced, and
/// the delimiter a `sep=` line names unless the user forced another.
fn dialect_of(text: &[u8], sep: Option<u8>, options: &ConvertOptions) -> (u8, u8, Option<u8>) {
    match (sep, options.delimiter) {
        (Some(d), None) => {
            let named = ConvertOptions {
                delimiter: Some(d),
                ..options.clone()
            };
            detect::detect_dialect(&named, text)
        }
        _ => detect::detect_dialect(options, text),
    }
}

/// Drops, from the records of a whole file, the trailing ones that do not have `fields`
/// fields (a `Fonte:` or `Total` footer), at most [`layout::MAX_FOOTER_LINES`] of them.
pub(crate) fn drop_footer(values: &mut Vec<SampledRecord>, fields: usize) {
    let fits = |r: &SampledRecord| {
        r.len() == fields || (r.len() == fields + 1 && r.last().is_some_and(|v| v.is_empty()))
    };
    let trailing = values.iter().rev().take_while(|r| !fits(r)).count();
    if trailing > 0 && trailing <= layout::MAX_FOOTER_LINES && trailing < values.len() {
        values.truncate(values.len() - trailing);
    }
}

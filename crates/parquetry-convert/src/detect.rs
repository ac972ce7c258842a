//! Builds the [`Plan`] from a sample at the start of the file: encoding, dialect, header,
//! decimal separator and column types.

use std::borrow::Cow;

use tracing::field::Empty;

use crate::decimal::{self, ColumnDecimal};
use crate::error::{ConvertError, ErrorKind};
use crate::infer::{self, Classifier, ColumnEvidence};
use crate::input::{self, InputCompression, Source};
use crate::layout;
use crate::locate;
use crate::options::{ConvertOptions, Encoding, Escape, OnError, Ragged};
use crate::plan::{self, ColumnPlan, Kind, Plan};
use crate::report::TypeSource;
use crate::tokenize::{Tokenizer, QUOTED};

/// Bytes read for detection and inference. Big enough for thousands of rows, small enough
/// that a later type break is handled by widening rather than by reading more up front.
pub(crate) const SAMPLE_BYTES: usize = 1 << 20;
/// Line ends a sample should hold. With fewer, a few long fields (a 4 MB blob in the first
/// row) would crowd every data row out of it, and the other columns would be typed from
/// the header alone: the sample grows, a megabyte at a time, until it holds them.
const MIN_SAMPLE_LINES: usize = 32;
/// Most bytes a sample grows to, bounding the memory of detection whatever the fields.
pub(crate) const MAX_SAMPLE_BYTES: usize = 16 << 20;
/// Records used to detect the dialect.
const DIALECT_RECORDS: usize = 500;
/// Records used to infer types.
const INFER_RECORDS: usize = 20_000;

/// The sample, decoded to UTF-8 and cut after its last complete line.
struct Sample {
    text: Vec<u8>,
    /// Delimiter named by an Excel `sep=;` first line (removed from `text`).
    sep: Option<u8>,
    /// The sample is the whole file.
    complete: bool,
    /// Lone CRs end lines (see [`layout::lone_cr_line_ends`]); `text` has LF line ends.
    cr_line_ends: bool,
    /// The sample reached [`MAX_SAMPLE_BYTES`] before [`MIN_SAMPLE_LINES`] line ends: `text`
    /// then keeps its last, cut record, whose last field is cut.
    cut: bool,
}

/// The delimiter and length of an Excel `sep=X` first line.
pub(crate) fn sep_line(data: &[u8]) -> Option<(u8, usize)> {
    let rest = data.strip_prefix(b"sep=")?;
    let (&d, after) = rest.split_first()?;
    let len = match after {
        [b'\n', ..] => 6,
        [b'\r', b'\n', ..] => 7,
        _ => return None,
    };
    (d != b'\r' && d != b'\n').then_some((d, len))
}

fn read_sample(
    source: &Source,
    windows_1252: bool,
    options: &ConvertOptions,
) -> Result<(Sample, InputCompression, Utf8State), ConvertError> {
    let (mut reader, compression) = source.open(options.member.as_deref())?;
    let mut raw = vec![0u8; SAMPLE_BYTES];
    let mut n = input::read_full(&mut *reader, &mut raw)?;
    // CRs too: a CR-only file has no LF at all (a CRLF counts twice, which only errs long).
    let mut lines = memchr::memchr2_iter(b'\n', b'\r', &raw[..n]).count();
    while n == raw.len() && raw.len() < MAX_SAMPLE_BYTES && lines < MIN_SAMPLE_LINES {
        raw.resize(raw.len() + SAMPLE_BYTES, 0);
        let more = input::read_full(&mut *reader, &mut raw[n..])?;
        lines += memchr::memchr2_iter(b'\n', b'\r', &raw[n..n + more]).count();
        n += more;
    }
    // A head ends before its file does, however short it is.
    let complete = n < raw.len() && !matches!(source, Source::Head(_));
    raw.truncate(n);
    let cut = !complete && lines < MIN_SAMPLE_LINES;
    input::check_text(&raw)?;
    if raw.starts_with(b"\xEF\xBB\xBF") {
        raw.drain(..3);
    }
    let cr_line_ends = layout::lone_cr_line_ends(&raw);
    if cr_line_ends {
        layout::normalise_line_ends(&mut raw, 0, &mut false);
    }
    let sep = sep_line(&raw).map(|(d, len)| {
        raw.drain(..len);
        d
    });
    // A megabyte of whitespace followed by data is left to the conversion pass.
    if complete && raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ConvertError::new(
            ErrorKind::EmptyInput,
            "the file is empty (no data, only whitespace or a byte-order mark)",
        ));
    }
    // A cut sample keeps its cut record: the fields before the cut are whole values, and
    // may be the only ones of their columns in the sample.
    if !complete && !cut {
        if let Some(p) = memchr::memrchr(b'\n', &raw) {
            raw.truncate(p + 1);
        }
    }
    if cut {
        // A cut inside a quoted field would leave the quote open, and the whole record
        // unreadable: a closing quote ends it. Anywhere else the quote is only a character
        // of the cut field, which is not used.
        raw.push(options.quote.unwrap_or(b'"'));
    }
    let checked = std::str::from_utf8(&raw);
    let valid = checked.is_ok();
    let utf8 = match checked {
        Ok(s) if s.is_ascii() => Utf8State::Ascii,
        Ok(_) => Utf8State::MultiByte,
        // Valid multi-byte UTF-8 before the first bad byte: a UTF-8 file with a stray
        // Windows-1252 value, not a Windows-1252 file.
        Err(e) if !raw[..e.valid_up_to()].is_ascii() => Utf8State::MultiByte,
        // A character cut at the end of the sample is not evidence against UTF-8.
        Err(e) if e.error_len().is_none() && !complete => Utf8State::Ascii,
        Err(_) => Utf8State::Invalid,
    };
    let text = if windows_1252 || utf8 == Utf8State::Invalid {
        encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(&raw)
            .0
            .into_owned()
            .into_bytes()
    } else if valid {
        raw
    } else {
        input::repair_utf8(&raw).0
    };
    let sample = Sample {
        text,
        sep,
        complete,
        cr_line_ends,
        cut,
    };
    Ok((sample, compression, utf8))
}

/// What the sample says about UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Utf8State {
    /// Only ASCII: no evidence either way.
    Ascii,
    /// Valid multi-byte UTF-8 before any invalid byte: the file is UTF-8.
    MultiByte,
    /// Invalid UTF-8 before any multi-byte character: the file is Windows-1252.
    Invalid,
}

/// How regular the records are with this dialect.
struct Score {
    /// Share of the table's records with its field count (see [`layout::shape`]).
    share: f64,
    /// That count.
    fields: usize,
    /// Whether some field of the sample is quoted with this dialect's quote.
    quotes_used: bool,
}

fn score(t: &Tokenizer, text: &[u8], comment: Option<u8>) -> Score {
    let recs = layout::records(t, text, DIALECT_RECORDS, comment);
    let quotes_used = recs
        .iter()
        .flat_map(|r| &r.fields)
        .any(|f| f.flags & QUOTED != 0);
    let shape = layout::shape(&recs, text);
    Score {
        share: shape.share,
        fields: shape.fields,
        quotes_used,
    }
}

/// Detects delimiter, quote and escape, honouring the forced ones.
pub(crate) fn detect_dialect(options: &ConvertOptions, text: &[u8]) -> (u8, u8, Option<u8>) {
    let delims: Vec<u8> = match options.delimiter {
        Some(d) => vec![d],
        None => vec![b',', b';', b'\t', b'|'],
    };
    let quotes: Vec<u8> = match options.quote {
        Some(q) => vec![q],
        None => vec![b'"', b'\''],
    };
    let escapes: Vec<Option<u8>> = match options.escape {
        Escape::Doubled => vec![None],
        Escape::Char(c) => vec![Some(c)],
        Escape::Auto => {
            // `\"` followed by more text (not a field end) is a backslash-escaped quote; then
            // backslash escaping is tried first and wins ties, as doubled quotes would read
            // such fields with the same field counts.
            let evidence = memchr::memchr_iter(b'\\', text).any(|i| {
                matches!(text.get(i + 1), Some(b'"' | b'\''))
                    && text.get(i + 2).is_some_and(|c| !b",;\t|\r\n".contains(c))
            });
            if evidence {
                vec![Some(b'\\'), None]
            } else {
                vec![None]
            }
        }
    };
    let mut best = (delims[0], quotes[0], escapes[0]);
    let mut best_score = (-1.0, 0usize);
    let mut best_share = 0.0;
    let mut scored = Vec::new();
    // Candidates are in order of preference, so only a strictly better score replaces one.
    for &q in &quotes {
        for &e in &escapes {
            for &d in &delims {
                if d == q || Some(d) == e {
                    continue;
                }
                let candidate = score(&Tokenizer::new(d, q, e), text, options.comment);
                // Several fields beat one; then regularity decides.
                let s = (
                    if candidate.fields > 1 {
                        candidate.share
                    } else {
                        candidate.share / 100.0
                    },
                    candidate.fields,
                );
                if s.0 > best_score.0 + 1e-9
                    || ((s.0 - best_score.0).abs() <= 1e-9 && s.1 > best_score.1 && e.is_none())
                {
                    best_score = s;
                    best_share = candidate.share;
                    best = (d, q, e);
                }
                scored.push(((d, q, e), candidate));
            }
        }
    }
    // `"Silva, Ana"` in a one-column file: read with `'` as the quote, the commas split some
    // records in two, which looks like more fields; read with `"`, every record is one
    // field. When another quote character makes the same delimiter perfectly regular, and the
    // file does use that quote, the irregular reading was the quote's fault.
    if best_share < 1.0 {
        let regular = scored.iter().find(|((d, q, e), score)| {
            *d == best.0 && *q != best.1 && *e == best.2 && score.quotes_used && score.share >= 1.0
        });
        if let Some((dialect, _)) = regular {
            best = *dialect;
        }
    }
    best
}

const AMBIGUOUS_NOTE: &str = "kept as text: values like `1.234` could use `.` as the decimal \
     separator or as a thousands separator, and other columns use a decimal comma; set \
     `decimal_separator` or a `schema` type for this column";

/// Names from the header row: empty ones get `column_N`, duplicates a `_2`, `_3`… suffix.
fn column_names(header: Option<SampledRecord>, n: usize) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(n);
    for i in 0..n {
        let raw = header
            .as_ref()
            .and_then(|h| h.get(i))
            .map(|b| String::from_utf8_lossy(b).trim().to_string())
            .unwrap_or_default();
        let base = if raw.is_empty() {
            format!("column_{}", i + 1)
        } else {
            raw
        };
        let mut name = base.clone();
        let mut k = 2;
        while names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        names.push(name);
    }
    names
}

/// Reads the sample and decides everything that can be decided before the real pass.
/// `encoding_override` replaces the options' encoding when a pass found non-UTF-8 bytes late.
pub(crate) fn plan(
    source: &Source,
    options: &ConvertOptions,
    encoding_override: Option<Encoding>,
) -> Result<Plan, ConvertError> {
    let encoding = encoding_override.unwrap_or(options.encoding);
    let span = tracing::info_span!(
        "csv.detect_dialect",
        parquetry.csv.delimiter = Empty,
        parquetry.csv.quote = Empty,
        parquetry.csv.header = Empty,
        parquetry.csv.encoding = Empty,
        parquetry.csv.decimal_separator = Empty,
    );
    let guard = span.enter();
    let (sample, input_compression, utf8_state) =
        read_sample(source, encoding == Encoding::Windows1252, options)?;
    let windows_1252 = match encoding {
        Encoding::Auto => utf8_state == Utf8State::Invalid,
        Encoding::Utf8 => false,
        Encoding::Windows1252 => true,
    };
    let table = locate::table(&sample.text, sample.sep, options);
    let (delimiter, quote, escape) = table.dialect;
    let tok = Tokenizer::new(delimiter, quote, escape);
    let mut values = sampled_values(&tok, &sample.text[table.start..], options.comment);
    if sample.cut && values.len() > 1 {
        // The last record's last field was cut at the end of the sample: not a value.
        if let Some(last) = values.last_mut() {
            last.pop();
        }
    }
    if table.shape.header_short {
        // The row-name column has no name: `column_1`.
        if let Some(header) = values.first_mut() {
            header.insert(0, Cow::Borrowed(&[]));
        }
    }
    let ncols = values.first().map_or(0, |r| r.len());
    if sample.complete {
        locate::drop_footer(&mut values, ncols);
    }
    let (decimals, decimal) = match options.decimal_separator {
        Some(d) => (vec![ColumnDecimal::Sep(d); ncols], d),
        // In a comma-delimited file a comma inside a number would need quotes: not seen.
        None if delimiter == b',' => (vec![ColumnDecimal::Sep(b'.'); ncols], b'.'),
        None => decimal::detect(&values, ncols),
    };
    let nulls: Vec<Vec<u8>> = options
        .null_values
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    let classifier = Classifier {
        options,
        decimals: &decimals,
        nulls: &nulls,
    };
    // The records after the first one; the first joins them unless it is a header.
    let mut evidence = vec![ColumnEvidence::default(); ncols];
    for record in values.iter().skip(1) {
        classifier.observe(&mut evidence, record);
    }
    let header = table.shape.header_short
        || options.header.unwrap_or_else(|| match values.first() {
            Some(first) => classifier.is_header(first, &evidence),
            None => true,
        });
    if let Some(first) = values.first().filter(|_| !header) {
        classifier.observe(&mut evidence, first);
    }
    span.record("parquetry.csv.delimiter", (delimiter as char).to_string());
    span.record("parquetry.csv.quote", (quote as char).to_string());
    span.record("parquetry.csv.header", header);
    span.record("parquetry.csv.encoding", encoding_name(windows_1252));
    span.record(
        "parquetry.csv.decimal_separator",
        (decimal as char).to_string(),
    );
    drop(guard);

    let infer = tracing::info_span!(
        "csv.infer_schema",
        parquetry.columns = ncols as i64,
        parquetry.sample_rows = Empty
    );
    let _g = infer.enter();
    infer.record(
        "parquetry.sample_rows",
        values.len().saturating_sub(header as usize) as i64,
    );
    let names = column_names(
        if header {
            values.first().cloned()
        } else {
            None
        },
        ncols,
    );
    let mut columns: Vec<ColumnPlan> = names
        .into_iter()
        .enumerate()
        .map(|(j, name)| {
            let ambiguous = decimals[j] == ColumnDecimal::Ambiguous;
            let sampled = evidence[j].kind(&options.timestamp_formats);
            ColumnPlan {
                name,
                kind: sampled.filter(|_| !ambiguous).unwrap_or(Kind::Utf8),
                decimal: classifier.separator(j),
                source: TypeSource::Sampled,
                mostly_unique: infer::mostly_unique(&values, j, header),
                note: ambiguous.then(|| AMBIGUOUS_NOTE.to_string()),
            }
        })
        .collect();
    infer::settle_day_first(
        &mut columns,
        &evidence,
        delimiter == b';' || decimal == b',',
    );
    infer::note_leading_zeros(&mut columns, &evidence);
    infer::force_schema(&mut columns, options)?;
    Ok(Plan {
        delimiter,
        quote,
        escape,
        header,
        skip_lines: u64::from(sample.sep.is_some()) + table.lines_before,
        lines_before_table: table.lines_before,
        first_skipped: table.first_skipped,
        comment: options.comment,
        cr_line_ends: sample.cr_line_ends,
        skip_bad_rows: options.on_error == OnError::Skip,
        pad_short_rows: options.ragged == Ragged::Pad,
        windows_1252,
        utf8_forced: encoding == Encoding::Utf8,
        utf8_lenient: encoding == Encoding::Auto && utf8_state == Utf8State::MultiByte,
        decimal,
        decimal_forced: options.decimal_separator.is_some(),
        input_compression,
        columns,
        null_values: plan::NullSet::new(nulls),
        date_formats: first_formats(&options.date_formats),
        timestamp_formats: first_formats(&options.timestamp_formats),
        sample_cut: sample.cut.then(|| SAMPLE_CUT_NOTE.to_string()),
    })
}

const SAMPLE_CUT_NOTE: &str = "the first records are longer than the sample that types \
     are inferred from (16 MiB of a file, or the bytes an inspection reads): it was cut \
     inside a field, and columns were typed from the values before the cut (a column with \
     none is text); set `schema` for the others, or inspect more bytes";

/// The values of a sampled record, borrowed from the sample unless their quotes had to be
/// undone (a value of its own for each of the sample's ~50,000 fields was a fifth of
/// detection).
pub(crate) type SampledRecord<'a> = Vec<Cow<'a, [u8]>>;

/// The values of the sample's first records, as bytes, record by record.
fn sampled_values<'a>(
    tok: &Tokenizer,
    text: &'a [u8],
    comment: Option<u8>,
) -> Vec<SampledRecord<'a>> {
    layout::records(tok, text, INFER_RECORDS + 1, comment)
        .iter()
        .map(|r| r.fields.iter().map(|f| tok.value_of(text, f)).collect())
        .collect()
}

fn encoding_name(windows_1252: bool) -> &'static str {
    if windows_1252 {
        "windows-1252"
    } else {
        "utf-8"
    }
}

/// The formats the engine tries: the first `plan::MAX_FORMATS` given.
fn first_formats(formats: &[String]) -> Vec<String> {
    formats.iter().take(plan::MAX_FORMATS).cloned().collect()
}

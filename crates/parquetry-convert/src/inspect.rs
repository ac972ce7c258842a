//! A look at a file before converting it: what the engine makes of its head (encoding,
//! dialect, the lines it skips, header, column types and why), its first rows as typed JSON,
//! and every option the conversion would use, in the form the upload takes them, so that a
//! user can change one and send them back.

use std::io::Read;

use serde::Serialize;

use crate::batch::BatchParser;
use crate::detect;
use crate::error::{ConvertError, ErrorKind};
use crate::input::{ChunkReader, InputCompression, Source};
use crate::options::{ConvertOptions, Encoding, Escape, MaxErrors, OnError, Ragged};
use crate::plan::{DateFmt, Kind, Plan, TsFmt};
use crate::report::{self, ColumnReport, DialectReport, SkippedLines};
use crate::rows_json::{rows_as_json, JsonRows};
use crate::write::Fault;

/// Most text an inspection decodes from a compressed head.
const MAX_TEXT_BYTES: usize = 16 << 20;
/// Passes to settle the types of the first rows (a wider type per pass).
const MAX_PASSES: usize = 16;

/// What the engine makes of the head of a file.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// Bytes of the file that were looked at (compressed, for gzip and zstd).
    pub bytes_read: u64,
    /// The whole file was looked at.
    pub complete: bool,
    pub dialect: DialectReport,
    pub skipped: SkippedLines,
    /// The columns, with their types and why (`type_source`, `note`).
    pub columns: Vec<ColumnReport>,
    /// The first rows, typed as the conversion would write them.
    pub preview: JsonRows,
    /// Every option the conversion would use, as `name` → value (a list for the repeatable
    /// formats), in the form `POST /v1/jobs` accepts.
    pub options: serde_json::Map<String, serde_json::Value>,
    /// Set when the head had to be cut inside its first records (fields longer than the
    /// bytes read): what that means for the types.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_cut: Option<String>,
}

/// Inspects `head`, the first bytes of a file (all of it when `complete`), and returns up to
/// `rows` typed rows.
pub fn inspect(
    head: &[u8],
    complete: bool,
    options: &ConvertOptions,
    rows: usize,
) -> Result<Inspection, ConvertError> {
    let (text, whole, compression) = decode_head(head, complete)?;
    // Inference reads the cut last line too (a head of one long row still types the fields
    // before the cut); the preview shows whole lines only.
    let source = if whole {
        Source::Text(&text)
    } else {
        Source::Head(&text)
    };
    let lines = if whole {
        &text[..]
    } else {
        &text[..memchr::memrchr(b'\n', &text).map_or(0, |end| end + 1)]
    };
    let mut plan = detect::plan(&source, options, None)?;
    plan.input_compression = compression;
    let mut passes = 0;
    let (batch, notes) = loop {
        passes += 1;
        match first_rows(&plan, lines, options) {
            Ok(parsed) => break parsed,
            Err(Fault::Widen(changes)) if passes < MAX_PASSES => {
                for (j, kind, decimal) in changes {
                    plan.columns[j].kind = kind;
                    plan.columns[j].decimal = decimal;
                    plan.columns[j].source = crate::TypeSource::Widened;
                }
            }
            Err(Fault::NotUtf8 { .. }) if !plan.windows_1252 && passes < MAX_PASSES => {
                plan = detect::plan(&source, options, Some(Encoding::Windows1252))?;
                plan.input_compression = compression;
            }
            Err(Fault::Error(e)) => return Err(e),
            Err(_) => {
                return Err(ConvertError::new(
                    ErrorKind::Internal,
                    "type inference did not settle",
                ))
            }
        }
    };
    Ok(Inspection {
        bytes_read: head.len() as u64,
        complete,
        dialect: report::dialect_report(&plan, 0),
        skipped: SkippedLines {
            before_table: plan.lines_before_table,
            first_before_table: plan.first_skipped.clone(),
            blank: notes.blank_lines,
            comments: notes.comment_lines,
            footer: notes.footer_lines,
            footer_lines: notes.footer.clone(),
        },
        columns: plan
            .columns
            .iter()
            .map(|c| report::column_report(c, None))
            .collect(),
        preview: rows_as_json(&batch, rows),
        options: options_of(&plan, options),
        sample_cut: plan.sample_cut.clone(),
    })
}

/// The text of the head, decompressed when it is gzip or zstd (a cut stream ends where it
/// was cut), and whether it is the whole file's (else its last line is cut).
/// The text of the head (decompressed when it is gzip or zstd), whether it is the whole
/// file, and the compression found: the plan is made from the text, so it cannot see it.
fn decode_head(
    head: &[u8],
    complete: bool,
) -> Result<(Vec<u8>, bool, InputCompression), ConvertError> {
    if head.starts_with(b"PK\x03\x04") {
        return Err(ConvertError::new(
            ErrorKind::InvalidOption,
            "a zip archive lists its files at its end, so its start cannot be inspected; \
             inspect the CSV inside it, or convert the archive (with `member` when it holds \
             several files)",
        ));
    }
    let (decoder, compression): (Option<Box<dyn Read + '_>>, _) = if head.starts_with(&[0x1f, 0x8b])
    {
        let decoder = flate2::read::MultiGzDecoder::new(head);
        (Some(Box::new(decoder)), InputCompression::Gzip)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        (
            Some(Box::new(zstd::Decoder::new(head)?)),
            InputCompression::Zstd,
        )
    } else {
        (None, InputCompression::None)
    };
    let (text, whole) = match decoder {
        None => (head.to_vec(), complete),
        Some(decoder) => {
            let mut text = Vec::new();
            let mut limited = decoder.take(MAX_TEXT_BYTES as u64);
            // A head cut in the middle of the compressed stream fails at the cut: what was
            // decoded before it is the text to look at.
            let ended = limited.read_to_end(&mut text).is_ok();
            let whole = complete && ended && text.len() < MAX_TEXT_BYTES;
            (text, whole)
        }
    };
    Ok((text, whole, compression))
}

/// The first chunk of the table, parsed with `plan`.
fn first_rows(
    plan: &Plan,
    text: &[u8],
    options: &ConvertOptions,
) -> Result<(arrow_array::RecordBatch, crate::rejects::ChunkNotes), Fault> {
    let (reader, _) = Source::Text(text).open(options.member.as_deref())?;
    let mut chunks = ChunkReader::new(
        reader,
        plan.windows_1252,
        plan.utf8_forced && !plan.skip_bad_rows,
        plan.delimiter,
        plan.quote,
        plan.escape,
        text.len().max(1),
    )
    .with_layout(plan.skip_lines, plan.cr_line_ends);
    let schema = plan.schema();
    match chunks.next_chunk()? {
        Some(chunk) => BatchParser::new(plan).parse(plan, &schema, &chunk),
        None => Ok((
            arrow_array::RecordBatch::new_empty(schema),
            Default::default(),
        )),
    }
}

/// The options a conversion of the file would use, as the upload takes them.
fn options_of(plan: &Plan, given: &ConvertOptions) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let mut set = |name: &str, value: String| {
        out.insert(name.to_string(), value.into());
    };
    set("delimiter", char_option(plan.delimiter));
    set("quote", char_option(plan.quote));
    set(
        "escape",
        match (plan.escape, given.escape) {
            (Some(e), _) => char_option(e),
            (None, Escape::Auto | Escape::Doubled | Escape::Char(_)) => "doubled".into(),
        },
    );
    set("header", plan.header.to_string());
    set(
        "encoding",
        if plan.windows_1252 {
            "windows-1252"
        } else {
            "utf-8"
        }
        .into(),
    );
    set("decimal_separator", char_option(plan.decimal));
    set("skip_rows", plan.skip_lines.to_string());
    if let Some(c) = plan.comment {
        set("comment", char_option(c));
    }
    set("null_values", given.null_values.join(","));
    let schema: Vec<String> = plan
        .columns
        .iter()
        .filter(|c| !c.name.contains([',', '(', ')']))
        .map(|c| format!("{}:{}", c.name, type_name(c.kind)))
        .collect();
    set("schema", schema.join(","));
    set(
        "on_error",
        match given.on_error {
            OnError::Fail => "fail",
            OnError::Skip => "skip",
        }
        .into(),
    );
    if let Some(max) = given.max_errors {
        set(
            "max_errors",
            match max {
                MaxErrors::Count(n) => n.to_string(),
                MaxErrors::Percent(p) => format!("{p}%"),
            },
        );
    }
    if given.ragged == Ragged::Pad {
        set("ragged", "pad".into());
    }
    let formats = date_formats(plan, given);
    if !formats.is_empty() {
        out.insert("date_format".into(), formats.into());
    }
    if !given.timestamp_formats.is_empty() {
        out.insert(
            "timestamp_format".into(),
            given.timestamp_formats.clone().into(),
        );
    }
    out
}

/// The date formats a forced `date` or `timestamp` type needs to read the columns the way
/// inference did: a forced type tries ISO, these, then day first.
fn date_formats(plan: &Plan, given: &ConvertOptions) -> Vec<String> {
    let mut formats = given.date_formats.clone();
    let month_first = plan.columns.iter().any(|c| {
        matches!(
            c.kind,
            Kind::Date(DateFmt::MonthFirst)
                | Kind::Timestamp {
                    fmt: TsFmt::MonthFirst,
                    ..
                }
        )
    });
    if month_first && formats.is_empty() {
        formats.push("%m/%d/%Y".into());
    }
    formats
}

/// A column type as the `schema` option spells it.
fn type_name(kind: Kind) -> String {
    match kind {
        Kind::Utf8 => "string".into(),
        Kind::Int64 => "int64".into(),
        Kind::Float64 => "float64".into(),
        Kind::Boolean => "boolean".into(),
        Kind::Date(_) => "date".into(),
        Kind::Timestamp { utc: false, .. } => "timestamp".into(),
        Kind::Timestamp { utc: true, .. } => "timestamptz".into(),
        Kind::Decimal(p, s) => format!("decimal({p},{s})"),
    }
}

/// A dialect character as an option value (`tab` for a tab).
fn char_option(b: u8) -> String {
    if b == b'\t' {
        "tab".into()
    } else {
        (b as char).to_string()
    }
}

//! CSV to Arrow to Parquet conversion: no HTTP, no SQL, no async runtime.
//!
//! The entry point is [`convert_file`]. A conversion samples the start of the file to detect
//! the dialect and the column types, then streams the whole file through chunked parsing and
//! Parquet encoding. A value deep in the file that breaks a sampled type widens that column
//! and restarts the pass, so inference never fails a job late.

mod batch;
mod decimal;
mod detect;
mod error;
mod input;
mod options;
mod pipeline;
mod plan;
mod report;
mod tokenize;
mod values;
mod write;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use tracing::field::Empty;

pub use error::{ConvertError, ErrorKind};
pub use options::{
    Codec, ColumnType, ConvertOptions, Encoding, Escape, OptionError, DEFAULT_NULL_VALUES,
};
pub use report::{ColumnReport, ConversionReport, DialectReport, TypeSource};

use plan::Kind;
use write::PassFault;

/// A column can widen at most a few steps (e.g. Int64 -> Float64 -> Utf8), so this bounds the
/// passes of any file with a generous margin.
const MAX_PASSES: usize = 64;

/// Converts a CSV file (plain, gzip or zstd — recognised by magic bytes) into a Parquet file.
/// `cancel` is polled often (at least every batch, i.e. well under 100 ms of work); when it turns
/// true the conversion stops with ErrorKind::Canceled. On any error the partially written output
/// file is removed (never leave a half-written Parquet behind).
pub fn convert_file(
    input: &Path,
    output: &Path,
    options: &ConvertOptions,
    cancel: &AtomicBool,
) -> Result<ConversionReport, ConvertError> {
    let span = tracing::info_span!(
        "parquet.convert",
        rows = Empty,
        row_groups = Empty,
        bytes_in = Empty,
        bytes_out = Empty,
        codec = Empty,
        replans = Empty,
    );
    let _guard = span.enter();
    let mut created = false;
    let result = convert_inner(input, output, options, cancel, &span, &mut created);
    if result.is_err() && created {
        // Never leave a half-written Parquet behind.
        let _ = std::fs::remove_file(output);
    }
    result
}

fn convert_inner(
    input: &Path,
    output: &Path,
    options: &ConvertOptions,
    cancel: &AtomicBool,
    span: &tracing::Span,
    created: &mut bool,
) -> Result<ConversionReport, ConvertError> {
    let (_, codec_name) = write::codec(options)?;
    span.record("codec", codec_name.as_str());
    let input_bytes = std::fs::metadata(input)
        .map_err(|e| {
            ConvertError::new(
                ErrorKind::Io,
                format!("cannot read input {}: {e}", input.display()),
            )
        })?
        .len();
    span.record("bytes_in", input_bytes);
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(ConvertError::canceled());
    }
    let mut plan = detect::plan(input, options, None)?;
    let mut replans = 0usize;
    let stats = loop {
        *created = true;
        match pipeline::run(&plan, input, output, options, cancel) {
            Ok(stats) => break stats,
            Err(PassFault::Error(e)) => return Err(e),
            Err(PassFault::Widen(changes)) => {
                for (j, kind, decimal) in changes {
                    tracing::info!(column = %plan.columns[j].name, to = %kind.data_type(), "widening column type");
                    plan.columns[j].kind = kind;
                    plan.columns[j].decimal = decimal;
                    plan.columns[j].source = TypeSource::Widened;
                }
            }
            Err(PassFault::NotUtf8) if input::utf8_before_invalid(input)? => {
                // Earlier rows are valid multi-byte UTF-8: re-decoding them would turn every
                // `São` into `SÃ£o`. Only the values that are not UTF-8 are read as Windows-1252.
                tracing::info!(
                    "UTF-8 input with values that are not UTF-8: reading those as Windows-1252"
                );
                plan.utf8_lenient = true;
            }
            Err(PassFault::NotUtf8) => {
                tracing::info!("input is not UTF-8: re-planning as Windows-1252");
                let widened: Vec<_> = plan
                    .columns
                    .iter()
                    .map(|c| (c.kind, c.decimal, c.source))
                    .collect();
                plan = detect::plan(input, options, Some(Encoding::Windows1252))?;
                // Keep what earlier passes learnt about late values.
                for (c, (kind, decimal, source)) in plan.columns.iter_mut().zip(widened) {
                    if source == TypeSource::Widened {
                        c.kind = kind;
                        c.decimal = decimal;
                        c.source = source;
                    }
                }
            }
        }
        replans += 1;
        if replans >= MAX_PASSES {
            return Err(ConvertError::new(
                ErrorKind::Io,
                "type inference did not settle",
            ));
        }
    };
    span.record("replans", replans);
    if stats.windows_1252_values > 0 {
        tracing::warn!(
            values = stats.windows_1252_values,
            "values that are not UTF-8 were read as Windows-1252"
        );
    }
    let output_bytes = std::fs::metadata(output)?.len();
    span.record("rows", stats.rows);
    span.record("row_groups", stats.row_groups);
    span.record("bytes_out", output_bytes);
    let char_name = |b: u8| {
        if b == b'\t' {
            "\\t".to_string()
        } else {
            (b as char).to_string()
        }
    };
    Ok(ConversionReport {
        rows: stats.rows,
        input_bytes,
        output_bytes,
        row_groups: stats.row_groups,
        compression: codec_name,
        columns: plan
            .columns
            .iter()
            .map(|c| ColumnReport {
                name: c.name.clone(),
                arrow_type: c.kind.data_type().to_string(),
                nullable: true,
                type_source: c.source,
                decimal_separator: matches!(
                    c.kind,
                    Kind::Int64 | Kind::Float64 | Kind::Decimal(..)
                )
                .then(|| char_name(c.decimal)),
                note: c.note.clone(),
            })
            .collect(),
        dialect: DialectReport {
            delimiter: char_name(plan.delimiter),
            quote: char_name(plan.quote),
            escape: char_name(plan.escape.unwrap_or(plan.quote)),
            header: plan.header,
            encoding: if plan.windows_1252 {
                "windows-1252"
            } else {
                "utf-8"
            }
            .into(),
            windows_1252_values: stats.windows_1252_values,
            decimal_separator: char_name(plan.decimal),
            input_compression: plan.input_compression.name().into(),
        },
    })
}

//! CSV to Arrow to Parquet conversion: no HTTP, no SQL, no async runtime.
//!
//! The entry point is [`convert_file`]. A conversion samples the start of the file to detect
//! the dialect and the column types, then streams the whole file through chunked parsing and
//! Parquet encoding. A value deep in the file that breaks a sampled type widens that column
//! and restarts the pass, so inference never fails a job late.

mod arrival;
mod bad_rows;
mod batch;
mod chunk;
mod columns;
mod cut;
mod decimal;
mod detect;
mod digits;
mod encode;
mod error;
mod field_table;
mod float;
mod infer;
mod input;
mod input_open;
mod inspect;
mod layout;
mod locate;
mod memory;
mod option_pairs;
mod option_values;
mod options;
mod pipeline;
mod plan;
mod profile;
mod progress;
mod rejects;
mod report;
mod rows_json;
mod scan;
#[doc(hidden)]
pub mod stages;
mod tokenize;
mod values;
mod write;
mod zip_input;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arrival::InputFile;

use tracing::field::Empty;

pub use arrival::{Arrival, Written};
pub use error::{ConvertError, ErrorKind};
pub use inspect::{inspect, Inspection};
pub use memory::release_free_memory;
pub use option_pairs::{
    OptionsRefused, MAX_OPTION_PAIRS, MAX_OPTION_VALUE_BYTES, MAX_SCHEMA_BYTES,
};
pub use options::{
    Codec, ColumnType, ConvertOptions, Encoding, Escape, MaxErrors, OnError, OptionError, Ragged,
    DEFAULT_NULL_VALUES,
};
pub use progress::{Progress, ProgressSnapshot, Stage};
pub use rejects::REJECTS_HEADER;
pub use report::{
    ColumnProfile, ColumnReport, ConversionReport, DialectReport, SkippedLines, TypeSource,
};
pub use rows_json::{rows_as_json, JsonColumn, JsonRows, PREVIEW_TEXT_CHARS};

use write::Fault;

/// A column can widen at most a few steps (e.g. Int64 -> Float64 -> Utf8), so this bounds the
/// passes of any file with a generous margin.
const MAX_PASSES: usize = 64;

/// Converts a CSV file (plain, gzip, zstd or a zip archive — recognised by magic bytes) into a
/// Parquet file. Of a zip archive one member is converted, streamed (stored or deflate): the only
/// data file, or the one the `member` option names (ErrorKind::ZipMemberRequired, listing them,
/// when several could be meant); `member` on input that is not a zip is an invalid option.
/// `cancel` is polled often (at least every batch, i.e. well under 100 ms of work); when it turns
/// true the conversion stops with ErrorKind::Canceled. On any error the partially written output
/// file is removed (never leave a half-written Parquet behind).
pub fn convert_file(
    input: &Path,
    output: &Path,
    options: &ConvertOptions,
    cancel: &AtomicBool,
) -> Result<ConversionReport, ConvertError> {
    convert(input, output, None, options, cancel)
}

/// [`convert_file`], also writing the rows left out by `on_error=skip` to `rejects` as CSV
/// (`line,column,code,message,raw`). The rejects file exists afterwards only when some row
/// was rejected, also when too many were and the conversion failed with
/// ErrorKind::TooManyErrors.
pub fn convert(
    input: &Path,
    output: &Path,
    rejects: Option<&Path>,
    options: &ConvertOptions,
    cancel: &AtomicBool,
) -> Result<ConversionReport, ConvertError> {
    convert_observed(
        input,
        output,
        rejects,
        options,
        cancel,
        &Progress::default(),
    )
}

/// [`convert`], counting in `progress` how far it got, for another thread to sample while
/// it runs (see [`Progress::snapshot`]).
pub fn convert_observed(
    input: &Path,
    output: &Path,
    rejects: Option<&Path>,
    options: &ConvertOptions,
    cancel: &AtomicBool,
    progress: &Progress,
) -> Result<ConversionReport, ConvertError> {
    let control = (cancel, progress);
    convert_input(
        InputFile::Complete(input),
        (output, rejects),
        options,
        control,
    )
}

/// [`convert_observed`] of a file that is still being written (see [`Arrival`]): the
/// conversion reads it as it grows, so it can finish soon after the last byte arrives. A
/// zip archive is only read once complete (its directory is at its end). The progress has a
/// total once the caller says the input is complete ([`Progress::input_complete`]) and the
/// input is plain. A writer that gives up fails the conversion with ErrorKind::Io.
pub fn convert_arriving(
    input: &Arc<dyn Arrival>,
    output: &Path,
    rejects: Option<&Path>,
    options: &ConvertOptions,
    cancel: &AtomicBool,
    progress: &Progress,
) -> Result<ConversionReport, ConvertError> {
    let control = (cancel, progress);
    convert_input(
        InputFile::Arriving(input),
        (output, rejects),
        options,
        control,
    )
}

fn convert_input(
    input: InputFile,
    (output, rejects): (&Path, Option<&Path>),
    options: &ConvertOptions,
    (cancel, progress): (&AtomicBool, &Progress),
) -> Result<ConversionReport, ConvertError> {
    let span = tracing::info_span!(
        "parquet.convert",
        parquetry.rows = Empty,
        parquetry.row_groups = Empty,
        parquetry.input.bytes = Empty,
        parquetry.output.bytes = Empty,
        parquetry.codec = Empty,
        parquetry.replans = Empty,
        parquetry.rows_rejected = Empty,
    );
    let _guard = span.enter();
    memory::keep_freed_buffers();
    let mut created = false;
    let result = convert_inner(
        input,
        (output, rejects),
        options,
        (cancel, progress),
        &span,
        &mut created,
    );
    if result.is_err() && created {
        // Never leave a half-written Parquet behind.
        let _ = std::fs::remove_file(output);
    }
    result
}

fn convert_inner(
    input: InputFile,
    (output, rejects): (&Path, Option<&Path>),
    options: &ConvertOptions,
    (cancel, progress): (&AtomicBool, &Progress),
    span: &tracing::Span,
    created: &mut bool,
) -> Result<ConversionReport, ConvertError> {
    let (_, codec_name) = write::codec(options)?;
    span.record("parquetry.codec", codec_name.as_str());
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(ConvertError::canceled());
    }
    progress.set_stage(progress::Stage::Detecting);
    let mut plan = detect::plan(&input::Source::File(input), options, None)?;
    // A pass reads the file's bytes when it is plain; a compressed file's
    // decompressed size is not known until it is read, an arriving file's until it is complete.
    match (plan.input_compression, input) {
        (input::InputCompression::None, InputFile::Complete(_)) => {
            progress.set_total_bytes(input_bytes(input)?);
        }
        (input::InputCompression::None, InputFile::Arriving(_)) => progress.set_arriving_plain(),
        _ => {}
    }
    let (stats, replans) = run_passes(
        &mut plan,
        input,
        (output, rejects),
        options,
        (cancel, progress),
        created,
    )?;
    progress.set_stage(progress::Stage::Finished);
    // An arriving input is complete once a pass has read all of it.
    let input_bytes = input_bytes(input)?;
    // Integers as i64: tracing-opentelemetry exports u64 and usize fields as strings.
    span.record("parquetry.input.bytes", input_bytes as i64);
    span.record("parquetry.replans", replans as i64);
    if stats.windows_1252_values > 0 {
        tracing::warn!(
            values = stats.windows_1252_values,
            "values that are not UTF-8 were read as Windows-1252"
        );
    }
    let output_bytes = std::fs::metadata(output)?.len();
    span.record("parquetry.rows", stats.rows as i64);
    span.record("parquetry.rows_rejected", stats.lines.rows_rejected as i64);
    span.record("parquetry.row_groups", stats.row_groups as i64);
    span.record("parquetry.output.bytes", output_bytes as i64);
    Ok(report::of_conversion(
        &plan,
        &stats,
        input_bytes,
        output_bytes,
        codec_name,
    ))
}

/// The input file's length.
fn input_bytes(input: InputFile) -> Result<u64, ConvertError> {
    let length = input
        .open()
        .and_then(|file| file.metadata())
        .map(|m| m.len());
    length.map_err(|e| {
        let what = input.describe();
        ConvertError::new(ErrorKind::Io, format!("cannot read input {what}: {e}"))
    })
}

/// Runs passes until one completes: each fault that inference can learn from
/// (a wider type, a non-UTF-8 file) adjusts the plan for the next pass.
/// Returns the last pass's figures and how many passes were redone.
fn run_passes(
    plan: &mut plan::Plan,
    input: InputFile,
    output: (&Path, Option<&Path>),
    options: &ConvertOptions,
    control: (&AtomicBool, &Progress),
    created: &mut bool,
) -> Result<(write::PassStats, usize), ConvertError> {
    for replans in 0..MAX_PASSES {
        *created = true;
        match pipeline::run(plan, input, output, options, control) {
            Ok(stats) => return Ok((stats, replans)),
            Err(Fault::Error(e)) => return Err(e),
            Err(Fault::Widen(changes)) => {
                for (j, kind, decimal) in changes {
                    tracing::info!(column = %plan.columns[j].name, to = %kind.data_type(), "widening column type");
                    plan.columns[j].kind = kind;
                    plan.columns[j].decimal = decimal;
                    plan.columns[j].source = TypeSource::Widened;
                }
            }
            Err(Fault::NotUtf8 { .. })
                if input::utf8_before_invalid(input, options.member.as_deref())? =>
            {
                // Earlier rows are valid multi-byte UTF-8: re-decoding them would turn every
                // `São` into `SÃ£o`. Only the values that are not UTF-8 are read as Windows-1252.
                tracing::info!(
                    "UTF-8 input with values that are not UTF-8: reading those as Windows-1252"
                );
                plan.utf8_lenient = true;
            }
            Err(Fault::NotUtf8 { .. }) => {
                tracing::info!("input is not UTF-8: re-planning as Windows-1252");
                *plan = replan_as_windows_1252(plan, input, options)?;
            }
        }
    }
    Err(ConvertError::new(
        ErrorKind::Internal,
        "type inference did not settle",
    ))
}

/// A new plan read as Windows-1252 that keeps what earlier passes learnt
/// about late values (the columns they widened).
fn replan_as_windows_1252(
    old: &plan::Plan,
    input: InputFile,
    options: &ConvertOptions,
) -> Result<plan::Plan, ConvertError> {
    let mut plan = detect::plan(
        &input::Source::File(input),
        options,
        Some(Encoding::Windows1252),
    )?;
    for (column, before) in plan.columns.iter_mut().zip(&old.columns) {
        if before.source == TypeSource::Widened {
            column.kind = before.kind;
            column.decimal = before.decimal;
            column.source = before.source;
        }
    }
    Ok(plan)
}

//! One conversion pass on several threads:
//!
//! ```text
//! reader ──chunks──▶ parsers (N) ──batches, any order──▶ coordinator (reorders, cuts row groups)
//!                                                            │ Arc<RecordBatch>
//!                                                            ▼
//!                                             column encoders (one per column group)
//!                                                            │ column chunks, tagged by row group
//!                                                            ▼
//!                                             file writer (appends row groups in order)
//! ```
//! Every channel is bounded, so a slow stage holds the others back and memory stays flat.
//! The columns of one row group are encoded and compressed in parallel (the engine's own chunk
//! writer, or parquet's `ArrowColumnWriter` for the types it leaves to parquet); the file
//! writer appends the finished column chunks while the encoders go on with the next group.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use parquet::arrow::arrow_writer::ArrowRowGroupWriterFactory;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use tracing::field::Empty;
use tracing::Span;

use crate::arrival::InputFile;
use crate::batch::BatchParser;
use crate::encode::{spawn_encoders, Encoders, Output};
use crate::error::{ConvertError, ErrorKind};
use crate::input::{self, ChunkReader};
use crate::options::{ConvertOptions, MaxErrors};
use crate::plan::{Kind, Plan};
use crate::progress::Progress;
use crate::rejects::{ChunkNotes, LineCounts, RejectsFile};
use crate::write::{writer_properties, Fault, PassStats, Widening, CHUNK_BYTES};

/// Chunks parsed at the same time. Two cores: two parsers keep one core busy parsing while
/// the encoders use the other, and the OS fills any gap.
const PARSERS: usize = 2;
/// A parsed chunk, or why it could not be: tagged with the chunk index for reordering and
/// the chunk's size in CSV bytes.
type Parsed = (u64, usize, ParseResult);
/// A chunk's batch and what else it met, or why it could not be parsed.
type ParseResult = Result<(RecordBatch, ChunkNotes), Fault>;

/// Row groups are also cut after this much CSV text, whatever `row_group_size` says: a row
/// group's encoded pages stay in memory until it closes, so wide rows would otherwise make
/// memory grow with the row width (1 M rows of 2 KiB would be gigabytes).
const ROW_GROUP_MAX_CSV_BYTES: usize = 64 << 20;

/// Wider of two widenings of the same sampled column; a column read with two decimal
/// separators in different chunks is text.
fn join(a: (Kind, u8), b: (Kind, u8)) -> (Kind, u8) {
    if a.1 != b.1 {
        return (Kind::Utf8, a.1);
    }
    (join_kind(a.0, b.0), a.1)
}

/// Wider of two kinds that both widened from the same sampled kind.
fn join_kind(a: Kind, b: Kind) -> Kind {
    match (a, b) {
        _ if a == b => a,
        (Kind::Int64, Kind::Float64) | (Kind::Float64, Kind::Int64) => Kind::Float64,
        // Both came from the same sampled date column, so the timestamp reads the dates too.
        (Kind::Date(_), ts @ Kind::Timestamp { utc: false, .. })
        | (ts @ Kind::Timestamp { utc: false, .. }, Kind::Date(_)) => ts,
        _ => Kind::Utf8,
    }
}

fn merge_widenings(into: &mut Vec<Widening>, more: Vec<Widening>) {
    for (j, k, d) in more {
        match into.iter_mut().find(|(c, _, _)| *c == j) {
            Some(w) => (w.1, w.2) = join((w.1, w.2), (k, d)),
            None => into.push((j, k, d)),
        }
    }
}

/// Runs one full pass over the input with `plan`, writing `output` from scratch: a reader
/// thread cuts the input into chunks, `PARSERS` threads turn chunks into batches, the calling
/// thread puts batches back in file order, and encoder threads encode column chunks.
pub(crate) fn run(
    plan: &Plan,
    input_path: InputFile,
    (output, rejects_path): (&Path, Option<&Path>),
    options: &ConvertOptions,
    (cancel, progress): (&AtomicBool, &Progress),
) -> Result<PassStats, Fault> {
    progress.start_pass();
    // The pass as a stage of its own (parse and encode): most of a conversion's time.
    let pass = tracing::info_span!(
        "csv.parse_encode",
        parquetry.pass = progress.snapshot().passes as i64,
        parquetry.rows = Empty,
        parquetry.row_groups = Empty,
        parquetry.bytes_read = Empty,
    );
    let _entered = pass.enter();
    let stats = run_pass(
        plan,
        input_path,
        (output, rejects_path),
        options,
        (cancel, progress),
    )?;
    pass.record("parquetry.rows", stats.rows as i64);
    pass.record("parquetry.row_groups", stats.row_groups as i64);
    pass.record(
        "parquetry.bytes_read",
        progress.snapshot().bytes_read as i64,
    );
    Ok(stats)
}

/// [`run`] inside its span.
fn run_pass(
    plan: &Plan,
    input_path: InputFile,
    (output, rejects_path): (&Path, Option<&Path>),
    options: &ConvertOptions,
    (cancel, progress): (&AtomicBool, &Progress),
) -> Result<PassStats, Fault> {
    let schema = plan.schema();
    let (reader, _) = input::open(input_path, options.member.as_deref())?;
    let chunks = ChunkReader::new(
        reader,
        plan.windows_1252,
        // With `on_error=skip` each row is checked on its own, so one bad row is rejected
        // rather than its whole chunk.
        plan.utf8_forced && !plan.skip_bad_rows,
        plan.delimiter,
        plan.quote,
        plan.escape,
        CHUNK_BYTES,
    )
    .with_layout(plan.skip_lines, plan.cr_line_ends);
    let (file, moved_aside) = crate::write::create_output(output).map_err(|e| {
        ConvertError::new(
            ErrorKind::Io,
            format!("cannot create output {}: {e}", output.display()),
        )
    })?;
    let (file_writer, factory, props) = open_output(file, options, plan, &schema)?;
    let stop = AtomicBool::new(false);
    let repaired = AtomicU64::new(0);
    let flags = Flags {
        stop: &stop,
        cancel,
        progress,
        repaired: &repaired,
        span: Span::current(),
    };

    std::thread::scope(|s| {
        if let Some(previous) = moved_aside {
            // Removed beside the pass: freeing its pages takes a while.
            s.spawn(move || std::fs::remove_file(previous));
        }
        let (chunk_tx, chunk_rx) = sync_channel::<input::Chunk>(PARSERS);
        let (parsed_tx, parsed_rx) = sync_channel::<Parsed>(PARSERS);
        let (recycle_tx, recycle_rx) = sync_channel::<Vec<u8>>(PARSERS * 2 + 2);
        spawn_reader(
            s,
            chunks,
            chunk_tx,
            parsed_tx.clone(),
            recycle_rx,
            flags.clone(),
        );
        let chunk_rx = Arc::new(Mutex::new(chunk_rx));
        for _ in 0..PARSERS {
            let channels = (chunk_rx.clone(), parsed_tx.clone(), recycle_tx.clone());
            spawn_parser(s, plan, &schema, channels, flags.clone());
        }
        drop(parsed_tx);
        drop(recycle_tx);

        let output = (file_writer, factory, &props);
        let mut enc = spawn_encoders(s, plan, &schema, output, &flags.span);
        let mut lines = Lines {
            counts: LineCounts::default(),
            rejects: RejectsFile::new(rejects_path),
            max_errors: options.max_errors,
        };
        let result = coordinate(
            &mut enc,
            parsed_rx,
            options.row_group_size,
            (cancel, progress),
            &mut lines,
        );
        // Whatever happened, let every thread run to its end.
        stop.store(true, Ordering::Relaxed);
        let written = enc.close();
        // Finished first: a job failed by too many rejects still has them to show.
        let rejects_finished = lines.rejects.finish();
        let (file, row_groups) = written?;
        let rows = result?;
        rejects_finished?;
        lines.counts.check(options.max_errors, rows, true)?;
        // The reader stops at a cancel as at the end of the input: a pass
        // that saw no error may still have been cut short.
        if cancel.load(Ordering::Relaxed) {
            return Err(ConvertError::canceled().into());
        }
        progress.set_stage(crate::progress::Stage::Writing);
        let metadata = tracing::info_span!("parquet.write_footer").in_scope(|| file.close())?;
        Ok(PassStats {
            metadata,
            rows,
            row_groups,
            windows_1252_values: repaired.load(Ordering::Relaxed),
            lines: lines.counts,
        })
    })
}

/// A parser's channels: chunks in (shared by the parsers), batches out, and
/// the chunks' buffers back to the reader.
type ParserChannels = (
    Arc<Mutex<Receiver<input::Chunk>>>,
    SyncSender<Parsed>,
    SyncSender<Vec<u8>>,
);

/// What every thread of a pass shares: when to stop, and the span they report in.
#[derive(Clone)]
struct Flags<'a> {
    /// Raised by the coordinator when the pass ends, whatever the reason.
    stop: &'a AtomicBool,
    /// Raised by the caller.
    cancel: &'a AtomicBool,
    /// Bytes read and rows written, for the caller to sample.
    progress: &'a Progress,
    /// Values of a UTF-8 file that were read as Windows-1252.
    repaired: &'a AtomicU64,
    span: Span,
}

/// The Parquet writer of the output `file`. ArrowWriter embeds the Arrow schema (time
/// zones, …) in the footer; then the pass takes over its serialized writer.
fn open_output(
    file: File,
    options: &ConvertOptions,
    plan: &Plan,
    schema: &arrow_schema::SchemaRef,
) -> Result<
    (
        SerializedFileWriter<Output>,
        ArrowRowGroupWriterFactory,
        WriterProperties,
    ),
    Fault,
> {
    let props = writer_properties(options, plan)?;
    let (file, factory) = ArrowWriter::try_new(
        BufWriter::with_capacity(1 << 20, file),
        schema.clone(),
        Some(props.clone()),
    )?
    .into_serialized_writer()?;
    Ok((file, factory, props))
}

/// The reader: its faults travel with the index the next chunk would have had, so the
/// coordinator reports them in file order.
fn spawn_reader<'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    mut chunks: ChunkReader,
    chunk_tx: SyncSender<input::Chunk>,
    fault_tx: SyncSender<Parsed>,
    recycle_rx: Receiver<Vec<u8>>,
    flags: Flags<'scope>,
) {
    s.spawn(move || {
        let _g = flags.span.enter();
        loop {
            if flags.stop.load(Ordering::Relaxed) || flags.cancel.load(Ordering::Relaxed) {
                return;
            }
            while let Ok(buf) = recycle_rx.try_recv() {
                chunks.recycle(buf);
            }
            let index = chunks.next_index();
            let fault = match chunks.next_chunk() {
                Ok(Some(c)) => {
                    flags.progress.add_bytes(c.data.len() as u64);
                    if chunk_tx.send(c).is_err() {
                        return;
                    }
                    continue;
                }
                Ok(None) => return,
                Err(e) => Fault::Error(e),
            };
            let _ = fault_tx.send((index, 0, Err(fault)));
            return;
        }
    });
}

/// A parser: takes chunks, sends batches (or the fault of a chunk) with the chunk's index,
/// and gives the chunk's buffer back to the reader.
fn spawn_parser<'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    plan: &'scope Plan,
    schema: &arrow_schema::SchemaRef,
    (rx, tx, recycle): ParserChannels,
    flags: Flags<'scope>,
) {
    let schema = schema.clone();
    s.spawn(move || {
        let _g = flags.span.enter();
        let mut parser = BatchParser::new(plan);
        loop {
            let next = rx.lock().map(|r| r.recv());
            let Ok(Ok(chunk)) = next else { return };
            if flags.stop.load(Ordering::Relaxed) {
                return;
            }
            let result = parser.parse(plan, &schema, &chunk);
            if let Err(Fault::NotUtf8 { line }) = &result {
                tracing::info!(line, "bytes that are not UTF-8 found after the sample");
            }
            flags
                .repaired
                .fetch_add(parser.take_repaired(), Ordering::Relaxed);
            let (index, bytes) = (chunk.index, chunk.data.len());
            let _ = recycle.try_send(chunk.data);
            if tx.send((index, bytes, result)).is_err() {
                return;
            }
        }
    });
}

/// The lines of a pass that are not rows, in file order: counted, and the rejected ones
/// written to the rejects file as they come.
struct Lines<'a> {
    counts: LineCounts,
    rejects: RejectsFile<'a>,
    max_errors: Option<MaxErrors>,
}

impl Lines<'_> {
    fn take(&mut self, notes: &ChunkNotes) -> Result<(), ConvertError> {
        self.counts.add(notes);
        self.rejects.write(&notes.rejects)?;
        self.counts.check(self.max_errors, 0, false)
    }
}

/// Receives parsed batches, puts them back in file order and feeds the encoders.
fn coordinate(
    enc: &mut Encoders<'_>,
    parsed: Receiver<Parsed>,
    row_group_size: usize,
    (cancel, progress): (&AtomicBool, &Progress),
    lines: &mut Lines,
) -> Result<u64, Fault> {
    let mut waiting: BTreeMap<u64, (usize, ParseResult)> = BTreeMap::new();
    let mut next = 0u64;
    let mut rows = 0u64;
    let (mut in_group, mut group_bytes) = (0usize, 0usize);
    // After a type break the rest of the file is still parsed (not encoded) so that one
    // re-plan fixes every break instead of one re-plan per break.
    let mut widen: Option<Vec<Widening>> = None;
    for (index, bytes, result) in parsed {
        if cancel.load(Ordering::Relaxed) {
            return Err(ConvertError::canceled().into());
        }
        waiting.insert(index, (bytes, result));
        while let Some((bytes, result)) = waiting.remove(&next) {
            next += 1;
            let mut batch = match (result, widen.as_mut()) {
                (Ok((b, notes)), None) => {
                    lines.take(&notes)?;
                    b
                }
                (Ok(_), Some(_)) => continue,
                (Err(Fault::Widen(w)), None) => {
                    widen = Some(w);
                    continue;
                }
                (Err(Fault::Widen(w)), Some(all)) => {
                    merge_widenings(all, w);
                    continue;
                }
                (Err(Fault::NotUtf8 { .. }), Some(_)) => {
                    return Err(Fault::Widen(widen.unwrap_or_default()));
                }
                (Err(e), _) => return Err(e),
            };
            if in_group > 0 && group_bytes + bytes > ROW_GROUP_MAX_CSV_BYTES {
                enc.finish_row_group()?;
                (in_group, group_bytes) = (0, 0);
            }
            group_bytes += bytes;
            while batch.num_rows() > 0 {
                let take = (row_group_size - in_group).min(batch.num_rows());
                enc.write(batch.slice(0, take))?;
                batch = batch.slice(take, batch.num_rows() - take);
                in_group += take;
                rows += take as u64;
                progress.add_rows(take as u64);
                if in_group == row_group_size {
                    enc.finish_row_group()?;
                    (in_group, group_bytes) = (0, 0);
                }
            }
        }
    }
    if let Some(w) = widen {
        return Err(Fault::Widen(w));
    }
    if !waiting.is_empty() {
        return Err(ConvertError::new(
            ErrorKind::Io,
            "internal error: a chunk was lost between threads",
        )
        .into());
    }
    enc.finish_row_group()?;
    Ok(rows)
}

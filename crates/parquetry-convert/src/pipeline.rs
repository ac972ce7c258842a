//! One conversion pass on several threads:
//!
//! ```text
//! reader ──chunks──▶ parsers (N) ──batches, any order──▶ coordinator (reorders, cuts row groups)
//!                                                            │ Arc<RecordBatch>
//!                                                            ▼
//!                                             column encoders (one per column group)
//! ```
//! Every channel is bounded, so a slow stage holds the others back and memory stays flat.
//! Column encoders use parquet's `ArrowColumnWriter`, so the columns of one row group are
//! encoded and compressed in parallel; the coordinator appends the finished column chunks.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::FieldRef;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::file::writer::SerializedFileWriter;
use tracing::Span;

use crate::batch::{BatchParser, Fault};
use crate::error::{ConvertError, ErrorKind};
use crate::input::{self, ChunkReader};
use crate::options::ConvertOptions;
use crate::plan::{Kind, Plan};
use crate::write::{writer_properties, PassFault, PassStats, Widening, CHUNK_BYTES};

/// Chunks parsed at the same time. Two cores: two parsers keep one core busy parsing while
/// the encoders use the other, and the OS fills any gap.
const PARSERS: usize = 2;
/// More encoder threads than cores is fine (they block on their channels); beyond this many,
/// columns share a thread.
const MAX_ENCODERS: usize = 16;

type Output = BufWriter<File>;

/// A parsed chunk, or why it could not be: tagged with the chunk index for reordering and
/// the chunk's size in CSV bytes.
type Parsed = (u64, usize, Result<RecordBatch, PassFault>);

/// Row groups are also cut after this much CSV text, whatever `row_group_size` says: a row
/// group's encoded pages stay in memory until it closes, so wide rows would otherwise make
/// memory grow with the row width (1 M rows of 2 KiB would be gigabytes).
const ROW_GROUP_MAX_CSV_BYTES: usize = 64 << 20;

enum EncodeMsg {
    /// Column writers for a new row group: (column index, writer).
    Start(Vec<(usize, ArrowColumnWriter)>),
    Write(Arc<RecordBatch>),
    /// Close the row group and send the column chunks back.
    Finish,
}

type Finished = Result<Vec<(usize, ArrowColumnChunk)>, ConvertError>;

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

/// Groups columns for the encoder threads, text columns weighing more.
fn assign_columns(plan: &Plan) -> Vec<Vec<usize>> {
    let n = plan.columns.len().clamp(1, MAX_ENCODERS);
    let mut groups: Vec<(u64, Vec<usize>)> = vec![(0, Vec::new()); n];
    let mut order: Vec<(u64, usize)> = plan
        .columns
        .iter()
        .enumerate()
        .map(|(j, c)| (if c.kind == Kind::Utf8 { 4 } else { 1 }, j))
        .collect();
    order.sort_by(|a, b| b.cmp(a));
    for (w, j) in order {
        let g = groups
            .iter_mut()
            .min_by_key(|g| g.0)
            .expect("at least one group");
        g.0 += w;
        g.1.push(j);
    }
    groups
        .into_iter()
        .map(|g| g.1)
        .filter(|g| !g.is_empty())
        .collect()
}

fn encoder(fields: Vec<FieldRef>, rx: Receiver<EncodeMsg>, done: SyncSender<Finished>) {
    let mut writers: Vec<(usize, ArrowColumnWriter)> = Vec::new();
    let mut failed: Option<ConvertError> = None;
    for msg in rx {
        match msg {
            EncodeMsg::Start(w) => writers = w,
            EncodeMsg::Write(batch) => {
                if failed.is_some() {
                    continue;
                }
                for (j, w) in writers.iter_mut() {
                    let res = compute_leaves(&fields[*j], batch.column(*j))
                        .and_then(|leaves| leaves.iter().try_for_each(|l| w.write(l)));
                    if let Err(e) = res {
                        failed = Some(e.into());
                        break;
                    }
                }
            }
            EncodeMsg::Finish => {
                let result = match failed.take() {
                    Some(e) => Err(e),
                    None => std::mem::take(&mut writers)
                        .into_iter()
                        .map(|(j, w)| w.close().map(|c| (j, c)).map_err(ConvertError::from))
                        .collect(),
                };
                if done.send(result).is_err() {
                    return;
                }
            }
        }
    }
}

/// The coordinator's view of the encoders.
struct Encoders {
    groups: Vec<Vec<usize>>,
    senders: Vec<SyncSender<EncodeMsg>>,
    done: Receiver<Finished>,
    factory: ArrowRowGroupWriterFactory,
    file: SerializedFileWriter<Output>,
    row_group_open: bool,
    row_groups: usize,
}

impl Encoders {
    fn send(&self, i: usize, msg: EncodeMsg) -> Result<(), ConvertError> {
        self.senders[i]
            .send(msg)
            .map_err(|_| ConvertError::new(ErrorKind::Io, "a column encoder stopped unexpectedly"))
    }

    fn start_row_group(&mut self) -> Result<(), ConvertError> {
        let mut writers: Vec<Option<ArrowColumnWriter>> = self
            .factory
            .create_column_writers(self.row_groups)?
            .into_iter()
            .map(Some)
            .collect();
        for i in 0..self.groups.len() {
            let mine = self.groups[i]
                .iter()
                .map(|&j| (j, writers[j].take().expect("each column in one group")))
                .collect();
            self.send(i, EncodeMsg::Start(mine))?;
        }
        self.row_group_open = true;
        Ok(())
    }

    fn write(&mut self, batch: RecordBatch) -> Result<(), ConvertError> {
        if !self.row_group_open {
            self.start_row_group()?;
        }
        let batch = Arc::new(batch);
        for i in 0..self.senders.len() {
            self.send(i, EncodeMsg::Write(batch.clone()))?;
        }
        Ok(())
    }

    fn finish_row_group(&mut self) -> Result<(), ConvertError> {
        if !self.row_group_open {
            return Ok(());
        }
        for i in 0..self.senders.len() {
            self.send(i, EncodeMsg::Finish)?;
        }
        let mut chunks = Vec::new();
        for _ in 0..self.senders.len() {
            let part = self.done.recv().map_err(|_| {
                ConvertError::new(ErrorKind::Io, "a column encoder stopped unexpectedly")
            })??;
            chunks.extend(part);
        }
        chunks.sort_by_key(|(j, _)| *j);
        let mut rg = self.file.next_row_group()?;
        for (_, chunk) in chunks {
            chunk.append_to_row_group(&mut rg)?;
        }
        rg.close()?;
        self.row_group_open = false;
        self.row_groups += 1;
        Ok(())
    }
}

/// Runs one full pass over the input with `plan`, writing `output` from scratch.
pub(crate) fn run(
    plan: &Plan,
    input_path: &Path,
    output: &Path,
    options: &ConvertOptions,
    cancel: &AtomicBool,
) -> Result<PassStats, PassFault> {
    let schema = plan.schema();
    let (reader, _) = input::open(input_path)?;
    let mut chunks = ChunkReader::new(
        reader,
        plan.windows_1252,
        plan.utf8_forced,
        plan.delimiter,
        plan.quote,
        plan.escape,
        CHUNK_BYTES,
    );
    let file = File::create(output).map_err(|e| {
        ConvertError::new(
            ErrorKind::Io,
            format!("cannot create output {}: {e}", output.display()),
        )
    })?;
    let props = writer_properties(options, plan)?;
    // ArrowWriter embeds the Arrow schema (time zones, …) in the footer; then we take over.
    let (file_writer, factory) = ArrowWriter::try_new(
        BufWriter::with_capacity(1 << 20, file),
        schema.clone(),
        Some(props),
    )?
    .into_serialized_writer()?;
    let row_group_size = options.row_group_size;
    let stop = AtomicBool::new(false);
    let repaired = AtomicU64::new(0);
    let parent = Span::current();

    std::thread::scope(|s| {
        let (chunk_tx, chunk_rx) = sync_channel::<input::Chunk>(PARSERS);
        let (parsed_tx, parsed_rx) = sync_channel::<Parsed>(PARSERS);
        let (recycle_tx, recycle_rx) = sync_channel::<Vec<u8>>(PARSERS * 2 + 2);
        let (stop, repaired) = (&stop, &repaired);

        // Reader: its faults travel with the index the next chunk would have had, so the
        // coordinator reports them in file order.
        let reader_tx = parsed_tx.clone();
        let span = parent.clone();
        s.spawn(move || {
            let _g = span.enter();
            loop {
                if stop.load(Ordering::Relaxed) || cancel.load(Ordering::Relaxed) {
                    return;
                }
                while let Ok(buf) = recycle_rx.try_recv() {
                    chunks.recycle(buf);
                }
                let index = chunks.next_index();
                let fault = match chunks.next_chunk() {
                    Ok(Some(c)) => {
                        if chunk_tx.send(c).is_err() {
                            return;
                        }
                        continue;
                    }
                    Ok(None) => return,
                    Err(e) => PassFault::Error(e),
                };
                let _ = reader_tx.send((index, 0, Err(fault)));
                return;
            }
        });

        let chunk_rx = Arc::new(Mutex::new(chunk_rx));
        for _ in 0..PARSERS {
            let (rx, tx, recycle, span) = (
                chunk_rx.clone(),
                parsed_tx.clone(),
                recycle_tx.clone(),
                parent.clone(),
            );
            let schema = schema.clone();
            s.spawn(move || {
                let _g = span.enter();
                let mut parser = BatchParser::new(plan);
                loop {
                    let next = rx.lock().map(|r| r.recv());
                    let Ok(Ok(chunk)) = next else { return };
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let result = parser.parse(plan, &schema, &chunk).map_err(|f| match f {
                        Fault::Error(e) => PassFault::Error(e),
                        Fault::Widen(w) => PassFault::Widen(w),
                        Fault::NotUtf8 { line } => {
                            tracing::info!(line, "bytes that are not UTF-8 found after the sample");
                            PassFault::NotUtf8
                        }
                    });
                    repaired.fetch_add(parser.take_repaired(), Ordering::Relaxed);
                    let (index, bytes) = (chunk.index, chunk.data.len());
                    let _ = recycle.try_send(chunk.data);
                    if tx.send((index, bytes, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(parsed_tx);
        drop(recycle_tx);

        let groups = assign_columns(plan);
        let (done_tx, done_rx) = sync_channel::<Finished>(groups.len());
        let mut senders = Vec::with_capacity(groups.len());
        for _ in &groups {
            let (tx, rx) = sync_channel::<EncodeMsg>(2);
            let fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
            let (done, span) = (done_tx.clone(), parent.clone());
            s.spawn(move || {
                let _g = span.enter();
                encoder(fields, rx, done)
            });
            senders.push(tx);
        }
        let mut enc = Encoders {
            groups,
            senders,
            done: done_rx,
            factory,
            file: file_writer,
            row_group_open: false,
            row_groups: 0,
        };
        let result = coordinate(&mut enc, parsed_rx, row_group_size, cancel);
        // Whatever happened, let every thread run to its end.
        stop.store(true, Ordering::Relaxed);
        let Encoders {
            senders,
            file,
            row_groups,
            ..
        } = enc;
        drop(senders);
        let rows = result?;
        file.close()?;
        Ok(PassStats {
            rows,
            row_groups,
            windows_1252_values: repaired.load(Ordering::Relaxed),
        })
    })
}

/// Receives parsed batches, puts them back in file order and feeds the encoders.
fn coordinate(
    enc: &mut Encoders,
    parsed: Receiver<Parsed>,
    row_group_size: usize,
    cancel: &AtomicBool,
) -> Result<u64, PassFault> {
    let mut waiting: BTreeMap<u64, (usize, Result<RecordBatch, PassFault>)> = BTreeMap::new();
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
                (Ok(b), None) => b,
                (Ok(_), Some(_)) => continue,
                (Err(PassFault::Widen(w)), None) => {
                    widen = Some(w);
                    continue;
                }
                (Err(PassFault::Widen(w)), Some(all)) => {
                    merge_widenings(all, w);
                    continue;
                }
                (Err(PassFault::NotUtf8), Some(_)) => {
                    return Err(PassFault::Widen(widen.unwrap_or_default()));
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
                if in_group == row_group_size {
                    enc.finish_row_group()?;
                    (in_group, group_bytes) = (0, 0);
                }
            }
        }
    }
    if let Some(w) = widen {
        return Err(PassFault::Widen(w));
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

//! The encoding stage of a pass: encoder threads, each owning the column
//! writers of a group of columns, fed batch by batch by the coordinator, which
//! closes row groups; a writer thread appends their column chunks to the file.

use std::fs::File;
use std::io::BufWriter;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::ScopedJoinHandle;

use arrow_array::RecordBatch;
use arrow_schema::FieldRef;
use bytes::Bytes;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::column::writer::ColumnCloseResult;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use tracing::Span;

use crate::chunk::{ChunkSpec, ChunkWriter};
use crate::error::{ConvertError, ErrorKind};
use crate::plan::{Kind, Plan};

/// More encoder threads than cores is fine (they block on their channels); beyond this many,
/// columns share a thread.
const MAX_ENCODERS: usize = 16;

pub(crate) type Output = BufWriter<File>;

pub(crate) enum EncodeMsg {
    /// Column writers for a new row group: (column index, writer).
    Start(Vec<(usize, ColumnEncoder)>),
    Write(Arc<RecordBatch>),
    /// Close the row group and send its column chunks to the writer thread.
    Finish,
}

/// The writer of one column chunk: the engine's own for the plain types (chunk.rs), parquet's
/// for the others.
pub(crate) enum ColumnEncoder {
    Own(Box<ChunkWriter>),
    Parquet(Box<ArrowColumnWriter>),
}

/// A finished column chunk, ready to be appended to its row group.
pub(crate) enum EncodedChunk {
    Own(Bytes, ColumnCloseResult),
    Parquet(ArrowColumnChunk),
}

impl ColumnEncoder {
    pub(crate) fn write(
        &mut self,
        field: &FieldRef,
        column: &arrow_array::ArrayRef,
    ) -> Result<(), ConvertError> {
        match self {
            ColumnEncoder::Own(w) => w.write(column)?,
            ColumnEncoder::Parquet(w) => compute_leaves(field, column)
                .and_then(|leaves| leaves.iter().try_for_each(|l| w.write(l)))?,
        }
        Ok(())
    }

    pub(crate) fn close(self) -> Result<EncodedChunk, ConvertError> {
        Ok(match self {
            ColumnEncoder::Own(w) => {
                let (bytes, close) = w.close()?;
                EncodedChunk::Own(bytes, close)
            }
            ColumnEncoder::Parquet(w) => EncodedChunk::Parquet(w.close()?),
        })
    }
}

impl EncodedChunk {
    pub(crate) fn append_to<W: std::io::Write + Send>(
        self,
        row_group: &mut SerializedRowGroupWriter<'_, W>,
    ) -> Result<(), ConvertError> {
        match self {
            EncodedChunk::Own(bytes, close) => row_group.append_column(&bytes, close)?,
            EncodedChunk::Parquet(chunk) => chunk.append_to_row_group(row_group)?,
        }
        Ok(())
    }
}

/// One encoder thread's column chunks of a row group.
type Finished = Result<Vec<(usize, EncodedChunk)>, ConvertError>;

/// The file once every row group is in it.
type Written = Result<SerializedFileWriter<Output>, ConvertError>;

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
    let mut writers: Vec<(usize, ColumnEncoder)> = Vec::new();
    let mut failed: Option<ConvertError> = None;
    for msg in rx {
        match msg {
            EncodeMsg::Start(w) => writers = w,
            EncodeMsg::Write(batch) => {
                if failed.is_some() {
                    continue;
                }
                for (j, w) in writers.iter_mut() {
                    if let Err(e) = w.write(&fields[*j], batch.column(*j)) {
                        failed = Some(e);
                        break;
                    }
                }
            }
            EncodeMsg::Finish => {
                let result = match failed.take() {
                    Some(e) => Err(e),
                    None => std::mem::take(&mut writers)
                        .into_iter()
                        .map(|(j, w)| w.close().map(|c| (j, c)))
                        .collect(),
                };
                if done.send(result).is_err() {
                    return;
                }
            }
        }
    }
}

/// Appends the row groups to `file` in order as their chunks arrive, one message per row group
/// from each encoder thread (`done`, in the encoders' order; each sends its row groups in
/// order). On a thread of its own, so that closing a row group never stops the coordinator: it
/// goes on feeding the encoders the next row group while the last pages of this one are
/// compressed and its chunks copied into the file (waiting for that left both cores idle at
/// every row group).
fn write_row_groups(
    mut file: SerializedFileWriter<Output>,
    done: Vec<Receiver<Finished>>,
) -> Written {
    // Without columns there is nothing to wait for.
    while !done.is_empty() {
        let mut chunks = Vec::new();
        for (i, encoder) in done.iter().enumerate() {
            match encoder.recv() {
                Ok(part) => chunks.extend(part?),
                // The encoders end together, between row groups; one that ends inside a row
                // group, or before the others, stopped.
                Err(_) if i == 0 && done.iter().all(|other| other.recv().is_err()) => {
                    return Ok(file)
                }
                Err(_) => return Err(stopped()),
            }
        }
        chunks.sort_by_key(|(j, _)| *j);
        let mut rg = file.next_row_group()?;
        for (_, chunk) in chunks {
            chunk.append_to(&mut rg)?;
        }
        rg.close()?;
    }
    Ok(file)
}

fn stopped() -> ConvertError {
    ConvertError::new(ErrorKind::Internal, "a column encoder stopped unexpectedly")
}

/// The coordinator's view of the encoders.
pub(crate) struct Encoders<'scope> {
    groups: Vec<Vec<usize>>,
    senders: Vec<SyncSender<EncodeMsg>>,
    writer: ScopedJoinHandle<'scope, Written>,
    factory: ArrowRowGroupWriterFactory,
    /// Per column, how the engine writes its chunks; `None`: parquet's writer does.
    own: Vec<Option<Arc<ChunkSpec>>>,
    row_group_open: bool,
    /// Row groups started and closed.
    row_groups: usize,
}

impl Encoders<'_> {
    fn send(&self, i: usize, msg: EncodeMsg) -> Result<(), ConvertError> {
        self.senders[i].send(msg).map_err(|_| stopped())
    }

    /// Lets the encoders end and waits for the file to hold every closed row group: the file
    /// and how many row groups it has. An error of the encoders or of the file comes first
    /// (the coordinator only sees that an encoder stopped).
    pub(crate) fn close(self) -> Result<(SerializedFileWriter<Output>, usize), ConvertError> {
        drop(self.senders);
        let file = self.writer.join().map_err(|_| {
            ConvertError::new(
                ErrorKind::Internal,
                "the Parquet file writer stopped unexpectedly",
            )
        })??;
        Ok((file, self.row_groups))
    }

    pub(crate) fn start_row_group(&mut self) -> Result<(), ConvertError> {
        let mut writers: Vec<Option<ColumnEncoder>> =
            row_group_writers(&self.factory, &self.own, self.row_groups)?
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

    pub(crate) fn write(&mut self, batch: RecordBatch) -> Result<(), ConvertError> {
        if !self.row_group_open {
            self.start_row_group()?;
        }
        let batch = Arc::new(batch);
        for i in 0..self.senders.len() {
            self.send(i, EncodeMsg::Write(batch.clone()))?;
        }
        Ok(())
    }

    pub(crate) fn finish_row_group(&mut self) -> Result<(), ConvertError> {
        if !self.row_group_open {
            return Ok(());
        }
        for i in 0..self.senders.len() {
            self.send(i, EncodeMsg::Finish)?;
        }
        self.row_group_open = false;
        self.row_groups += 1;
        Ok(())
    }
}

/// Per column, how the engine writes its chunks, or `None` where parquet's writer does.
pub(crate) fn chunk_specs<W: std::io::Write + Send>(
    schema: &arrow_schema::SchemaRef,
    file: &SerializedFileWriter<W>,
    props: &WriterProperties,
) -> Vec<Option<Arc<ChunkSpec>>> {
    schema
        .fields()
        .iter()
        .zip(file.schema_descr().columns())
        .map(|(field, descr)| ChunkSpec::new(descr.clone(), field.data_type(), props).map(Arc::new))
        .collect()
}

/// The writers of row group `index`, one per column: the engine's where `own` has a spec.
pub(crate) fn row_group_writers(
    factory: &ArrowRowGroupWriterFactory,
    own: &[Option<Arc<ChunkSpec>>],
    index: usize,
) -> Result<Vec<ColumnEncoder>, ConvertError> {
    factory
        .create_column_writers(index)?
        .into_iter()
        .zip(own)
        .map(|(parquet, own)| match own {
            Some(spec) => ChunkWriter::new(spec.clone()).map(|w| ColumnEncoder::Own(Box::new(w))),
            None => Ok(ColumnEncoder::Parquet(Box::new(parquet))),
        })
        .map(|w| w.map_err(ConvertError::from))
        .collect()
}

/// One encoder thread per group of columns, and the handle that feeds them.
pub(crate) fn spawn_encoders<'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    plan: &Plan,
    schema: &arrow_schema::SchemaRef,
    (file, factory, props): (
        SerializedFileWriter<Output>,
        ArrowRowGroupWriterFactory,
        &WriterProperties,
    ),
    span: &Span,
) -> Encoders<'scope> {
    let groups = assign_columns(plan);
    let own = chunk_specs(schema, &file, props);
    let mut senders = Vec::with_capacity(groups.len());
    let mut done_rxs = Vec::with_capacity(groups.len());
    for _ in &groups {
        let (tx, rx) = sync_channel::<EncodeMsg>(2);
        // Room for two row groups' chunks: an encoder may finish the next one before the
        // writer has taken the others' chunks of this one.
        let (done, done_rx) = sync_channel::<Finished>(2);
        done_rxs.push(done_rx);
        let fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
        let span = span.clone();
        s.spawn(move || {
            let _g = span.enter();
            encoder(fields, rx, done)
        });
        senders.push(tx);
    }
    let span = span.clone();
    let writer = s.spawn(move || {
        let _g = span.enter();
        write_row_groups(file, done_rxs)
    });
    Encoders {
        groups,
        senders,
        writer,
        factory,
        own,
        row_group_open: false,
        row_groups: 0,
    }
}

//! The stages of a conversion one at a time, for the per-stage benchmarks
//! (`benches/stages.rs`) and the per-stage instruction counts of `bench/profile-stages.sh`:
//! a regression in one stage shows without the threads and the rest of the pipeline around
//! it. Not a supported API (hidden from the docs); the conversion itself never calls it.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;

use crate::batch::BatchParser;
use crate::encode::{chunk_specs, row_group_writers};
use crate::error::{ConvertError, ErrorKind};
use crate::input::{Chunk, ChunkReader, Source};
use crate::options::{Codec, ConvertOptions};
use crate::plan::Plan;
use crate::tokenize::{Field, Tokenizer};
use crate::values;
use crate::write::{writer_properties, Fault, CHUNK_BYTES};

/// The first bytes of `csv` that a conversion's detection samples.
pub fn detection_sample(csv: &[u8]) -> &[u8] {
    &csv[..csv.len().min(crate::detect::SAMPLE_BYTES)]
}

/// Detects the plan of `csv` (dialect, header, column types) from its
/// [`detection_sample`], as a conversion does: the number of columns.
#[inline(never)]
pub fn detect(csv: &[u8], options: &ConvertOptions) -> Result<usize, ConvertError> {
    let plan = crate::detect::plan(&Source::Head(detection_sample(csv)), options, None)?;
    Ok(plan.columns.len())
}

/// A CSV text with its plan, cut into the chunks a pass would parse.
pub struct Stages {
    plan: Plan,
    schema: SchemaRef,
    chunks: Vec<Chunk>,
    options: ConvertOptions,
}

/// The plan of `csv` as a conversion with `options` would detect it, and the text cut into
/// the pipeline's chunks.
pub(crate) fn plan_and_chunks(
    csv: &[u8],
    options: &ConvertOptions,
) -> Result<(Plan, Vec<Chunk>), ConvertError> {
    let source = Source::Text(csv);
    let plan = crate::detect::plan(&source, options, None)?;
    let (reader, _) = source.open(None)?;
    let mut reader = ChunkReader::new(
        reader,
        plan.windows_1252,
        plan.utf8_forced,
        plan.delimiter,
        plan.quote,
        plan.escape,
        CHUNK_BYTES,
    )
    .with_layout(plan.skip_lines, plan.cr_line_ends);
    let mut chunks = Vec::new();
    while let Some(chunk) = reader.next_chunk()? {
        chunks.push(chunk);
    }
    Ok((plan, chunks))
}

impl Stages {
    /// Detects the plan of `csv` as a conversion with `options` would, and cuts it into the
    /// pipeline's chunks (all held in memory: keep the text to some tens of MB).
    pub fn prepare(csv: &[u8], options: &ConvertOptions) -> Result<Stages, ConvertError> {
        let (plan, chunks) = plan_and_chunks(csv, options)?;
        Ok(Stages {
            schema: plan.schema(),
            plan,
            chunks,
            options: options.clone(),
        })
    }

    /// Bytes of CSV in the chunks.
    pub fn bytes(&self) -> usize {
        self.chunks.iter().map(|c| c.data.len()).sum()
    }

    /// Splits every record into fields (no value is looked at): the number of fields.
    #[inline(never)]
    pub fn tokenize(&self) -> usize {
        let tok = Tokenizer::new(self.plan.delimiter, self.plan.quote, self.plan.escape);
        let mut fields: Vec<Field> = Vec::new();
        let mut count = 0;
        for chunk in &self.chunks {
            let (data, mut pos) = (&chunk.data[..], 0);
            while pos < data.len() {
                pos = tok
                    .record(data, pos, &mut fields)
                    .unwrap_or_else(|_| crate::bad_rows::next_line(data, pos));
                count += fields.len();
            }
        }
        count
    }

    /// Tokenizes and types every chunk into Arrow batches, as one parser thread does.
    #[inline(never)]
    pub fn parse(&self) -> Result<Vec<RecordBatch>, ConvertError> {
        let mut parser = BatchParser::new(&self.plan);
        self.chunks
            .iter()
            .map(
                |chunk| match parser.parse(&self.plan, &self.schema, chunk) {
                    Ok((batch, _)) => Ok(batch),
                    Err(fault) => Err(fault_error(fault)),
                },
            )
            .collect()
    }

    /// Encodes `batches` into one Parquet file in memory with `codec`, on this thread only:
    /// the bytes written. With [`Codec::None`] this is the encoding alone; the difference
    /// to [`Codec::Snappy`] is the compression.
    #[inline(never)]
    pub fn encode(&self, batches: &[RecordBatch], codec: Codec) -> Result<usize, ConvertError> {
        let mut options = self.options.clone();
        options.compression = codec;
        let props = writer_properties(&options, &self.plan)?;
        let mut out = Vec::with_capacity(self.bytes() / 2);
        // As a pass encodes (encode.rs), in one row group and on this thread.
        let writer = ArrowWriter::try_new(&mut out, Arc::clone(&self.schema), Some(props.clone()))?;
        let (mut file, factory) = writer.into_serialized_writer()?;
        let own = chunk_specs(&self.schema, &file, &props);
        let mut writers = row_group_writers(&factory, &own, 0)?;
        for batch in batches {
            for (j, w) in writers.iter_mut().enumerate() {
                w.write(&self.schema.fields()[j], batch.column(j))?;
            }
        }
        let mut row_group = file.next_row_group()?;
        for w in writers {
            w.close()?.append_to(&mut row_group)?;
        }
        row_group.close()?;
        file.close()?;
        Ok(out.len())
    }
}

fn fault_error(fault: Fault) -> ConvertError {
    match fault {
        Fault::Error(e) => e,
        Fault::Widen(_) => ConvertError::new(ErrorKind::Internal, "a column widened"),
        Fault::NotUtf8 { line } => {
            ConvertError::new(ErrorKind::InvalidUtf8, format!("line {line}: not UTF-8"))
        }
    }
}

/// The value parsers of the typing stage, one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueParser {
    /// Integers (`-42`, `5000000007`).
    Int,
    /// Floats with a decimal dot (`1234.5678901234567`, `19.99`).
    FloatDot,
    /// Floats with a decimal comma and thousands dots (`1.234,56`).
    FloatComma,
    /// `YYYY-MM-DD`.
    IsoDate,
    /// `2023-05-17T13:45:12.123+02:00`.
    IsoTimestamp,
}

/// Parses every value of `values` with `parser`: how many were values of its type.
#[inline(never)]
pub fn parse_values(parser: ValueParser, values: &[Vec<u8>]) -> usize {
    let ok = |v: &Vec<u8>| match parser {
        ValueParser::Int => values::parse_i64(v, b'.').is_some(),
        ValueParser::FloatDot => values::parse_f64(v, b'.').is_some(),
        ValueParser::FloatComma => values::parse_f64(v, b',').is_some(),
        ValueParser::IsoDate => values::parse_iso_date(v).is_some(),
        ValueParser::IsoTimestamp => values::parse_iso_timestamp(v).is_some(),
    };
    values.iter().filter(|v| ok(v)).count()
}

/// Deterministic pseudo-random numbers (xorshift64) without a random-number crate, for
/// generated benchmark values and the engine's own tests.
pub struct XorShift(u64);

impl XorShift {
    /// A sequence from `seed` (not 0).
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// The next number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// `n` deterministic values for `parser`, shaped like the benchmark file's columns.
pub fn sample_values(parser: ValueParser, n: usize) -> Vec<Vec<u8>> {
    let mut random = XorShift::new(0x9E37_79B9_7F4A_7C15);
    let mut next = move |below: u64| random.below(below);
    (0..n)
        .map(|i| {
            let s = match parser {
                ValueParser::Int if i % 2 == 0 => format!("{}", 5_000_000_000 + i as u64 * 7),
                ValueParser::Int => format!("{}", next(505) as i64 - 5),
                ValueParser::FloatDot if i % 2 == 0 => {
                    format!("{}.{:013}", next(100_000), next(10_000_000_000_000))
                }
                ValueParser::FloatDot => format!("{}.{:02}", next(5000), next(100)),
                ValueParser::FloatComma => {
                    format!("{}.{:03},{:02}", 1 + next(999), next(1000), next(100))
                }
                ValueParser::IsoDate => {
                    format!("20{:02}-{:02}-{:02}", next(30), 1 + next(12), 1 + next(28))
                }
                ValueParser::IsoTimestamp => format!(
                    "2023-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+02:00",
                    1 + next(12),
                    1 + next(28),
                    next(24),
                    next(60),
                    next(60),
                    next(1000)
                ),
            };
            s.into_bytes()
        })
        .collect()
}

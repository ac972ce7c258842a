//! One conversion pass: read chunks, parse them into batches, encode them into Parquet.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::batch::{BatchParser, Fault};
use crate::error::{ConvertError, ErrorKind};
use crate::input::{self, ChunkReader, ReadFault};
use crate::options::{Codec, ConvertOptions};
use crate::plan::{Kind, Plan};

/// Bytes of CSV per batch: small enough that cancellation is polled every few milliseconds.
pub(crate) const CHUNK_BYTES: usize = 4 << 20;

/// What a successful pass produced.
pub(crate) struct PassStats {
    pub rows: u64,
    pub row_groups: usize,
}

/// Why a pass stopped.
pub(crate) enum PassFault {
    Error(ConvertError),
    Widen(Vec<(usize, Kind)>),
    /// Non-UTF-8 bytes in auto mode: redo as Windows-1252.
    NotUtf8,
}

impl From<ConvertError> for PassFault {
    fn from(e: ConvertError) -> Self {
        PassFault::Error(e)
    }
}

impl From<parquet::errors::ParquetError> for PassFault {
    fn from(e: parquet::errors::ParquetError) -> Self {
        PassFault::Error(e.into())
    }
}

/// The codec with its level, and its name for the report.
pub(crate) fn codec(options: &ConvertOptions) -> Result<(Compression, String), ConvertError> {
    let bad = |e: parquet::errors::ParquetError| {
        ConvertError::new(
            ErrorKind::InvalidOption,
            format!("invalid option `compression_level`: {e}"),
        )
    };
    Ok(match options.compression {
        Codec::Snappy => (Compression::SNAPPY, "snappy".into()),
        Codec::Lz4 => (Compression::LZ4_RAW, "lz4".into()),
        Codec::None => (Compression::UNCOMPRESSED, "none".into()),
        Codec::Zstd => {
            let l = options.compression_level.unwrap_or(3);
            (
                Compression::ZSTD(ZstdLevel::try_new(l).map_err(bad)?),
                format!("zstd:{l}"),
            )
        }
        Codec::Gzip => {
            let l = options.compression_level.unwrap_or(6);
            let level = u32::try_from(l).map_err(|_| {
                ConvertError::new(
                    ErrorKind::InvalidOption,
                    "invalid option `compression_level`: negative",
                )
            })?;
            (
                Compression::GZIP(GzipLevel::try_new(level).map_err(bad)?),
                format!("gzip:{l}"),
            )
        }
    })
}

pub(crate) fn writer_properties(
    options: &ConvertOptions,
) -> Result<WriterProperties, ConvertError> {
    let (compression, _) = codec(options)?;
    Ok(WriterProperties::builder()
        .set_compression(compression)
        .set_dictionary_enabled(options.dictionary)
        .set_max_row_group_row_count(Some(options.row_group_size))
        .build())
}

fn check_cancel(cancel: &AtomicBool) -> Result<(), ConvertError> {
    if cancel.load(Ordering::Relaxed) {
        return Err(ConvertError::canceled());
    }
    Ok(())
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
    let props = writer_properties(options)?;
    let mut writer = ArrowWriter::try_new(
        BufWriter::with_capacity(1 << 20, file),
        schema.clone(),
        Some(props),
    )?;
    let mut parser = BatchParser::new(plan);
    let mut rows = 0u64;
    loop {
        check_cancel(cancel)?;
        let chunk = match chunks.next_chunk() {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(ReadFault::Error(e)) => return Err(e.into()),
            Err(ReadFault::NotUtf8 { line }) => {
                tracing::info!(line, "bytes that are not UTF-8 found after the sample");
                return Err(PassFault::NotUtf8);
            }
        };
        let batch = match parser.parse(plan, &schema, &chunk) {
            Ok(b) => b,
            Err(Fault::Error(e)) => return Err(e.into()),
            Err(Fault::Widen(w)) => return Err(PassFault::Widen(w)),
        };
        rows += batch.num_rows() as u64;
        check_cancel(cancel)?;
        writer.write(&batch)?;
    }
    let meta = writer.close()?;
    Ok(PassStats {
        rows,
        row_groups: meta.num_row_groups(),
    })
}

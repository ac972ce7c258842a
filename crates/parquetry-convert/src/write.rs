//! Parquet writer settings and what a conversion pass reports back.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::error::{ConvertError, ErrorKind};
use crate::options::{Codec, ConvertOptions};
use crate::plan::{Kind, Plan};

/// Bytes of CSV per batch: small enough that cancellation is polled every few milliseconds.
/// Debug builds (the tests) use small chunks so that every test crosses chunk boundaries.
pub(crate) const CHUNK_BYTES: usize = if cfg!(debug_assertions) {
    64 << 10
} else {
    4 << 20
};

/// Creates `output` empty for a pass, with where an existing regular file was moved: it is
/// renamed aside (for the pass to remove on another thread) rather than truncated: truncating
/// frees its cached pages before `open` returns, 40–65 ms for the 320 MB output of the
/// benchmark file written again, all of it before the first chunk is read. Anything else
/// (a missing file, a device, a rename refused) is opened as `File::create` would.
pub(crate) fn create_output(output: &Path) -> std::io::Result<(File, Option<PathBuf>)> {
    let regular = std::fs::symlink_metadata(output).is_ok_and(|m| m.file_type().is_file());
    let aside = moved_aside(output);
    if regular && std::fs::rename(output, &aside).is_ok() {
        return match OpenOptions::new().write(true).create_new(true).open(output) {
            Ok(file) => Ok((file, Some(aside))),
            Err(e) => {
                // Someone made `output` in between: the previous file is gone, as a
                // truncation would have left it, with no pass to remove it later.
                let _ = std::fs::remove_file(&aside);
                Err(e)
            }
        };
    }
    Ok((File::create(output)?, None))
}

/// Where [`create_output`] moves a previous `output`: beside it, so the rename stays on its
/// file system.
fn moved_aside(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".parquetry-old-{}", std::process::id()));
    output.with_file_name(name)
}

/// What a successful pass produced.
pub(crate) struct PassStats {
    pub rows: u64,
    pub row_groups: usize,
    /// Values of a UTF-8 file that were not UTF-8 and were read as Windows-1252.
    pub windows_1252_values: u64,
    /// Blank, comment, footer and rejected lines.
    pub lines: crate::rejects::LineCounts,
    /// What the writer wrote, with each column chunk's statistics (the
    /// report's column profiles).
    pub metadata: parquet::file::metadata::ParquetMetaData,
}

/// A column whose values did not fit: (column, wider kind, its decimal separator).
pub(crate) type Widening = (usize, Kind, u8);

/// Why a chunk could not become a batch, and so why a pass stopped: the one
/// fault type of parsing and of the pass around it.
#[derive(Debug)]
pub(crate) enum Fault {
    Error(ConvertError),
    /// Sampled columns whose values did not fit: widen them and run again.
    Widen(Vec<Widening>),
    /// Text that is not UTF-8, first seen on this line (encoding
    /// auto-detected): redo the pass as Windows-1252.
    NotUtf8 {
        line: u64,
    },
}

impl From<ConvertError> for Fault {
    fn from(e: ConvertError) -> Self {
        Fault::Error(e)
    }
}

impl From<parquet::errors::ParquetError> for Fault {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Fault::Error(e.into())
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
    if let Err(e) = options.validate() {
        return Err(ConvertError::new(ErrorKind::InvalidOption, e.to_string()));
    }
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
    plan: &Plan,
) -> Result<WriterProperties, ConvertError> {
    let (compression, _) = codec(options)?;
    let mut props = WriterProperties::builder()
        .set_compression(compression)
        .set_dictionary_enabled(options.dictionary)
        .set_max_row_group_row_count(Some(options.row_group_size))
        .set_write_batch_size(8192);
    for c in plan.columns.iter().filter(|c| c.mostly_unique) {
        props = props.set_column_dictionary_enabled(ColumnPath::new(vec![c.name.clone()]), false);
    }
    Ok(props.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_output_is_replaced_and_its_old_file_removed_aside() {
        let dir = std::env::temp_dir().join(format!("parquetry-create-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let output = dir.join("out.parquet");
        std::fs::write(&output, b"the previous conversion").unwrap();
        let (mut file, aside) = create_output(&output).unwrap();
        std::io::Write::write_all(&mut file, b"new").unwrap();
        assert_eq!(std::fs::read(&output).unwrap(), b"new");
        assert_eq!(aside.as_deref(), Some(moved_aside(&output).as_path()));
        assert!(moved_aside(&output).exists());
        std::fs::remove_file(aside.unwrap()).unwrap();
        assert!(!moved_aside(&output).exists());
        // No previous file: nothing moved, nothing to remove.
        std::fs::remove_file(&output).unwrap();
        let (_, aside) = create_output(&output).unwrap();
        assert!(aside.is_none());
        assert!(output.exists() && !moved_aside(&output).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Helpers shared by the integration tests: write or find a fixture, convert it, read the
//! Parquet back. The committed corpus is in `tests/fixtures` (see `crosscheck.toml` there).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquetry_convert::{convert_file, ConversionReport, ConvertError, ConvertOptions};

/// A scratch directory removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "parquetry-convert-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Converts `csv` bytes with `options`; returns the report and all batches read back.
pub fn convert_bytes(
    name: &str,
    csv: &[u8],
    options: &ConvertOptions,
) -> Result<(ConversionReport, RecordBatch), ConvertError> {
    let dir = Scratch::new(name);
    let input = dir.file("in.csv", csv);
    let output = dir.path("out.parquet");
    let report = convert_file(&input, &output, options, &AtomicBool::new(false))?;
    let batch = read_parquet(&output);
    Ok((report, batch))
}

/// The path of a committed fixture in `tests/fixtures`.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The bytes of a committed fixture.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Converts the committed fixture `name` in place (output in a scratch directory).
pub fn convert_fixture(
    name: &str,
    options: &ConvertOptions,
) -> Result<(ConversionReport, RecordBatch), ConvertError> {
    let dir = Scratch::new(&format!("fixture-{name}"));
    let output = dir.path("out.parquet");
    let report = convert_file(
        &fixture_path(name),
        &output,
        options,
        &AtomicBool::new(false),
    )?;
    let batch = read_parquet(&output);
    Ok((report, batch))
}

/// Reads a whole Parquet file into one batch.
pub fn read_parquet(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let rows = builder.metadata().file_metadata().num_rows() as usize;
    let schema = builder.schema().clone();
    let batches: Vec<RecordBatch> = builder
        .with_batch_size(rows.max(1))
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    assert!(batches.len() <= 1, "one batch expected");
    batches
        .into_iter()
        .next()
        .unwrap_or_else(|| RecordBatch::new_empty(schema))
}

/// The Arrow type of each column, in order, as the report gives them.
pub fn types(report: &ConversionReport) -> Vec<String> {
    report
        .columns
        .iter()
        .map(|c| c.arrow_type.clone())
        .collect()
}

//! The first rows of a result, read through the object store with the
//! Parquet reader: the footer and the pages those rows are in, never the
//! whole file (a result can be gigabytes, a row group 64 MiB of text).

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use parquetry_convert::JsonRows;
use uuid::Uuid;

use super::objects::traced;
use super::{Storage, StorageError};

/// Bytes read from the end of the file at first: the whole footer of a
/// result in one request, unless it has very many row groups or columns.
const FOOTER_HINT: usize = 64 * 1024;
/// Rows decoded at a time: a few batches for the largest preview, and
/// little memory for a wide file.
const BATCH_ROWS: usize = 256;

/// The first rows of a result and how many it has.
#[derive(Debug)]
pub struct ResultPreview {
    /// Rows of the whole file, from its footer.
    pub rows_total: u64,
    /// The first rows, typed (see `parquetry_convert::rows_as_json`).
    pub rows: JsonRows,
}

impl Storage {
    /// The first `limit` rows of the job's result.
    pub async fn result_preview(
        &self,
        id: Uuid,
        limit: usize,
    ) -> Result<ResultPreview, StorageError> {
        let key = self.objects.result_key(id);
        let size = self.objects.head(&key).await?.meta.size;
        let span = self.objects.span("GetObject", &key);
        let reader = RangeReader::new(self.objects.store.clone(), key, size);
        let fetched = reader.fetched.clone();
        let preview = traced(&span, first_rows(reader, limit)).await?;
        span.record(
            "parquetry.storage.bytes",
            fetched.load(Ordering::Relaxed) as i64,
        );
        Ok(preview)
    }
}

async fn first_rows(reader: RangeReader, limit: usize) -> Result<ResultPreview, StorageError> {
    // The offset index says where each page starts, so the reader fetches
    // only the pages of the first rows, not whole column chunks.
    let options = ArrowReaderOptions::new().with_offset_index_policy(PageIndexPolicy::Optional);
    let builder = ParquetRecordBatchStreamBuilder::new_with_options(reader, options).await?;
    let rows_total = builder.metadata().file_metadata().num_rows();
    let mut rows = JsonRows::empty(builder.schema());
    let mut batches = builder
        .with_limit(limit)
        .with_batch_size(BATCH_ROWS.min(limit).max(1))
        .build()?;
    while let Some(batch) = batches.try_next().await? {
        rows.append(&batch, limit);
    }
    Ok(ResultPreview {
        rows_total: u64::try_from(rows_total).unwrap_or(0),
        rows,
    })
}

/// Byte ranges of one object for the Parquet reader, counted for the span.
/// (parquet's own `ParquetObjectReader` is deprecated in favour of this.)
struct RangeReader {
    store: Arc<dyn ObjectStore>,
    key: Path,
    /// Known from a HEAD: the footer is then read with a plain range, which
    /// every store supports (a suffix range is not a given).
    size: u64,
    fetched: Arc<AtomicU64>,
}

impl RangeReader {
    fn new(store: Arc<dyn ObjectStore>, key: Path, size: u64) -> RangeReader {
        RangeReader {
            store,
            key,
            size,
            fetched: Arc::new(AtomicU64::new(0)),
        }
    }

    fn count(&self, bytes: u64) {
        self.fetched.fetch_add(bytes, Ordering::Relaxed);
    }
}

fn parquet_error(error: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(error))
}

impl AsyncFileReader for RangeReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            let bytes = self.store.get_range(&self.key, range).await;
            let bytes = bytes.map_err(parquet_error)?;
            self.count(bytes.len() as u64);
            Ok(bytes)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            let parts = self.store.get_ranges(&self.key, &ranges).await;
            let parts = parts.map_err(parquet_error)?;
            self.count(parts.iter().map(|p| p.len() as u64).sum());
            Ok(parts)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .with_prefetch_hint(Some(FOOTER_HINT))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use object_store::memory::InMemory;
    use object_store::{ObjectStore, ObjectStoreExt};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    use super::*;

    /// A result of 2 row groups of 100,000 rows of 100-byte text (10 MB
    /// each, in pages of about 1 MB).
    fn large_result() -> Bytes {
        let mut file = Vec::new();
        let text = "x".repeat(96);
        let rows = 10_000;
        let batch = RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(Int64Array::from_iter_values(0..rows)) as ArrayRef,
            ),
            (
                "text",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|n| format!("{text}{n:04}")),
                )) as ArrayRef,
            ),
        ])
        .unwrap();
        let properties = WriterProperties::builder()
            .set_dictionary_enabled(false)
            .build();
        let mut writer = ArrowWriter::try_new(&mut file, batch.schema(), Some(properties)).unwrap();
        for n in 1..=20 {
            writer.write(&batch).unwrap();
            if n % 10 == 0 {
                writer.flush().unwrap();
            }
        }
        writer.close().unwrap();
        Bytes::from(file)
    }

    #[tokio::test]
    async fn a_preview_reads_the_footer_and_first_pages_only() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let key = Path::from("results/big.parquet");
        let file = large_result();
        let size = file.len() as u64;
        store.put(&key, file.into()).await.unwrap();
        let reader = RangeReader::new(store, key, size);
        let fetched = reader.fetched.clone();

        let preview = first_rows(reader, 1000).await.unwrap();

        assert_eq!(preview.rows_total, 200_000);
        assert_eq!(preview.rows.rows.len(), 1000);
        assert_eq!(preview.rows.rows[999][0], 999);
        let read = fetched.load(Ordering::Relaxed);
        // About one page of each column and the footer.
        assert!(read < size / 8, "read {read} of {size} bytes");
    }
}

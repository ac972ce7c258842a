//! Chunks written by [`ChunkWriter`] read back by parquet's own reader, with the values
//! and the statistics parquet's `ArrowWriter` gives the same arrays.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use proptest::prelude::*;

use super::{ChunkSpec, ChunkWriter};

/// Writes `batch` with our chunk writer, each column fed in slices of `step` rows.
fn write_ours(batch: &RecordBatch, props: &WriterProperties, step: usize) -> Vec<u8> {
    let writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props.clone())).unwrap();
    let (mut file, _) = writer.into_serialized_writer().unwrap();
    let mut chunks = Vec::new();
    for (j, field) in batch.schema().fields().iter().enumerate() {
        let descr = file.schema_descr().column(j);
        let spec = ChunkSpec::new(descr, field.data_type(), props).expect("a plain type");
        let mut w = ChunkWriter::new(Arc::new(spec)).unwrap();
        let column = batch.column(j);
        let mut at = 0;
        while at < column.len() {
            let n = step.min(column.len() - at);
            w.write(&column.slice(at, n)).unwrap();
            at += n;
        }
        chunks.push(w.close().unwrap());
    }
    let mut rg = file.next_row_group().unwrap();
    for (bytes, close) in chunks {
        rg.append_column(&bytes, close).unwrap();
    }
    rg.close().unwrap();
    file.into_inner().unwrap()
}

fn write_parquet_rs(batch: &RecordBatch, props: &WriterProperties) -> Vec<u8> {
    let mut w = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props.clone())).unwrap();
    w.write(batch).unwrap();
    w.into_inner().unwrap()
}

fn read_back(file: Vec<u8>) -> RecordBatch {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(file)).unwrap();
    let schema = builder.schema().clone();
    let reader = builder.with_batch_size(1 << 20).build().unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    arrow_select::concat::concat_batches(&schema, &batches).unwrap()
}

fn metadata(file: &[u8]) -> ParquetMetaData {
    let reader = SerializedFileReader::new(bytes::Bytes::from(file.to_vec())).unwrap();
    reader.metadata().clone()
}

/// Our file reads back as `batch`, and its statistics are parquet-rs's.
fn check(batch: &RecordBatch, props: &WriterProperties, step: usize) {
    let ours = write_ours(batch, props, step);
    assert_eq!(&read_back(ours.clone()), batch);
    let theirs = write_parquet_rs(batch, props);
    let (a, b) = (metadata(&ours), metadata(&theirs));
    for j in 0..batch.num_columns() {
        let (sa, sb) = (a.row_group(0).column(j), b.row_group(0).column(j));
        // Debug text: NaN bounds compare equal there.
        let (da, db) = (
            format!("{:?}", sa.statistics()),
            format!("{:?}", sb.statistics()),
        );
        assert_eq!(da, db, "column {j}");
        assert_eq!(sa.num_values(), sb.num_values());
    }
}

fn props(page_rows: usize, dict_limit: usize, codec: Compression) -> WriterProperties {
    WriterProperties::builder()
        .set_data_page_row_count_limit(page_rows)
        .set_dictionary_page_size_limit(dict_limit)
        .set_compression(codec)
        .set_write_batch_size(page_rows.min(1024))
        .build()
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

#[test]
fn every_type_with_nulls_in_every_position_round_trips() {
    let n = 5000;
    let null = |i: usize| i == 0 || i % 7 == 3 || (1000..1100).contains(&i) || i == n - 1;
    let ints: Int64Array = (0..n)
        .map(|i| (!null(i)).then_some(i as i64 % 97 - 40))
        .collect();
    let floats: Float64Array = (0..n)
        .map(|i| {
            (!null(i)).then_some(if i % 11 == 0 {
                0.0
            } else {
                i as f64 / 3.0 - 600.0
            })
        })
        .collect();
    let dates: Date32Array = (0..n)
        .map(|i| (!null(i)).then_some(i as i32 - 2000))
        .collect();
    let stamps = TimestampMicrosecondArray::from_iter(
        (0..n).map(|i| (!null(i)).then_some(i as i64 * 1_000_003)),
    )
    .with_timezone("UTC");
    let bools: BooleanArray = (0..n).map(|i| (!null(i)).then_some(i % 3 == 0)).collect();
    let words = ["São Paulo", "", "b", "a\u{0}", "zzz", "Zürich"];
    let text: StringArray = (0..n)
        .map(|i| (!null(i)).then(|| words[i % words.len()]))
        .collect();
    let b = batch(vec![
        ("i", Arc::new(ints)),
        ("f", Arc::new(floats)),
        ("d", Arc::new(dates)),
        ("t", Arc::new(stamps)),
        ("b", Arc::new(bools)),
        ("s", Arc::new(text)),
    ]);
    for codec in [Compression::SNAPPY, Compression::UNCOMPRESSED] {
        for (page_rows, step) in [(20_000, 4096), (128, 1000), (1000, 77)] {
            check(&b, &props(page_rows, 1 << 20, codec), step);
        }
    }
}

#[test]
fn an_outgrown_dictionary_leaves_the_rest_of_the_chunk_plain() {
    let n = 3000;
    let text: StringArray = (0..n).map(|i| Some(format!("value number {i}"))).collect();
    let ints: Int64Array = (0..n).map(|i| Some(i as i64 * 7919)).collect();
    let b = batch(vec![("s", Arc::new(text)), ("i", Arc::new(ints))]);
    let p = props(500, 2000, Compression::SNAPPY);
    check(&b, &p, 256);
    let file = write_ours(&b, &p, 256);
    let md = metadata(&file);
    let encodings = md.row_group(0).column(0).encodings().collect::<Vec<_>>();
    assert!(encodings.contains(&parquet::basic::Encoding::RLE_DICTIONARY));
    assert!(encodings.contains(&parquet::basic::Encoding::PLAIN));
}

#[test]
fn only_nulls_and_empty_chunks_have_no_statistics_and_no_dictionary() {
    let nulls: Int64Array = (0..100).map(|_| None::<i64>).collect();
    let text: StringArray = (0..100).map(|_| None::<&str>).collect();
    let b = batch(vec![("i", Arc::new(nulls)), ("s", Arc::new(text))]);
    check(&b, &props(30, 1 << 20, Compression::SNAPPY), 100);
    let file = write_ours(&b, &props(30, 1 << 20, Compression::SNAPPY), 100);
    let md = metadata(&file);
    assert!(md
        .row_group(0)
        .columns()
        .iter()
        .all(|c| c.dictionary_page_offset().is_none()));
    let empty = b.slice(0, 0);
    let file = write_ours(&empty, &props(30, 1 << 20, Compression::SNAPPY), 10);
    assert_eq!(metadata(&file).row_group(0).num_rows(), 0);
}

#[test]
fn float_bounds_skip_nan_and_order_zeros_as_parquet_does() {
    let values = [Some(f64::NAN), Some(0.0), None, Some(-0.0), Some(f64::NAN)];
    let b = batch(vec![("f", Arc::new(Float64Array::from(values.to_vec())))]);
    let file = write_ours(&b, &props(20_000, 1 << 20, Compression::SNAPPY), 2);
    let md = metadata(&file);
    match md.row_group(0).column(0).statistics() {
        Some(parquet::file::statistics::Statistics::Double(s)) => {
            assert!(s.min_opt().unwrap().is_sign_negative());
            assert!(s.max_opt().unwrap().is_sign_positive());
            assert_eq!(s.null_count_opt(), Some(1));
        }
        other => panic!("{other:?}"),
    }
    let only_nan = batch(vec![("f", Arc::new(Float64Array::from(vec![f64::NAN; 3])))]);
    check(&only_nan, &props(20_000, 1 << 20, Compression::SNAPPY), 3);
}

#[test]
fn long_text_bounds_are_cut_to_64_bytes_as_parquet_does() {
    let long_a = "a".repeat(100);
    let long_z = format!("{}ç{}", "z".repeat(63), "z".repeat(40));
    let max_char = format!("{}{}", "y".repeat(62), '\u{10FFFF}'.to_string().repeat(3));
    let text = StringArray::from(vec![
        Some(long_a.as_str()),
        Some(long_z.as_str()),
        Some(max_char.as_str()),
    ]);
    let b = batch(vec![("s", Arc::new(text))]);
    check(&b, &props(20_000, 1 << 20, Compression::SNAPPY), 3);
}

/// A cut maximum whose last character would grow wider when increased (DEL, U+07FF, U+FFFF)
/// or land in the surrogate gap (U+D7FF): parquet increases the character before it instead.
#[test]
fn long_text_maxima_ending_in_characters_that_cannot_grow_are_cut_as_parquet_does() {
    for last in ['\u{7f}', '\u{7ff}', '\u{d7ff}', '\u{ffff}'] {
        let max = format!("{}{last}zzz", "y".repeat(64 - last.len_utf8()));
        let text = StringArray::from(vec![Some("a"), Some(max.as_str())]);
        let b = batch(vec![("s", Arc::new(text))]);
        check(&b, &props(20_000, 1 << 20, Compression::SNAPPY), 2);
    }
}

#[test]
fn unsupported_types_go_to_parquets_writer() {
    let props = props(20_000, 1 << 20, Compression::SNAPPY);
    let schema = Arc::new(Schema::new(vec![Field::new(
        "d",
        DataType::Decimal128(10, 2),
        true,
    )]));
    let writer = ArrowWriter::try_new(Vec::new(), schema, Some(props.clone())).unwrap();
    let (file, _) = writer.into_serialized_writer().unwrap();
    let descr = file.schema_descr().column(0);
    assert!(ChunkSpec::new(descr, &DataType::Decimal128(10, 2), &props).is_none());
    let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
    let schema = Arc::new(Schema::new(vec![Field::new("t", ts.clone(), true)]));
    let writer = ArrowWriter::try_new(Vec::new(), schema, Some(props.clone())).unwrap();
    let (file, _) = writer.into_serialized_writer().unwrap();
    assert!(ChunkSpec::new(file.schema_descr().column(0), &ts, &props).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_columns_round_trip_with_parquets_statistics(
        rows in prop::collection::vec((any::<Option<i64>>(), prop::option::of("[a-c]{0,3}|[ -~]{0,12}"), any::<Option<bool>>(), any::<Option<f64>>()), 0..600),
        page_rows in 1usize..300,
        dict_limit in 8usize..400,
        step in 1usize..700,
    ) {
        let ints: Int64Array = rows.iter().map(|r| r.0.map(|v| v % 50)).collect();
        let text: StringArray = rows.iter().map(|r| r.1.clone()).collect();
        let bools: BooleanArray = rows.iter().map(|r| r.2).collect();
        let floats: Float64Array = rows.iter().map(|r| r.3).collect();
        let b = batch(vec![
            ("i", Arc::new(ints)),
            ("s", Arc::new(text)),
            ("b", Arc::new(bools)),
            ("f", Arc::new(floats)),
        ]);
        let p = props(page_rows, dict_limit, Compression::SNAPPY);
        let ours = write_ours(&b, &p, step);
        let back = read_back(ours.clone());
        // NaN != NaN: compare floats by their bits.
        for j in 0..3 {
            prop_assert_eq!(back.column(j), b.column(j));
        }
        let (fa, fb) = (back.column(3).as_any().downcast_ref::<Float64Array>().unwrap(), b.column(3).as_any().downcast_ref::<Float64Array>().unwrap());
        prop_assert_eq!(fa.nulls(), fb.nulls());
        for i in (0..fa.len()).filter(|&i| fb.is_valid(i)) {
            prop_assert_eq!(fa.value(i).to_bits(), fb.value(i).to_bits());
        }
        if b.num_rows() == 0 {
            // parquet's writer writes no row group at all for no rows.
            return Ok(());
        }
        let (a, t) = (metadata(&ours), metadata(&write_parquet_rs(&b, &p)));
        for j in 0..4 {
            let (sa, st) = (a.row_group(0).column(j).statistics(), t.row_group(0).column(j).statistics());
            prop_assert_eq!(format!("{sa:?}"), format!("{st:?}"));
        }
    }
}

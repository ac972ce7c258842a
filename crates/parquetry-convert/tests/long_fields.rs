//! Fields of many megabytes at the start of a file: their length must not change the type
//! of any other column, and when the sample cannot hold a whole record the report says so.

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use common::{convert_bytes, types};
use parquetry_convert::ConvertOptions;

/// `id,blob,day` with a blob of `blob_bytes` in the first row and short rows after it.
fn csv_with_a_long_first_blob(blob_bytes: usize) -> Vec<u8> {
    let mut csv = b"id,blob,day\n1,".to_vec();
    csv.extend(std::iter::repeat_n(b'x', blob_bytes));
    csv.extend_from_slice(b",2024-01-31\n");
    for i in 2..=50 {
        csv.extend_from_slice(format!("{i},short,2024-02-{:02}\n", i % 28 + 1).as_bytes());
    }
    csv
}

#[test]
fn a_four_megabyte_field_in_the_first_row_leaves_the_other_columns_typed() {
    let csv = csv_with_a_long_first_blob(4_000_000);

    let (report, batch) = convert_bytes("long-4mb", &csv, &ConvertOptions::default()).unwrap();

    assert_eq!(types(&report), ["Int64", "Utf8", "Date32"]);
    assert!(report.dialect.header);
    assert_eq!(report.rows, 50);
    assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(0), 1);
    assert_eq!(batch.column(1).as_string::<i32>().value(0).len(), 4_000_000);
    // The sample grew until it held rows: nothing had to be cut.
    assert_eq!(report.sample_cut, None);
}

#[test]
fn the_same_file_with_a_one_megabyte_field_gets_the_same_types() {
    let csv = csv_with_a_long_first_blob(1_000_000);

    let (report, _) = convert_bytes("long-1mb", &csv, &ConvertOptions::default()).unwrap();

    assert_eq!(types(&report), ["Int64", "Utf8", "Date32"]);
    assert_eq!(report.sample_cut, None);
}

#[test]
fn a_field_longer_than_the_whole_sample_is_cut_and_the_report_says_so() {
    // `id` comes before the cut: typed from it. `day` comes after: no value was seen, so
    // it is text, and the report says why.
    let csv = csv_with_a_long_first_blob(17 << 20);

    let (report, batch) = convert_bytes("long-17mb", &csv, &ConvertOptions::default()).unwrap();

    assert_eq!(types(&report)[..2], ["Int64", "Utf8"]);
    assert!(report.dialect.header);
    assert_eq!(report.rows, 50);
    assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(49), 50);
    let note = report.sample_cut.as_deref().expect("the cut is reported");
    assert!(note.contains("16 MiB") && note.contains("schema"), "{note}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["sample_cut"], note);
}

#[test]
fn an_inspection_of_a_head_cut_inside_the_first_row_types_the_fields_before_the_cut() {
    let csv = csv_with_a_long_first_blob(4_000_000);
    let head = &csv[..1 << 20];

    let seen = parquetry_convert::inspect(head, false, &ConvertOptions::default(), 5).unwrap();

    assert_eq!(seen.columns[0].arrow_type, "Int64");
    assert!(seen.dialect.header);
    assert!(seen.preview.rows.is_empty(), "no whole row in the head");
    let note = seen.sample_cut.as_deref().expect("the cut is reported");
    assert!(note.contains("inspect more bytes"), "{note}");
}

#[test]
fn a_quoted_field_longer_than_the_whole_sample_still_lets_the_fields_before_it_be_typed() {
    let mut csv = b"id,blob,day\n1,\"".to_vec();
    csv.extend(std::iter::repeat_n(b'x', 17 << 20));
    csv.extend_from_slice(b"\",2024-01-31\n2,\"short, quoted\",2024-02-01\n");

    let (report, batch) = convert_bytes("long-quoted", &csv, &ConvertOptions::default()).unwrap();

    assert_eq!(types(&report)[..2], ["Int64", "Utf8"]);
    assert_eq!(report.rows, 2);
    assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(1), 2);
    assert!(report.sample_cut.is_some());
}

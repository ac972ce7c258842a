//! Bad rows are the user's choice: `on_error=fail` names the line and the option that gets
//! past it; `on_error=skip` keeps every good row and writes the others to a rejects file;
//! `max_errors` bounds them; `ragged=pad` reads short rows with nulls.

mod common;

use std::sync::atomic::AtomicBool;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::Array;
use common::{read_parquet, Scratch};
use parquetry_convert::{convert, ConversionReport, ConvertError, ConvertOptions, ErrorKind};

fn with(pairs: &[(&str, &str)]) -> ConvertOptions {
    ConvertOptions::from_pairs(pairs.iter().copied()).unwrap()
}

/// Converts `csv`; returns the result, the ids read back and the rejects file's records.
fn run(
    name: &str,
    csv: &[u8],
    options: &ConvertOptions,
) -> (
    Result<ConversionReport, ConvertError>,
    Vec<i64>,
    Vec<Vec<String>>,
) {
    let dir = Scratch::new(name);
    let input = dir.file("in.csv", csv);
    let (output, rejects) = (dir.path("out.parquet"), dir.path("rejects.csv"));
    let cancel = AtomicBool::new(false);
    let result = convert(&input, &output, Some(&rejects), options, &cancel);
    let ids = match &result {
        Ok(_) => {
            let batch = read_parquet(&output);
            let ids = batch.column(0).as_primitive::<Int64Type>();
            ids.iter().map(|v| v.unwrap_or(-1)).collect()
        }
        Err(_) => Vec::new(),
    };
    let mut records = Vec::new();
    if rejects.exists() {
        let mut reader = csv::Reader::from_path(&rejects).unwrap();
        assert_eq!(
            reader.headers().unwrap().iter().collect::<Vec<_>>(),
            ["line", "column", "code", "message", "raw"]
        );
        for r in reader.records() {
            records.push(r.unwrap().iter().map(String::from).collect());
        }
    }
    (result, ids, records)
}

const MIXED: &[u8] = b"id,name,qty\n1,a,10\n2,b\n3,c,30\n4,\"d,40\n5,e,50\n";

#[test]
fn fail_names_the_line_and_the_options_that_get_past_it() {
    let (result, _, rejects) = run("fail", MIXED, &with(&[]));
    let e = result.unwrap_err();
    assert_eq!((e.kind, e.line), (ErrorKind::RaggedRow, Some(3)));
    assert!(
        e.message.contains("on_error=skip") && e.message.contains("ragged=pad"),
        "{e}"
    );
    assert!(rejects.is_empty());
}

#[test]
fn skip_keeps_every_good_row_and_rejects_the_others_with_their_lines() {
    // With `"` as the quote (forced: detection would rather read `"d` as text).
    let o = with(&[("on_error", "skip"), ("quote", "\"")]);
    let (result, ids, rejects) = run("skip", MIXED, &o);
    let report = result.unwrap();
    assert_eq!(ids, [1, 3, 5]);
    assert_eq!(report.rows, 3);
    assert_eq!(report.rows_rejected, 2);
    assert_eq!(rejects.len(), 2);
    assert_eq!(rejects[0][0], "3");
    assert_eq!(rejects[0][2], "ragged-row");
    assert_eq!(rejects[0][4], "2,b");
    assert_eq!(rejects[1][0], "5");
    assert_eq!(rejects[1][2], "unterminated-quote");
    assert_eq!(rejects[1][4], "4,\"d,40");
}

#[test]
fn a_value_that_does_not_fit_a_forced_type_is_rejected_with_its_column() {
    let csv = b"id,qty\n1,10\n2,ten\n3,30\n";
    let o = with(&[("on_error", "skip"), ("schema", "qty:int64")]);
    let (result, ids, rejects) = run("forced", csv, &o);
    assert_eq!(result.unwrap().rows_rejected, 1);
    assert_eq!(ids, [1, 3]);
    assert_eq!(rejects[0][..3], ["3", "qty", "invalid-value"]);
    assert_eq!(rejects[0][4], "2,ten");
    // The message names the line and column, never the cell.
    assert!(!rejects[0][3].contains("ten"), "{}", rejects[0][3]);
}

#[test]
fn max_errors_fails_the_conversion_past_a_count_or_a_share() {
    let (result, _, rejects) = run(
        "max-count",
        MIXED,
        &with(&[("on_error", "skip"), ("max_errors", "1"), ("quote", "\"")]),
    );
    let e = result.unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooManyErrors);
    assert_eq!(e.code(), "too-many-errors");
    assert!(!rejects.is_empty(), "the rejects so far are kept");
    let (result, _, _) = run(
        "max-share",
        MIXED,
        &with(&[("on_error", "skip"), ("max_errors", "10%"), ("quote", "\"")]),
    );
    assert_eq!(result.unwrap_err().kind, ErrorKind::TooManyErrors);
    let (result, ids, _) = run(
        "max-ok",
        MIXED,
        &with(&[("on_error", "skip"), ("max_errors", "50%"), ("quote", "\"")]),
    );
    assert!(result.is_ok());
    assert_eq!(ids, [1, 3, 5]);
}

#[test]
fn pad_reads_short_rows_with_nulls() {
    let csv = b"id,name,qty\n1,a,10\n2,b\n3\n";
    let (result, ids, _) = run("pad", csv, &with(&[("ragged", "pad")]));
    result.unwrap();
    assert_eq!(ids, [1, 2, 3]);
    let dir = Scratch::new("pad-read");
    let input = dir.file("in.csv", csv);
    let out = dir.path("o.parquet");
    convert(
        &input,
        &out,
        None,
        &with(&[("ragged", "pad")]),
        &AtomicBool::new(false),
    )
    .unwrap();
    let batch = read_parquet(&out);
    assert!(batch.column(2).is_null(1) && batch.column(1).is_null(2));
}

#[test]
fn a_ragged_row_deep_in_a_long_file_is_rejected_at_its_line() {
    // The bad row at line 2,000,000, hundreds of chunks into the file.
    let mut csv = b"id,name,qty\n".to_vec();
    for i in 1..=2_000_100 {
        if i == 1_999_999 {
            csv.extend_from_slice(b"1999999,broken\n");
        } else {
            csv.extend_from_slice(format!("{i},n,{}\n", i % 7).as_bytes());
        }
    }
    let (result, ids, rejects) = run("deep-fail", &csv, &with(&[]));
    let e = result.unwrap_err();
    assert_eq!(e.line, Some(2_000_000));
    assert!(ids.is_empty() && rejects.is_empty());
    let (result, ids, rejects) = run("deep-skip", &csv, &with(&[("on_error", "skip")]));
    assert_eq!(result.unwrap().rows, 2_000_099);
    assert_eq!(ids.len(), 2_000_099);
    assert!(!ids.contains(&1_999_999));
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0][0], "2000000");
    assert_eq!(rejects[0][4], "1999999,broken");
}

#[test]
fn invalid_utf8_rows_are_rejected_when_the_encoding_is_forced() {
    let csv = b"id,name\n1,ok\n2,caf\xe9\n3,fine\n";
    let o = with(&[("on_error", "skip"), ("encoding", "utf-8")]);
    let (result, ids, rejects) = run("utf8", csv, &o);
    assert_eq!(result.unwrap().rows_rejected, 1);
    assert_eq!(ids, [1, 3]);
    assert_eq!(rejects[0][..3], ["3", "", "invalid-utf8"]);
}

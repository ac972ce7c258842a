//! Properties: no input makes the converter panic, and typed rows survive a CSV round trip.

mod common;

use std::sync::atomic::AtomicBool;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::Array;
use common::{read_parquet, Scratch};
use parquetry_convert::{convert_file, ConvertOptions};
use proptest::prelude::*;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Bytes biased towards what confuses CSV readers.
fn csv_noise() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b",;\t|\"'\\\r\n".to_vec()),
        4 => prop::sample::select(b"0123456789.-+eE/:TZ ".to_vec()),
        3 => prop::sample::select(b"abcNULtrue".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..600)
}

proptest! {
    // PROPTEST_CASES raises the number of cases for a longer soak.
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in csv_noise(), forced in any::<bool>()) {
        let dir = Scratch::new("noise");
        let input = dir.file("in.csv", &bytes);
        let output = dir.path("out.parquet");
        let mut options = ConvertOptions::default();
        if forced {
            options.set("encoding", "utf-8").unwrap();
        }
        match convert_file(&input, &output, &options, &AtomicBool::new(false)) {
            Ok(report) => prop_assert_eq!(read_parquet(&output).num_rows() as u64, report.rows),
            Err(e) => {
                prop_assert!(!e.code().is_empty());
                prop_assert!(!output.exists());
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Row {
    i: Option<i64>,
    f: Option<f64>,
    b: Option<bool>,
    d: Option<i32>,
    ts: Option<i64>,
    /// `None` = null, `Some("")` = an empty string.
    s: Option<String>,
}

fn row() -> impl Strategy<Value = Row> {
    (
        prop::option::of(any::<i64>()),
        prop::option::of(any::<f64>().prop_filter("finite", |f| f.is_finite())),
        prop::option::of(any::<bool>()),
        prop::option::of(-100_000i32..100_000),
        prop::option::of(-5_000_000_000_000_000i64..5_000_000_000_000_000),
        prop::option::of(prop_oneof![Just(String::new()), "x[a-z ,;\"\n\r'é]{0,12}"]),
    )
        .prop_map(|(i, f, b, d, ts, s)| Row { i, f, b, d, ts, s })
}

fn full_row() -> impl Strategy<Value = Row> {
    (
        any::<i64>(),
        -1e9f64..1e9,
        any::<bool>(),
        0i32..30_000,
        0i64..2_000_000_000_000_000,
        "x[a-z]{1,5}",
    )
        .prop_map(|(i, f, b, d, ts, s)| Row {
            i: Some(i),
            f: Some(f),
            b: Some(b),
            d: Some(d),
            ts: Some(ts),
            s: Some(s),
        })
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn to_csv(rows: &[Row]) -> String {
    let mut out = String::from("i,f,b,d,ts,s\n");
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    for r in rows {
        let cells = [
            r.i.map(|v| v.to_string()),
            r.f.map(|v| format!("{v:?}")),
            r.b.map(|v| v.to_string()),
            r.d.map(|v| {
                (epoch + chrono::Duration::days(v as i64))
                    .format("%Y-%m-%d")
                    .to_string()
            }),
            r.ts.map(|v| {
                chrono::DateTime::from_timestamp_micros(v)
                    .unwrap()
                    .naive_utc()
                    .format("%Y-%m-%dT%H:%M:%S%.6f")
                    .to_string()
            }),
            r.s.as_ref().map(|s| quote(s)),
        ];
        let line: Vec<String> = cells.into_iter().map(|c| c.unwrap_or_default()).collect();
        out.push_str(&line.join(","));
        out.push_str(if r.i.unwrap_or(0) % 2 == 0 {
            "\n"
        } else {
            "\r\n"
        });
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    #[test]
    fn typed_rows_round_trip_through_csv(first in full_row(), rest in prop::collection::vec(row(), 0..40)) {
        let mut rows = vec![first];
        rows.extend(rest);
        let dir = Scratch::new("roundtrip");
        let input = dir.file("in.csv", to_csv(&rows).as_bytes());
        let output = dir.path("out.parquet");
        let report = convert_file(&input, &output, &ConvertOptions::default(), &AtomicBool::new(false)).unwrap();
        let types: Vec<_> = report.columns.iter().map(|c| c.arrow_type.as_str()).collect();
        prop_assert_eq!(types, ["Int64", "Float64", "Boolean", "Date32", "Timestamp(µs)", "Utf8"]);
        let batch = read_parquet(&output);
        prop_assert_eq!(batch.num_rows(), rows.len());
        let i = batch.column(0).as_primitive::<Int64Type>();
        let f = batch.column(1).as_primitive::<Float64Type>();
        let b = batch.column(2).as_boolean();
        let d = batch.column(3).as_primitive::<Date32Type>();
        let ts = batch.column(4).as_primitive::<TimestampMicrosecondType>();
        let s = batch.column(5).as_string::<i32>();
        for (k, r) in rows.iter().enumerate() {
            prop_assert_eq!(i.is_valid(k).then(|| i.value(k)), r.i);
            prop_assert_eq!(f.is_valid(k).then(|| f.value(k)), r.f);
            prop_assert_eq!(b.is_valid(k).then(|| b.value(k)), r.b);
            prop_assert_eq!(d.is_valid(k).then(|| d.value(k)), r.d);
            prop_assert_eq!(ts.is_valid(k).then(|| ts.value(k)), r.ts);
            prop_assert_eq!(s.is_valid(k).then(|| s.value(k).to_string()), r.s.clone());
        }
    }
}

/// Text cells full of delimiters, quotes, CR/LF and non-ASCII.
fn nasty_text() -> impl Strategy<Value = String> {
    "[a-c ,;\"\r\néß€]{0,40}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(24), ..ProptestConfig::default() })]

    /// Our chunked, parallel tokenizer reads what the `csv` crate reads, across many chunk
    /// boundaries (debug builds cut 64 KiB chunks).
    #[test]
    fn text_matches_the_csv_crate_across_chunk_boundaries(
        cells in prop::collection::vec((nasty_text(), nasty_text()), 1..40),
        repeat in 40usize..80,
        crlf in any::<bool>(),
    ) {
        let mut writer = csv::WriterBuilder::new()
            .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
            .quote_style(csv::QuoteStyle::Always)
            .from_writer(Vec::new());
        writer.write_record(["k", "a", "b"]).unwrap();
        let mut expected = Vec::new();
        for r in 0..repeat {
            for (i, (a, b)) in cells.iter().enumerate() {
                let k = format!("k{r}-{i}");
                writer.write_record([k.as_str(), a.as_str(), b.as_str()]).unwrap();
                expected.push((k, a.clone(), b.clone()));
            }
        }
        let bytes = writer.into_inner().unwrap();
        // Every cell is quoted, so even an empty one is an empty string, never null.
        prop_assert_eq!(read_text_rows("differential", &bytes), expected);
    }
}

/// Converts a CSV of three text columns (`k,a,b`, comma-delimited, `"`-quoted, header, no
/// null tokens) and gives its rows back; a null cell fails the test.
fn read_text_rows(name: &str, csv: &[u8]) -> Vec<(String, String, String)> {
    let dir = Scratch::new(name);
    let input = dir.file("in.csv", csv);
    let output = dir.path("out.parquet");
    let mut options = ConvertOptions::default();
    options.set("delimiter", ",").unwrap();
    options.set("quote", "\"").unwrap();
    options.set("header", "true").unwrap();
    options.set("schema", "a:string,b:string").unwrap();
    options.set("null_values", "").unwrap();
    convert_file(&input, &output, &options, &AtomicBool::new(false)).unwrap();
    let batch = read_parquet(&output);
    let column = |j: usize| batch.column(j).as_string::<i32>();
    let (k, a, b) = (column(0), column(1), column(2));
    assert_eq!(a.null_count() + b.null_count(), 0, "no cell may be null");
    (0..batch.num_rows())
        .map(|i| {
            (
                k.value(i).to_string(),
                a.value(i).to_string(),
                b.value(i).to_string(),
            )
        })
        .collect()
}

/// A cell as people write them, not only as a CSV writer would: plain text with quotes inside
/// (`TV 32" LED`), properly quoted text, and a quoted section followed by more text.
fn hand_written_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c][a-c é\"]{0,11}",
        nasty_text().prop_map(|t| format!("\"{}\"", t.replace('"', "\"\""))),
        ("[a-c,\n]{0,6}", "[a-c][a-c\"]{0,5}").prop_map(|(a, b)| format!("\"{a}\"{b}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(24), ..ProptestConfig::default() })]

    /// On hand-written CSV, quotes inside unquoted fields included, we read what the `csv`
    /// crate reads, across many chunk boundaries.
    #[test]
    fn hand_written_csv_matches_the_csv_crate_across_chunk_boundaries(
        cells in prop::collection::vec((hand_written_cell(), hand_written_cell()), 1..40),
        repeat in 40usize..80,
        crlf in any::<bool>(),
    ) {
        let terminator = if crlf { "\r\n" } else { "\n" };
        let mut text = format!("k,a,b{terminator}");
        for r in 0..repeat {
            for (i, (a, b)) in cells.iter().enumerate() {
                text.push_str(&format!("k{r}-{i},{a},{b}{terminator}"));
            }
        }
        let mut expected = Vec::new();
        for record in csv::Reader::from_reader(text.as_bytes()).records() {
            let record = record.unwrap();
            expected.push((record[0].to_string(), record[1].to_string(), record[2].to_string()));
        }
        prop_assert_eq!(expected.len(), repeat * cells.len());
        prop_assert_eq!(read_text_rows("hand-written", text.as_bytes()), expected);
    }
}

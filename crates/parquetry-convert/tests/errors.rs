//! Every user mistake is a `ConvertError` with a code, the line and the column.

mod common;

use std::sync::atomic::AtomicBool;

use common::{convert_bytes, convert_fixture, fixture, Scratch};
use parquetry_convert::{convert_file, ConvertOptions, ErrorKind};

#[test]
fn a_ragged_row_fails_with_its_code_and_line() {
    assert_eq!(fixture("ragged.csv"), b"a,b,c\n1,2,3\n\"x\ny\",5,6\n7,8\n");
    let err = convert_fixture("ragged.csv", &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::RaggedRow);
    assert_eq!(err.code(), "ragged-row");
    // Line 3 holds a record spanning two lines, so the short one starts on line 5.
    assert_eq!(err.line, Some(5));
    assert!(err.is_input_error());
}

#[test]
fn an_unterminated_quote_at_the_end_fails_with_the_line_of_its_record() {
    assert_eq!(
        fixture("unterminated_quote.csv"),
        b"a,b\n1,2\n3,\"open\nstill open\n"
    );
    let err = convert_fixture("unterminated_quote.csv", &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnterminatedQuote);
    assert_eq!(err.code(), "unterminated-quote");
    assert_eq!(err.line, Some(3));
}

#[test]
fn empty_whitespace_and_bom_only_files_are_empty_input() {
    for (i, (file, bytes)) in [
        ("empty.csv", &b""[..]),
        ("whitespace_only.csv", b"   \n\r\n"),
        ("bom_only.csv", b"\xEF\xBB\xBF"),
        ("bom_newline.csv", b"\xEF\xBB\xBF\n"),
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(fixture(file), *bytes, "{file}");
        let err = convert_fixture(file, &ConvertOptions::default()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::EmptyInput, "case {i}");
        assert_eq!(err.code(), "empty-file");
    }
}

#[test]
fn a_value_that_does_not_fit_a_forced_type_fails_with_line_and_column() {
    let mut o = ConvertOptions::default();
    o.set("schema", "qty:int64").unwrap();
    assert_eq!(
        fixture("forced_type_bad_value.csv"),
        b"name,qty\na,1\nb,2\nc,lots\n"
    );
    let err = convert_fixture("forced_type_bad_value.csv", &o).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidValue);
    assert_eq!(err.code(), "invalid-value");
    assert_eq!(err.line, Some(4));
    assert_eq!(err.column.as_deref(), Some("qty"));
}

#[test]
fn forced_utf8_rejects_other_bytes_with_the_line() {
    let mut o = ConvertOptions::default();
    o.set("encoding", "utf-8").unwrap();
    assert_eq!(fixture("invalid_utf8.csv"), b"a,b\n1,ok\n2,caf\xe9\n");
    let err = convert_fixture("invalid_utf8.csv", &o).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidUtf8);
    assert_eq!(err.code(), "invalid-utf8");
    assert_eq!(err.line, Some(3));
}

#[test]
fn a_schema_override_for_a_missing_column_is_an_invalid_option() {
    let mut o = ConvertOptions::default();
    o.set("schema", "nope:int64").unwrap();
    let err = convert_bytes("missing-col", b"a\n1\n", &o).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidOption);
    assert_eq!(err.code(), "invalid-option");
}

#[test]
fn a_canceled_conversion_stops_and_leaves_no_output() {
    let dir = Scratch::new("cancel");
    let input = dir.file("in.csv", b"a,b\n1,2\n");
    let output = dir.path("out.parquet");
    let err = convert_file(
        &input,
        &output,
        &ConvertOptions::default(),
        &AtomicBool::new(true),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Canceled);
    assert_eq!(err.code(), "canceled");
    assert!(!err.is_input_error());
    assert!(!output.exists());
}

#[test]
fn a_failed_conversion_removes_the_partial_output() {
    let dir = Scratch::new("partial");
    let mut csv = b"a,b\n".to_vec();
    for i in 0..300_000 {
        csv.extend_from_slice(format!("{i},{i}\n").as_bytes());
    }
    csv.extend_from_slice(b"1,2,3\n");
    let input = dir.file("in.csv", &csv);
    let output = dir.path("out.parquet");
    let err = convert_file(
        &input,
        &output,
        &ConvertOptions::default(),
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::RaggedRow);
    assert_eq!(err.line, Some(300_002));
    assert!(!output.exists());
}

#[test]
fn a_missing_input_is_an_io_error_that_may_be_retried() {
    let dir = Scratch::new("missing");
    let err = convert_file(
        &dir.path("nope.csv"),
        &dir.path("out.parquet"),
        &ConvertOptions::default(),
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Io);
    assert_eq!(err.code(), "io-error");
    assert!(!err.is_input_error());
}

#[test]
fn options_reject_bad_values_and_accept_dashed_names() {
    let mut o = ConvertOptions::default();
    assert!(o.set("decimal-separator", ",").is_ok());
    assert!(o.set("row-group-size", "1000").is_ok());
    assert!(o.set("null-values", "-,?").is_ok());
    assert_eq!(o.null_values, ["-", "?"]);
    for (k, v) in [
        ("delimiter", "ab"),
        ("header", "maybe"),
        ("encoding", "ebcdic"),
        ("schema", "a:int128"),
        ("schema", "a"),
        ("compression", "brotli"),
        ("compression", "zstd:99"),
        ("row_group_size", "0"),
        ("dictionary", "perhaps"),
        ("colour", "red"),
        ("date_format", "%Q"),
    ] {
        let e = o.set(k, v).unwrap_err();
        assert_eq!(e.name, k);
        assert!(
            e.to_string().starts_with(&format!("invalid option `{k}`")),
            "{e}"
        );
    }
    // Aliases name the same option, which is what repeated-option checks rely on.
    assert_eq!(ConvertOptions::canonical_name(" SEP "), Some("delimiter"));
    assert_eq!(
        ConvertOptions::canonical_name("Null-Value"),
        Some("null_values")
    );
    assert_eq!(ConvertOptions::canonical_name("codec"), Some("compression"));
    assert_eq!(ConvertOptions::canonical_name("colour"), None);
    // Every advertised name is accepted, with '_' or '-'.
    let valid = [
        ("delimiter", ";"),
        ("quote", "\""),
        ("escape", "\\"),
        ("header", "true"),
        ("encoding", "windows-1252"),
        ("decimal_separator", "."),
        ("null_values", "NULL,NA"),
        ("date_format", "%d/%m/%Y"),
        ("timestamp_format", "%d/%m/%Y %H:%M"),
        ("schema", "id:int64,price:decimal(12,2),when:timestamp"),
        ("compression", "zstd:9"),
        ("compression_level", "9"),
        ("row_group_size", "1000000"),
        ("dictionary", "false"),
        ("skip_rows", "3"),
        ("comment", "#"),
        ("on_error", "skip"),
        ("max_errors", "1%"),
        ("ragged", "pad"),
        ("member", "dados/2024.csv"),
    ];
    assert_eq!(valid.len(), ConvertOptions::NAMES.len());
    for (name, value) in valid {
        assert!(ConvertOptions::NAMES.contains(&name));
        o.set(name, value).unwrap();
        o.set(&name.replace('_', "-"), value).unwrap();
    }
}

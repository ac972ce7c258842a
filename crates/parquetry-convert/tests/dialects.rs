//! Dialect, encoding and structure of the CSV: what reaches the Parquet file.

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type};
use arrow_array::Array;
use common::{convert_bytes, convert_fixture, fixture, types};
use parquetry_convert::{ConvertOptions, TypeSource};

#[test]
fn brazilian_government_csv_in_windows_1252_with_decimal_comma_and_day_first_dates() {
    // Arrange: Windows-1252 bytes (ã = 0xE3, é = 0xE9), ';', `1.234,56`, dd/mm/yyyy, CRLF.
    let csv = fixture("br_gov_cp1252.csv");
    assert!(csv.starts_with(b"Munic\xedpio;Valor;Data;Quantidade\r\nS\xe3o Paulo;1.234,56;"));

    // Act
    let (report, batch) = convert_fixture("br_gov_cp1252.csv", &ConvertOptions::default()).unwrap();

    // Assert
    assert_eq!(report.dialect.delimiter, ";");
    assert_eq!(report.dialect.encoding, "windows-1252");
    assert_eq!(report.dialect.decimal_separator, ",");
    assert!(report.dialect.header);
    assert_eq!(types(&report), ["Utf8", "Float64", "Date32", "Int64"]);
    assert_eq!(report.columns[0].name, "Município");
    let names = batch.column(0).as_string::<i32>();
    assert_eq!(names.value(0), "São Paulo");
    assert_eq!(names.value(1), "Belém");
    assert_eq!(names.value(2), "Poços; de Caldas");
    let values = batch.column(1).as_primitive::<Float64Type>();
    assert_eq!(values.values()[..3].to_vec(), vec![1234.56, -0.5, 10.0]);
    let dates = batch.column(2).as_primitive::<Date32Type>();
    assert_eq!(dates.value(0), 19722); // 2023-12-31
    let qty = batch.column(3).as_primitive::<Int64Type>();
    assert_eq!(qty.value(0), 1500);
    assert!(qty.is_null(2));
    // The last row has empty value and date cells.
    assert_eq!(report.rows, 4);
    assert_eq!(names.value(3), "Goiânia");
    assert!(values.is_null(3) && dates.is_null(3));
    assert_eq!(qty.value(3), 12);
}

#[test]
fn quoted_fields_keep_delimiters_doubled_quotes_and_newlines() {
    assert_eq!(
        fixture("quoted.csv"),
        b"id,text\n1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n3,\"line1\nline2\r\nline3\"\n4,plain\n"
    );
    let (report, batch) = convert_fixture("quoted.csv", &ConvertOptions::default()).unwrap();
    assert_eq!(report.rows, 4);
    let text = batch.column(1).as_string::<i32>();
    assert_eq!(text.value(0), "a, b");
    assert_eq!(text.value(1), "say \"hi\"");
    assert_eq!(text.value(2), "line1\nline2\r\nline3");
    assert_eq!(text.value(3), "plain");
}

#[test]
fn a_utf8_byte_order_mark_is_dropped() {
    assert_eq!(fixture("bom.csv"), b"\xEF\xBB\xBFname,n\nx,1\n");
    let (report, batch) = convert_fixture("bom.csv", &ConvertOptions::default()).unwrap();
    assert_eq!(report.columns[0].name, "name");
    assert_eq!(report.dialect.encoding, "utf-8");
    assert_eq!(batch.column(1).as_primitive::<Int64Type>().value(0), 1);
}

#[test]
fn tab_and_pipe_delimiters_are_detected() {
    for (d, file, name) in [
        ("\t", "delim_tab.tsv", "\\t"),
        ("|", "delim_pipe.csv", "|"),
        (";", "delim_semicolon.csv", ";"),
    ] {
        let csv = format!("a{d}b{d}c\n1{d}x y{d}2.5\n2{d}z{d}3\n");
        assert_eq!(fixture(file), csv.as_bytes(), "{file}");
        let (report, batch) = convert_fixture(file, &ConvertOptions::default()).unwrap();
        assert_eq!(report.dialect.delimiter, name);
        assert_eq!(batch.num_columns(), 3);
        assert_eq!(types(&report), ["Int64", "Utf8", "Float64"]);
    }
}

#[test]
fn a_file_without_header_gets_generated_column_names() {
    assert_eq!(
        fixture("no_header.csv"),
        b"1,2020-01-01,3.5\n2,2020-01-02,4\n"
    );
    let (report, batch) = convert_fixture("no_header.csv", &ConvertOptions::default()).unwrap();
    assert!(!report.dialect.header);
    assert_eq!(report.rows, 2);
    assert_eq!(report.columns[0].name, "column_1");
    assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(0), 1);
}

#[test]
fn forced_dialect_options_are_used() {
    let mut o = ConvertOptions::default();
    o.set("delimiter", "tab").unwrap();
    o.set("header", "false").unwrap();
    o.set("quote", "'").unwrap();
    assert_eq!(fixture("forced_dialect.tsv"), b"'a\tb'\tc\n");
    let (report, batch) = convert_fixture("forced_dialect.tsv", &o).unwrap();
    assert_eq!(report.rows, 1);
    assert_eq!(batch.column(0).as_string::<i32>().value(0), "a\tb");
}

#[test]
fn backslash_escapes_are_detected() {
    let csv = b"id,text\n1,\"a \\\"quoted\\\" word\"\n2,\"b\"\n";
    assert_eq!(fixture("backslash_escape.csv"), csv);
    let (report, batch) =
        convert_fixture("backslash_escape.csv", &ConvertOptions::default()).unwrap();
    assert_eq!(report.dialect.escape, "\\");
    assert_eq!(
        batch.column(1).as_string::<i32>().value(0),
        "a \"quoted\" word"
    );
}

#[test]
fn invalid_utf8_late_in_an_auto_file_replans_as_windows_1252() {
    // More than the 1 MiB sample of pure ASCII, then one Latin-1 byte.
    let mut csv = b"id,name\n".to_vec();
    let mut i = 0;
    while csv.len() < 3 << 20 {
        csv.extend_from_slice(format!("{i},name{i}\n").as_bytes());
        i += 1;
    }
    csv.extend_from_slice(b"999999,Jos\xe9\n");
    let (report, batch) = convert_bytes("late-latin1", &csv, &ConvertOptions::default()).unwrap();
    assert_eq!(report.dialect.encoding, "windows-1252");
    assert_eq!(report.rows, i + 1);
    let names = batch.column(1).as_string::<i32>();
    assert_eq!(names.value(names.len() - 1), "José");
}

#[test]
fn forced_encoding_latin1_decodes_and_report_types_stay_sampled() {
    let mut o = ConvertOptions::default();
    o.set("encoding", "latin1").unwrap();
    assert_eq!(fixture("latin1.csv"), b"a,b\nma\xe7\xe3,1\n");
    let (report, batch) = convert_fixture("latin1.csv", &o).unwrap();
    assert_eq!(batch.column(0).as_string::<i32>().value(0), "maçã");
    assert!(report
        .columns
        .iter()
        .all(|c| c.type_source == TypeSource::Sampled));
}

#[test]
fn a_one_column_file_of_quoted_values_with_commas_is_one_column() {
    let csv = b"nome\n\"Silva, Ana\"\n\"Souza, Bia\"\nCarlos\n\"O'Neil, Dan\"\n";
    let (report, batch) = convert_bytes("one-column", csv, &ConvertOptions::default()).unwrap();
    assert_eq!(report.rows, 4);
    assert_eq!(types(&report), ["Utf8"]);
    let names = batch.column(0).as_string::<i32>();
    assert_eq!(names.value(0), "Silva, Ana");
    assert_eq!(names.value(3), "O'Neil, Dan");
}

#[test]
fn a_delimiter_ending_every_data_row_but_not_the_header_is_ignored() {
    let csv = b"a;b;c\n1;2;3;\n4;5;\n";
    let (report, batch) = convert_bytes("trailing", csv, &ConvertOptions::default()).unwrap();
    assert_eq!(report.rows, 2);
    assert_eq!(types(&report), ["Int64", "Int64", "Int64"]);
    let c = batch.column(2).as_primitive::<Int64Type>();
    assert_eq!(c.value(0), 3);
    assert!(c.is_null(1));

    // A non-empty extra field is still a ragged row, with its line.
    let err = convert_bytes(
        "extra",
        b"a;b;c\n1;2;3\n1;2;3;4\n",
        &ConvertOptions::default(),
    )
    .unwrap_err();
    assert_eq!((err.code(), err.line), ("ragged-row", Some(3)));
}

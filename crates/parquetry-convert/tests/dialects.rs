//! Dialect, encoding and structure of the CSV: what reaches the Parquet file.

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type};
use arrow_array::Array;
use common::convert_bytes;
use parquetry_convert::{ConvertOptions, TypeSource};

fn types(report: &parquetry_convert::ConversionReport) -> Vec<String> {
    report
        .columns
        .iter()
        .map(|c| c.arrow_type.clone())
        .collect()
}

#[test]
fn brazilian_government_csv_in_windows_1252_with_decimal_comma_and_day_first_dates() {
    // Arrange: Windows-1252 bytes (ã = 0xE3, é = 0xE9), ';', `1.234,56`, dd/mm/yyyy.
    let mut csv = b"Munic\xedpio;Valor;Data;Quantidade\r\n".to_vec();
    csv.extend_from_slice(b"S\xe3o Paulo;1.234,56;31/12/2023;1.500\r\n");
    csv.extend_from_slice(b"Bel\xe9m;-0,50;01/02/2024;7\r\n");
    csv.extend_from_slice(b"\"Po\xe7os; de Caldas\";10,00;15/03/2024;\r\n");

    // Act
    let (report, batch) = convert_bytes("br", &csv, &ConvertOptions::default()).unwrap();

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
    assert_eq!(values.values().to_vec(), vec![1234.56, -0.5, 10.0]);
    let dates = batch.column(2).as_primitive::<Date32Type>();
    assert_eq!(dates.value(0), 19722); // 2023-12-31
    let qty = batch.column(3).as_primitive::<Int64Type>();
    assert_eq!(qty.value(0), 1500);
    assert!(qty.is_null(2));
}

#[test]
fn quoted_fields_keep_delimiters_doubled_quotes_and_newlines() {
    let csv = b"id,text\n1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n3,\"line1\nline2\r\nline3\"\n4,plain\n";
    let (report, batch) = convert_bytes("quoted", csv, &ConvertOptions::default()).unwrap();
    assert_eq!(report.rows, 4);
    let text = batch.column(1).as_string::<i32>();
    assert_eq!(text.value(0), "a, b");
    assert_eq!(text.value(1), "say \"hi\"");
    assert_eq!(text.value(2), "line1\nline2\r\nline3");
    assert_eq!(text.value(3), "plain");
}

#[test]
fn a_utf8_byte_order_mark_is_dropped() {
    let csv = b"\xEF\xBB\xBFname,n\nx,1\n";
    let (report, batch) = convert_bytes("bom", csv, &ConvertOptions::default()).unwrap();
    assert_eq!(report.columns[0].name, "name");
    assert_eq!(report.dialect.encoding, "utf-8");
    assert_eq!(batch.column(1).as_primitive::<Int64Type>().value(0), 1);
}

#[test]
fn tab_and_pipe_delimiters_are_detected() {
    for (d, name) in [("\t", "\\t"), ("|", "|"), (";", ";")] {
        let csv = format!("a{d}b{d}c\n1{d}x y{d}2.5\n2{d}z{d}3\n");
        let (report, batch) =
            convert_bytes("delims", csv.as_bytes(), &ConvertOptions::default()).unwrap();
        assert_eq!(report.dialect.delimiter, name);
        assert_eq!(batch.num_columns(), 3);
        assert_eq!(types(&report), ["Int64", "Utf8", "Float64"]);
    }
}

#[test]
fn a_file_without_header_gets_generated_column_names() {
    let csv = b"1,2020-01-01,3.5\n2,2020-01-02,4\n";
    let (report, batch) = convert_bytes("noheader", csv, &ConvertOptions::default()).unwrap();
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
    let csv = b"'a\tb'\tc\n";
    let (report, batch) = convert_bytes("forced", csv, &o).unwrap();
    assert_eq!(report.rows, 1);
    assert_eq!(batch.column(0).as_string::<i32>().value(0), "a\tb");
}

#[test]
fn backslash_escapes_are_detected() {
    let csv = b"id,text\n1,\"a \\\"quoted\\\" word\"\n2,\"b\"\n";
    let (report, batch) = convert_bytes("escape", csv, &ConvertOptions::default()).unwrap();
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
    let (report, batch) = convert_bytes("latin1", b"a,b\nma\xe7\xe3,1\n", &o).unwrap();
    assert_eq!(batch.column(0).as_string::<i32>().value(0), "maçã");
    assert!(report
        .columns
        .iter()
        .all(|c| c.type_source == TypeSource::Sampled));
}

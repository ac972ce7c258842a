//! Files shaped the way public-data publishers release them: title and source lines above
//! the table, `#` comments, metadata lines, `Fonte:` footers, CR line ends, a header one
//! field short, one-line and header-less files, and day-first dates decided per file.

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type};
use arrow_array::Array;
use common::{convert_bytes, convert_fixture, types};
use parquetry_convert::{ConvertOptions, ErrorKind};

fn names(report: &parquetry_convert::ConversionReport) -> Vec<String> {
    report.columns.iter().map(|c| c.name.clone()).collect()
}

fn with(pairs: &[(&str, &str)]) -> ConvertOptions {
    ConvertOptions::from_pairs(pairs.iter().copied()).unwrap()
}

#[test]
fn title_source_and_blank_lines_above_the_header_are_skipped_and_reported() {
    let (report, batch) = convert_fixture("title_source_lines.csv", &with(&[])).unwrap();
    assert_eq!(names(&report), ["CNPJ", "NOME", "VALOR"]);
    assert_eq!(types(&report), ["Utf8", "Utf8", "Float64"]);
    assert_eq!(report.rows, 3);
    assert_eq!(report.skipped.before_table, 3);
    assert_eq!(
        report.skipped.first_before_table.as_deref(),
        Some("Relatório gerado em 01/02/2024")
    );
    let valor = batch.column(2).as_primitive::<Float64Type>();
    assert_eq!(valor.values(), &[1234.56, 987.10, -15.0]);
    assert_eq!(batch.column(1).as_string::<i32>().value(2), "Itaú Unibanco");
}

#[test]
fn skip_rows_forces_the_lines_before_the_table() {
    let o = with(&[("skip_rows", "4"), ("delimiter", ";")]);
    let (report, _) = convert_fixture("title_source_lines.csv", &o).unwrap();
    // Four lines skipped: the table starts at the first row, which reads as data.
    assert_eq!(report.skipped.before_table, 4);
    assert_eq!(report.columns[0].name, "column_1");
    assert_eq!(report.rows, 3);
    let (report, _) =
        convert_fixture("title_source_lines.csv", &with(&[("skip_rows", "3")])).unwrap();
    assert_eq!(report.columns[0].name, "CNPJ");
    assert_eq!(report.skipped.before_table, 3);
}

#[test]
fn a_leading_comment_block_is_skipped_even_with_commas_in_it() {
    let (report, batch) = convert_fixture("comment_block.csv", &with(&[])).unwrap();
    assert_eq!(names(&report), ["station", "ts", "temperature", "humidity"]);
    assert_eq!(report.rows, 3);
    assert_eq!(report.skipped.before_table, 3);
    assert_eq!(
        batch.column(3).as_primitive::<Int64Type>().values(),
        &[40, 42, 45]
    );
}

#[test]
fn comment_lines_anywhere_with_the_comment_option() {
    let csv = b"a,b\n1,2\n# a note, in the middle\n3,4\n\n5,6\n";
    let (report, batch) = convert_bytes("comments", csv, &with(&[("comment", "#")])).unwrap();
    assert_eq!(report.rows, 3);
    assert_eq!(report.skipped.comments, 1);
    assert_eq!(report.skipped.blank, 1);
    assert_eq!(
        batch.column(0).as_primitive::<Int64Type>().values(),
        &[1, 3, 5]
    );
}

#[test]
fn a_source_footer_is_dropped_and_listed() {
    let (report, batch) = convert_fixture("fonte_footer.csv", &with(&[])).unwrap();
    assert_eq!(types(&report), ["Utf8", "Utf8", "Int64"]);
    assert_eq!(report.rows, 3);
    assert_eq!(report.skipped.footer, 2);
    assert_eq!(
        report.skipped.footer_lines,
        [
            "Total geral:;19978228",
            "Fonte: IBGE, Censo Demografico 2022"
        ]
    );
    assert_eq!(
        batch.column(2).as_primitive::<Int64Type>().value(2),
        2315560
    );
}

#[test]
fn a_bad_line_followed_by_rows_is_not_a_footer() {
    let csv = b"a;b;c\n1;2;3\nFonte: x\n4;5;6\n";
    let e = convert_bytes("not-footer", csv, &with(&[])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::RaggedRow);
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("on_error=skip"), "{e}");
}

#[test]
fn weather_station_metadata_lines_come_before_the_table() {
    let (report, batch) = convert_fixture("inmet_metadata.csv", &with(&[])).unwrap();
    assert_eq!(report.skipped.before_table, 6);
    assert_eq!(report.columns[0].name, "Data");
    assert_eq!(report.rows, 3);
    assert_eq!(report.columns[3].arrow_type, "Float64");
    let temp = batch.column(3).as_primitive::<Float64Type>();
    assert_eq!(temp.values(), &[24.1, 23.6, 23.2]);
    assert!(batch.column(2).is_null(2));
}

#[test]
fn cr_only_and_mixed_line_ends_read_as_rows() {
    for name in ["cr_only.csv", "cr_mixed.csv"] {
        let (report, batch) = convert_fixture(name, &with(&[])).unwrap();
        assert_eq!(names(&report), ["id", "name", "score"], "{name}");
        assert_eq!(types(&report), ["Int64", "Utf8", "Float64"], "{name}");
        assert!(report.rows >= 3, "{name}");
        assert_eq!(
            batch.column(1).as_string::<i32>().value(1),
            "Bruno",
            "{name}"
        );
    }
}

#[test]
fn a_header_one_field_short_names_the_row_name_column() {
    let (report, batch) = convert_fixture("header_short.csv", &with(&[])).unwrap();
    assert_eq!(names(&report), ["column_1", "x", "y"]);
    assert_eq!(types(&report), ["Utf8", "Int64", "Float64"]);
    assert_eq!(report.rows, 3);
    assert_eq!(batch.column(0).as_string::<i32>().value(0), "r1");
}

#[test]
fn a_one_value_file_is_one_row_of_data() {
    let (report, batch) = convert_fixture("one_value.csv", &with(&[])).unwrap();
    assert!(!report.dialect.header);
    assert_eq!(names(&report), ["column_1"]);
    assert_eq!(report.rows, 1);
    assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(0), 42);
}

#[test]
fn a_file_without_header_keeps_its_first_row() {
    let (report, _) = convert_fixture("no_header_typed.csv", &with(&[])).unwrap();
    assert!(!report.dialect.header);
    assert_eq!(report.rows, 3);
    assert_eq!(report.columns[0].arrow_type, "Date32");
    assert_eq!(report.columns[3].arrow_type, "Int64");
}

#[test]
fn day_first_is_decided_for_the_whole_file() {
    let (report, batch) = convert_fixture("day_first_file.csv", &with(&[])).unwrap();
    assert_eq!(types(&report), ["Utf8", "Date32", "Date32"]);
    assert!(report.columns[2]
        .note
        .as_deref()
        .unwrap()
        .contains("day first"));
    // 01/02/2020 is 1 February 2020.
    let admissao = batch.column(2).as_primitive::<Date32Type>();
    assert_eq!(admissao.value(0), 18293);
}

#[test]
fn a_comma_file_with_only_ambiguous_dates_keeps_them_as_text() {
    let csv = b"id,when\n1,01/02/2020\n2,03/04/2021\n";
    let (report, _) = convert_bytes("ambiguous-dates", csv, &with(&[])).unwrap();
    assert_eq!(types(&report), ["Int64", "Utf8"]);
    let note = report.columns[1].note.as_deref().unwrap();
    assert!(note.contains("date_format"), "{note}");
}

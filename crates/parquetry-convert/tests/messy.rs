//! Messy real-world uploads found in the new-user trial: mixed encodings, per-column decimal
//! separators, huge integers, files that are not CSV, corrupt compressed input, Excel's
//! `sep=` line, late decimal commas and empty options.

mod common;

use std::io::Write;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type};
use arrow_array::Array;
use common::{convert_bytes, types, Scratch};
use parquetry_convert::{convert_file, Codec, ConvertOptions, ErrorKind};

#[test]
fn an_empty_delimiter_or_quote_is_an_invalid_option() {
    let mut o = ConvertOptions::default();
    let e = o.set("delimiter", "").unwrap_err();
    assert!(e.message.contains("delimiter must be one character"), "{e}");
    let e = o.set("quote", "").unwrap_err();
    assert!(e.message.contains("quote must be one character"), "{e}");
    // `auto` and a lone tab still work.
    o.set("delimiter", "auto").unwrap();
    o.set("delimiter", "\t").unwrap();
    assert_eq!(o.delimiter, Some(b'\t'));
}

#[test]
fn one_character_in_two_roles_and_bad_schemas_are_invalid_options() {
    let mut o = ConvertOptions::default();
    o.set("delimiter", ";").unwrap();
    o.set("quote", ";").unwrap();
    let e = o.validate().unwrap_err();
    assert!(
        e.message.contains("both the delimiter and the quote"),
        "{e}"
    );
    let err = convert_bytes("delimiter-is-quote", b"a;b\n1;2\n", &o).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidOption);

    let mut o = ConvertOptions::default();
    let e = o.set("schema", "a:int64, a:string").unwrap_err();
    assert!(e.message.contains("column `a` is given two types"), "{e}");
    let e = o.set("schema", "a:decimal(40,2)").unwrap_err();
    assert!(e.message.contains("precision p from 1 to 38"), "{e}");
}

#[test]
fn a_compression_level_with_a_codec_without_levels_is_rejected() {
    let mut o = ConvertOptions::default();
    o.set("compression", "lz4").unwrap();
    let e = o.set("compression_level", "5").unwrap_err();
    assert!(e.message.contains("has no level"), "{e}");

    // Level first, then a level-less codec named explicitly.
    let mut o = ConvertOptions::default();
    o.set("compression_level", "5").unwrap();
    assert!(o.set("compression", "none").is_err());

    // Level first with the default codec: caught when the options are checked together.
    let mut o = ConvertOptions::default();
    o.set("compression_level", "5").unwrap();
    assert!(o.validate().is_err());
    let err = convert_bytes("level-snappy", b"a\n1\n", &o).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidOption);

    // Level then zstd stays fine.
    o.set("compression", "zstd").unwrap();
    assert_eq!(o.compression, Codec::Zstd);
    o.validate().unwrap();
}

/// 100,000 rows of `city`, but row 80,000 is `Goiânia` in Windows-1252 bytes.
fn cities_with_a_windows_1252_row_at_80k(city: &str) -> Vec<u8> {
    let mut csv = b"id,city\n".to_vec();
    for i in 1..=100_000u32 {
        if i == 80_000 {
            csv.extend_from_slice(b"80000,Goi\xE2nia\n");
        } else {
            csv.extend_from_slice(format!("{i},{city}\n").as_bytes());
        }
    }
    csv
}

#[test]
fn a_utf8_file_with_one_windows_1252_row_keeps_its_utf8_rows() {
    let csv = cities_with_a_windows_1252_row_at_80k("São Paulo");
    let (report, batch) = convert_bytes("mixed-enc", &csv, &ConvertOptions::default()).unwrap();
    assert_eq!(report.rows, 100_000);
    assert_eq!(report.dialect.encoding, "utf-8");
    assert_eq!(report.dialect.windows_1252_values, 1);
    let city = batch.column(1).as_string::<i32>();
    assert_eq!(city.value(0), "São Paulo");
    assert_eq!(city.value(99_998), "São Paulo");
    assert_eq!(city.value(79_999), "Goiânia");
}

#[test]
fn a_windows_1252_row_within_the_sample_of_a_utf8_file_is_read_alone() {
    let csv = b"id,city\n1,S\xC3\xA3o Paulo\n2,Goi\xE2nia\n3,Bel\xC3\xA9m\n";
    let (report, batch) =
        convert_bytes("mixed-enc-sample", csv, &ConvertOptions::default()).unwrap();
    assert_eq!(report.dialect.encoding, "utf-8");
    assert_eq!(report.dialect.windows_1252_values, 1);
    let city = batch.column(1).as_string::<i32>();
    assert_eq!(
        (city.value(0), city.value(1), city.value(2)),
        ("São Paulo", "Goiânia", "Belém")
    );
}

#[test]
fn an_ascii_file_with_a_late_windows_1252_row_is_still_windows_1252() {
    let csv = cities_with_a_windows_1252_row_at_80k("Recife");
    let (report, batch) = convert_bytes("late-cp1252", &csv, &ConvertOptions::default()).unwrap();
    assert_eq!(report.dialect.encoding, "windows-1252");
    assert_eq!(report.dialect.windows_1252_values, 0);
    assert_eq!(batch.column(1).as_string::<i32>().value(79_999), "Goiânia");
}

#[test]
fn uploads_that_are_not_csv_fail_with_clear_codes() {
    let xlsx = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml\x00\x00binary";
    let err = convert_bytes("xlsx", xlsx, &ConvertOptions::default()).unwrap_err();
    assert_eq!((err.kind, err.code()), (ErrorKind::NotCsv, "not-csv"));
    assert!(err.message.contains("ZIP"), "{}", err.message);
    assert!(err.is_input_error());

    let mut utf16 = b"\xFF\xFE".to_vec();
    for u in "id,name\n1,Ana\n2,Bia\n".encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    let err = convert_bytes("utf16", &utf16, &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.code(), "unsupported-encoding");
    assert!(err.message.contains("UTF-16"), "{}", err.message);

    // Without a byte-order mark: NULs in every other byte.
    let err = convert_bytes("utf16-nobom", &utf16[2..], &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.code(), "unsupported-encoding");

    let binary: Vec<u8> = (0..4096u32).map(|i| (i % 7) as u8).collect();
    let err = convert_bytes("binary", &binary, &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.code(), "not-csv");

    // Random bytes without NULs, an HTML error page, an XML document.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8 | 1
        })
        .collect();
    let html = b"\n  <!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head></html>\n";
    for (name, bytes, what) in [
        ("random", &random[..], "control bytes"),
        ("html", &html[..], "HTML page"),
        (
            "xml",
            &b"<?xml version=\"1.0\"?>\n<rows><row a=\"1\"/></rows>\n"[..],
            "XML",
        ),
    ] {
        let err = convert_bytes(name, bytes, &ConvertOptions::default()).unwrap_err();
        assert_eq!(err.code(), "not-csv", "{name}: {}", err.message);
        assert!(err.message.contains(what), "{name}: {}", err.message);
    }

    // A stray NUL in a real export is not enough to refuse it.
    let (report, _) = convert_bytes(
        "stray-nul",
        b"a,b\n1,x\x00y\n2,z\n",
        &ConvertOptions::default(),
    )
    .unwrap();
    assert_eq!(report.rows, 2);
}

fn big_csv(rows: usize) -> Vec<u8> {
    let mut csv = b"id,name,amount\n".to_vec();
    for i in 0..rows {
        csv.extend_from_slice(
            format!("{i},name {i} {},{}.{}\n", i * 7919 % 1000, i, i % 100).as_bytes(),
        );
    }
    csv
}

#[test]
fn truncated_or_corrupt_gzip_and_zstd_input_is_a_permanent_error() {
    let csv = big_csv(200_000);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&csv).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&csv[..], 3).unwrap();
    for (name, data) in [("gz", &gz), ("zst", &zst)] {
        let truncated = &data[..data.len() * 2 / 3];
        let err = convert_bytes(
            &format!("truncated-{name}"),
            truncated,
            &ConvertOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "corrupt-compressed-input", "{name}: {err}");
        assert!(err.is_input_error(), "{name}");
        assert!(
            err.message.contains("truncated or corrupt"),
            "{}",
            err.message
        );

        // Garbage in the middle may decode to text that fails as CSV first; either way the
        // error is the input's, never a retried `io-error`.
        let mut garbled = data.clone();
        let mid = garbled.len() / 2;
        for b in &mut garbled[mid..mid + 64] {
            *b ^= 0x5a;
        }
        let err = convert_bytes(
            &format!("garbled-{name}"),
            &garbled,
            &ConvertOptions::default(),
        )
        .unwrap_err();
        assert!(err.is_input_error(), "{name}: {err}");
    }
    // A gzip trailer whose checksum does not match.
    let mut bad_crc = gz.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xff;
    let err = convert_bytes("bad-crc-gz", &bad_crc, &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.code(), "corrupt-compressed-input", "{err}");
}

#[test]
fn each_column_of_a_semicolon_file_keeps_its_own_decimal_separator() {
    let csv = "valor;lat;lon;qtd\n1.234,56;-23.550;-46.633;1.000\n10,5;-22.900;-43.200;2\n";
    // `qtd` shows thousands grouping (`1.000` beside a plain `2`), so it reads as integers.
    let (report, batch) =
        convert_bytes("dec-per-col", csv.as_bytes(), &ConvertOptions::default()).unwrap();
    // `-23.550` alone could be a thousands dot: in a decimal-comma file it is kept as text,
    // with the reason, rather than silently becoming -23550.
    assert_eq!(types(&report), ["Float64", "Utf8", "Utf8", "Int64"]);
    assert!(report.columns[1]
        .note
        .as_deref()
        .unwrap()
        .contains("decimal_separator"));
    assert_eq!(report.columns[0].decimal_separator.as_deref(), Some(","));
    // `qtd` is Int64: a decimal comma does not apply to it, so none is reported.
    assert_eq!(report.columns[3].decimal_separator, None);
    assert_eq!(report.dialect.decimal_separator, ",");
    assert_eq!(
        batch.column(0).as_primitive::<Float64Type>().value(0),
        1234.56
    );
    assert_eq!(batch.column(1).as_string::<i32>().value(0), "-23.550");
    assert_eq!(batch.column(3).as_primitive::<Int64Type>().value(0), 1000);

    // One unambiguous coordinate decides its column only.
    let csv = "valor;lat;lon\n1.234,56;-23.5505;-46.633\n10,5;-22.9;-43.2\n";
    let (report, batch) =
        convert_bytes("dec-per-col-2", csv.as_bytes(), &ConvertOptions::default()).unwrap();
    assert_eq!(types(&report), ["Float64", "Float64", "Float64"]);
    assert_eq!(
        batch.column(0).as_primitive::<Float64Type>().value(0),
        1234.56
    );
    assert_eq!(
        batch.column(1).as_primitive::<Float64Type>().value(0),
        -23.5505
    );
    assert_eq!(
        batch.column(2).as_primitive::<Float64Type>().value(0),
        -46.633
    );
    assert_eq!(report.columns[1].decimal_separator.as_deref(), Some("."));

    // A forced separator applies to every column.
    let mut o = ConvertOptions::default();
    o.set("decimal_separator", ".").unwrap();
    let csv = "a;b\n-23.550;12.5\n-22.900;1\n";
    let (report, batch) = convert_bytes("dec-forced", csv.as_bytes(), &o).unwrap();
    assert_eq!(types(&report), ["Float64", "Float64"]);
    assert_eq!(
        batch.column(0).as_primitive::<Float64Type>().value(0),
        -23.55
    );
}

#[test]
fn a_late_decimal_comma_in_an_integer_column_of_a_semicolon_file_widens_to_float() {
    let mut csv = b"id;qtd;nome\n".to_vec();
    for i in 1..=100_000u32 {
        let q = if i == 90_000 {
            "3,5".to_string()
        } else {
            (i % 50).to_string()
        };
        csv.extend_from_slice(format!("{i};{q};n{i}\n").as_bytes());
    }
    let (report, batch) = convert_bytes("late-comma", &csv, &ConvertOptions::default()).unwrap();
    assert_eq!(types(&report), ["Int64", "Float64", "Utf8"]);
    let q = batch.column(1).as_primitive::<Float64Type>();
    assert_eq!(q.value(89_999), 3.5);
    assert_eq!(q.value(9), 10.0);
    assert_eq!(report.columns[1].decimal_separator.as_deref(), Some(","));
}

#[test]
fn integers_beyond_int64_keep_every_digit() {
    let csv = "caso,chave,n\n\
               12345678901234567890,35190812345678000190550010000012341000012345,1\n\
               12345678901234567891,35190812345678000190550010000012341000012346,2\n";
    let (report, batch) =
        convert_bytes("bigint", csv.as_bytes(), &ConvertOptions::default()).unwrap();
    assert_eq!(types(&report), ["Decimal128(38, 0)", "Utf8", "Int64"]);
    let caso = batch.column(0).as_primitive::<Decimal128Type>();
    assert_eq!(caso.value(0), 12345678901234567890i128);
    assert_eq!(caso.value(1), 12345678901234567891i128);
    let chave = batch.column(1).as_string::<i32>();
    assert_eq!(
        chave.value(1),
        "35190812345678000190550010000012341000012346"
    );

    // A late big integer widens an Int64 column to Decimal128(38, 0), not Float64.
    let mut csv = b"id\n".to_vec();
    for i in 1..=60_000u64 {
        csv.extend_from_slice(format!("{i}\n").as_bytes());
    }
    csv.extend_from_slice(b"98765432109876543210\n");
    let (report, batch) = convert_bytes("bigint-late", &csv, &ConvertOptions::default()).unwrap();
    assert_eq!(types(&report), ["Decimal128(38, 0)"]);
    let id = batch.column(0).as_primitive::<Decimal128Type>();
    assert_eq!(id.value(60_000), 98765432109876543210i128);
    assert_eq!(id.value(0), 1);

    // Floats stay floats, and a user who wants floats gets them.
    let mut o = ConvertOptions::default();
    o.set("schema", "caso:float64").unwrap();
    let csv = "caso,x\n12345678901234567890,1.5\n";
    let (report, _) = convert_bytes("bigint-float", csv.as_bytes(), &o).unwrap();
    assert_eq!(types(&report), ["Float64", "Float64"]);
}

#[test]
fn an_excel_sep_line_names_the_delimiter_and_is_skipped() {
    let csv = "sep=;\r\nnome;valor\r\nAna;1,5\r\nBia;2\r\n";
    let (report, batch) =
        convert_bytes("sep-line", csv.as_bytes(), &ConvertOptions::default()).unwrap();
    assert_eq!(report.dialect.delimiter, ";");
    assert!(report.dialect.header);
    assert_eq!(report.rows, 2);
    assert_eq!(report.columns[0].name, "nome");
    assert_eq!(batch.column(1).as_primitive::<Float64Type>().value(0), 1.5);

    // Line numbers in errors still count the file's physical lines.
    let csv = "sep=,\nid,name\n1,a\n2,b,c\n";
    let err =
        convert_bytes("sep-line-err", csv.as_bytes(), &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::RaggedRow);
    assert_eq!(err.line, Some(4));
}

#[test]
fn the_report_of_a_plain_conversion_is_unchanged_by_the_new_fields() {
    let dir = Scratch::new("plain-report");
    let input = dir.file("in.csv", b"a,b\n1,x\n");
    let report = convert_file(
        &input,
        &dir.path("out.parquet"),
        &ConvertOptions::default(),
        &std::sync::atomic::AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(report.dialect.windows_1252_values, 0);
    assert_eq!(report.columns[1].note, None);
    assert_eq!(report.columns[1].decimal_separator, None);
    // An Int64 column has no fractional part: no separator is reported for it.
    assert_eq!(report.columns[0].arrow_type, "Int64");
    assert_eq!(report.columns[0].decimal_separator, None);
}

#[test]
fn quotes_inside_unquoted_fields_are_kept_and_never_merge_rows() {
    // Inches in product names and Excel's `="0123"` are text; only a quote that starts a
    // field opens a quoted field.
    let (report, batch) =
        common::convert_fixture("stray_quotes.csv", &ConvertOptions::default()).expect("converts");
    assert_eq!(report.rows, 4);
    assert_eq!(types(&report), ["Int64", "Utf8", "Float64", "Utf8"]);
    let product = batch.column(1).as_string::<i32>();
    assert_eq!(product.value(0), "TV 32\" LED");
    assert_eq!(product.value(1), "Cabo \"HDMI\" 2m");
    assert_eq!(product.value(2), "Monitor 27\"");
    let price = batch.column(2).as_primitive::<Float64Type>();
    assert_eq!(price.value(0), 1299.9);
    let note = batch.column(3).as_string::<i32>();
    assert_eq!(note.value(0), "=\"0123\"");
    assert_eq!(note.value(2), "polegadas: 27\"");
    assert!(note.is_null(3));
}

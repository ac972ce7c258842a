//! Type inference, widening, forced types, nulls and the Parquet options.

mod common;

use std::io::Write;
use std::sync::atomic::AtomicBool;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float64Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::Array;
use common::{convert_bytes, convert_fixture, fixture, fixture_path, read_parquet, types, Scratch};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquetry_convert::{convert_file, ConvertOptions, TypeSource};

#[test]
fn ints_floats_booleans_dates_and_timestamps_are_inferred() {
    // i,f,b,d,ts,tz,t,zeroone
    // 1,1.5,true,2024-01-31,2024-01-31T10:00:00,2024-01-31T10:00:00.123+02:00,x,0
    // -2,2,FALSE,2024-02-29,2024-02-29 23:59:59.5,2024-01-31T10:00:00Z,"y, z",1
    // ,,,,,,,
    let (report, batch) = convert_fixture("types.csv", &ConvertOptions::default()).unwrap();
    assert_eq!(
        types(&report),
        [
            "Int64",
            "Float64",
            "Boolean",
            "Date32",
            "Timestamp(µs)",
            "Timestamp(µs, \"UTC\")",
            "Utf8",
            "Int64"
        ]
    );
    assert_eq!(batch.num_rows(), 3);
    assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(1), -2);
    assert_eq!(batch.column(1).as_primitive::<Float64Type>().value(1), 2.0);
    let b = batch.column(2).as_boolean();
    assert!(b.value(0) && !b.value(1) && b.is_null(2));
    assert_eq!(batch.column(3).as_primitive::<Date32Type>().value(1), 19782);
    let ts = batch.column(4).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(0), 1_706_695_200_000_000);
    assert_eq!(ts.value(1), 1_709_251_199_500_000);
    let tz = batch.column(5).as_primitive::<TimestampMicrosecondType>();
    // 10:00:00.123+02:00 is 08:00:00.123 UTC.
    assert_eq!(tz.value(0), 1_706_688_000_123_000);
    assert_eq!(tz.value(1), 1_706_695_200_000_000);
    for j in 0..batch.num_columns() {
        assert!(batch.column(j).is_null(2), "column {j}");
    }
}

#[test]
fn booleans_in_common_spellings_are_booleans() {
    // tf,yn: true/FALSE/True and yes/No/YES, then an empty row.
    let (report, batch) = convert_fixture("booleans.csv", &ConvertOptions::default()).unwrap();
    assert_eq!(types(&report), ["Boolean", "Boolean"]);
    assert_eq!(report.rows, 4);
    for j in 0..2 {
        let b = batch.column(j).as_boolean();
        assert!(
            b.value(0) && !b.value(1) && b.value(2) && b.is_null(3),
            "column {j}"
        );
    }
    // sim/não in any case, with or without the tilde (UTF-8).
    let (report, batch) = convert_fixture("booleans_pt.csv", &ConvertOptions::default()).unwrap();
    assert_eq!(types(&report), ["Boolean"]);
    let b = batch.column(0).as_boolean();
    let values: Vec<Option<bool>> = b.iter().collect();
    assert_eq!(
        values,
        [
            Some(true),
            Some(false),
            Some(true),
            Some(false),
            Some(false)
        ]
    );
}

#[test]
fn iso_dates_and_timestamps_with_and_without_offsets() {
    // day,local,utc,offset: `T` or space, fractions, `Z`, `+02:00`, `-03:00`, `+05:30`.
    let (report, batch) = convert_fixture("timestamps.csv", &ConvertOptions::default()).unwrap();
    assert_eq!(
        types(&report),
        [
            "Date32",
            "Timestamp(µs)",
            "Timestamp(µs, \"UTC\")",
            "Timestamp(µs, \"UTC\")"
        ]
    );
    assert_eq!(report.rows, 3);
    let day = batch.column(0).as_primitive::<Date32Type>();
    assert_eq!(day.values().to_vec(), [19753, 19782, 10956]);
    let local = batch.column(1).as_primitive::<TimestampMicrosecondType>();
    let utc = batch.column(2).as_primitive::<TimestampMicrosecondType>();
    let offset = batch.column(3).as_primitive::<TimestampMicrosecondType>();
    // Without an offset the wall clock is kept; `Z` is the same instant.
    assert_eq!(local.values().to_vec(), utc.values().to_vec());
    assert_eq!(local.value(0), 1_706_695_200_000_000); // 2024-01-31T10:00:00
    assert_eq!(local.value(1), 1_709_251_199_500_000); // 2024-02-29 23:59:59.5
    assert_eq!(local.value(2), 946_598_400_000_000); // 1999-12-31 00:00:00
    const HOUR: i64 = 3_600_000_000;
    assert_eq!(offset.value(0), local.value(0) - 2 * HOUR);
    assert_eq!(offset.value(1), local.value(1) + 3 * HOUR);
    assert_eq!(offset.value(2), local.value(2) - 11 * HOUR / 2);
}

#[test]
fn codes_with_leading_zeros_stay_text() {
    assert_eq!(fixture("leading_zeros.csv"), b"zip,n\n01310,0\n20040,10\n");
    let (report, batch) = convert_fixture("leading_zeros.csv", &ConvertOptions::default()).unwrap();
    assert_eq!(types(&report), ["Utf8", "Int64"]);
    assert_eq!(batch.column(0).as_string::<i32>().value(0), "01310");
}

#[test]
fn null_tokens_are_nulls_and_quoted_empty_text_is_not() {
    let csv = b"n,t\n1,\"\"\nNULL,\nNA,null\nN/A,N/A\n5,\"x\"\n";
    assert_eq!(fixture("null_tokens.csv"), csv);
    let (report, batch) = convert_fixture("null_tokens.csv", &ConvertOptions::default()).unwrap();
    assert_eq!(types(&report), ["Int64", "Utf8"]);
    let n = batch.column(0).as_primitive::<Int64Type>();
    assert_eq!(n.null_count(), 3);
    let t = batch.column(1).as_string::<i32>();
    assert!(t.is_valid(0) && t.value(0).is_empty());
    assert!(t.is_null(1) && t.is_null(2) && t.is_null(3));
    assert_eq!(t.value(4), "x");
}

#[test]
fn configured_null_tokens_replace_the_defaults() {
    let mut o = ConvertOptions::default();
    o.set("null_values", "-,?").unwrap();
    assert_eq!(fixture("custom_nulls.csv"), b"a,b\n1,-\n?,NULL\n");
    let (_, batch) = convert_fixture("custom_nulls.csv", &o).unwrap();
    assert!(batch.column(0).is_null(1));
    let b = batch.column(1).as_string::<i32>();
    assert!(b.is_null(0));
    assert_eq!(b.value(1), "NULL");
}

#[test]
fn a_header_only_file_gives_zero_rows_of_text_columns() {
    assert_eq!(fixture("header_only.csv"), b"id,name,when\r\n");
    let (report, batch) = convert_fixture("header_only.csv", &ConvertOptions::default()).unwrap();
    assert_eq!(report.rows, 0);
    assert_eq!(batch.num_rows(), 0);
    assert_eq!(types(&report), ["Utf8", "Utf8", "Utf8"]);
    assert_eq!(report.columns[2].name, "when");
}

/// 100 000 clean rows, then values that break the sampled types. Too big to commit: built at
/// test time, with the same recipe in bench/crosscheck_fixtures.py (`late_break`).
fn late_break_csv() -> Vec<u8> {
    let mut csv = b"id,amount,day,code\n".to_vec();
    for i in 0..100_000 {
        writeln!(csv, "{i},{i},2024-01-{:02},{i}", i % 28 + 1).unwrap();
    }
    csv.extend_from_slice(b"100000,12.75,2024-01-01T12:00:00,X-1\n");
    csv.extend_from_slice(b"100001,,someday,7\n");
    csv
}

#[test]
fn a_type_break_after_100k_rows_widens_the_column_and_loses_no_row() {
    let csv = late_break_csv();
    // The size crosscheck.toml pins for the Python copy of the recipe.
    assert_eq!(csv.len(), 2_866_744);
    let (report, batch) = convert_bytes("late-break", &csv, &ConvertOptions::default()).unwrap();
    assert_eq!(report.rows, 100_002);
    assert_eq!(batch.num_rows(), 100_002);
    assert_eq!(types(&report), ["Int64", "Float64", "Utf8", "Utf8"]);
    let sources: Vec<_> = report.columns.iter().map(|c| c.type_source).collect();
    assert_eq!(
        sources,
        [
            TypeSource::Sampled,
            TypeSource::Widened,
            TypeSource::Widened,
            TypeSource::Widened
        ]
    );
    let amount = batch.column(1).as_primitive::<Float64Type>();
    assert_eq!(amount.value(99_999), 99_999.0);
    assert_eq!(amount.value(100_000), 12.75);
    assert!(amount.is_null(100_001));
    let day = batch.column(2).as_string::<i32>();
    assert_eq!(day.value(0), "2024-01-01");
    assert_eq!(day.value(100_001), "someday");
    let code = batch.column(3).as_string::<i32>();
    assert_eq!(code.value(100_000), "X-1");
    assert_eq!(code.value(100_001), "7");
}

#[test]
fn codes_with_leading_zeros_after_the_sample_keep_their_zeros() {
    let mut csv = b"cep,n\n".to_vec();
    for i in 0..100_000 {
        writeln!(csv, "{},{i}", 10_000_000 + i).unwrap();
    }
    csv.extend_from_slice(b"01310100,007\n");
    let (report, batch) = convert_bytes("late-zeros", &csv, &ConvertOptions::default()).unwrap();
    assert_eq!(report.rows, 100_001);
    assert_eq!(types(&report), ["Utf8", "Utf8"]);
    assert_eq!(report.columns[0].type_source, TypeSource::Widened);
    let cep = batch.column(0).as_string::<i32>();
    assert_eq!(cep.value(0), "10000000");
    assert_eq!(cep.value(100_000), "01310100");
    assert_eq!(batch.column(1).as_string::<i32>().value(100_000), "007");

    // Asked for as numbers, they are numbers.
    let mut forced = ConvertOptions::default();
    forced.set("schema", "cep:int64").unwrap();
    let (report, batch) = convert_bytes("late-zeros-forced", &csv, &forced).unwrap();
    assert_eq!(types(&report)[0], "Int64");
    let cep = batch.column(0).as_primitive::<Int64Type>();
    assert_eq!(cep.value(100_000), 1_310_100);
}

#[test]
fn forced_types_decimal_date_format_and_timestamps_are_used() {
    let mut o = ConvertOptions::default();
    o.set("schema", "id:string,price:decimal(12,2),when:timestamptz")
        .unwrap();
    o.set("date_format", "%Y%m%d").unwrap();
    // id,price,when,day
    // 007,19.9,2024-01-01T00:00:00-03:00,20240131
    // 8,-1,2024-01-01 03:00:00,20240201
    let (report, batch) = convert_fixture("forced_types.csv", &o).unwrap();
    assert_eq!(
        types(&report),
        [
            "Utf8",
            "Decimal128(12, 2)",
            "Timestamp(µs, \"UTC\")",
            "Date32"
        ]
    );
    assert_eq!(report.columns[0].type_source, TypeSource::Forced);
    assert_eq!(report.columns[3].type_source, TypeSource::Sampled);
    assert_eq!(batch.column(0).as_string::<i32>().value(0), "007");
    let price = batch.column(1).as_primitive::<Decimal128Type>();
    assert_eq!(price.value(0), 1990);
    assert_eq!(price.value(1), -100);
    let when = batch.column(2).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(when.value(0), when.value(1));
    assert_eq!(batch.column(3).as_primitive::<Date32Type>().value(0), 19753);
}

#[test]
fn explicit_timestamp_formats_are_tried() {
    let mut o = ConvertOptions::default();
    o.set("timestamp_format", "%d/%m/%Y %H:%M").unwrap();
    assert_eq!(
        fixture("timestamp_format.csv"),
        b"at\n31/01/2024 10:30\n01/02/2024 00:00\n"
    );
    let (report, batch) = convert_fixture("timestamp_format.csv", &o).unwrap();
    assert_eq!(types(&report), ["Timestamp(µs)"]);
    let at = batch.column(0).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(at.value(0), 1_706_697_000_000_000);
}

#[test]
fn ambiguous_slash_dates_stay_text_and_unambiguous_ones_are_dates() {
    // amb,dmy,mdy
    // 01/02/2024,13/02/2024,02/13/2024
    // 03/04/2024,01/02/2024,01/02/2024
    let (report, batch) = convert_fixture("slash_dates.csv", &ConvertOptions::default()).unwrap();
    assert_eq!(types(&report), ["Utf8", "Date32", "Date32"]);
    let dmy = batch.column(1).as_primitive::<Date32Type>();
    let mdy = batch.column(2).as_primitive::<Date32Type>();
    assert_eq!(dmy.value(0), mdy.value(0));
    assert_eq!(dmy.value(1), 19754); // 1 Feb 2024
    assert_eq!(mdy.value(1), 19724); // 2 Jan 2024
}

#[test]
fn forced_decimal_comma_reads_thousands_groups() {
    let mut o = ConvertOptions::default();
    o.set("decimal_separator", ",").unwrap();
    o.set("delimiter", ";").unwrap();
    assert_eq!(fixture("decimal_comma.csv"), b"v\n1.234.567,5\n2\n");
    let (report, batch) = convert_fixture("decimal_comma.csv", &o).unwrap();
    assert_eq!(types(&report), ["Float64"]);
    assert_eq!(
        batch.column(0).as_primitive::<Float64Type>().value(0),
        1_234_567.5
    );
}

#[test]
fn gzip_and_zstd_inputs_are_recognised_by_magic_bytes() {
    // Committed compressed bytes; the extensions (.txt, .csv) say nothing about the codec.
    let csv = b"a,b\n1,x\n2,y\n";
    let gz = fixture("gzip_input.txt");
    let zst = fixture("zstd_input.csv");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
    assert_eq!(plain, csv);
    assert_eq!(zstd::decode_all(&zst[..]).unwrap(), csv);
    for (name, bytes, expected) in [
        ("gzip_input.txt", gz, "gzip"),
        ("zstd_input.csv", zst, "zstd"),
    ] {
        let dir = Scratch::new(expected);
        let output = dir.path("out.parquet");
        let report = convert_file(
            &fixture_path(name),
            &output,
            &ConvertOptions::default(),
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!(report.dialect.input_compression, expected);
        assert_eq!(report.input_bytes, bytes.len() as u64);
        assert_eq!(report.rows, 2);
        let batch = read_parquet(&output);
        assert_eq!(batch.column(1).as_string::<i32>().value(1), "y");
    }
}

#[test]
fn codecs_row_group_size_and_dictionary_options_reach_the_file() {
    let mut csv = b"k,v\n".to_vec();
    for i in 0..2_500 {
        writeln!(csv, "{},{i}", i % 3).unwrap();
    }
    for (codec, expected) in [
        ("snappy", "SNAPPY"),
        ("zstd:9", "ZSTD"),
        ("lz4", "LZ4_RAW"),
        ("gzip", "GZIP"),
        ("none", "UNCOMPRESSED"),
    ] {
        let mut o = ConvertOptions::default();
        o.set("compression", codec).unwrap();
        o.set("row_group_size", "1000").unwrap();
        o.set("dictionary", "false").unwrap();
        let dir = Scratch::new("codec");
        let input = dir.file("in.csv", &csv);
        let output = dir.path("out.parquet");
        let report = convert_file(&input, &output, &o, &AtomicBool::new(false)).unwrap();
        assert_eq!(report.row_groups, 3);
        assert_eq!(
            report.output_bytes,
            std::fs::metadata(&output).unwrap().len()
        );
        let reader = SerializedFileReader::new(std::fs::File::open(&output).unwrap()).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.num_row_groups(), 3);
        let col = meta.row_group(0).column(0);
        assert!(
            col.compression().to_string().starts_with(expected),
            "{codec}: {}",
            col.compression()
        );
        assert!(col.dictionary_page_offset().is_none());
        assert_eq!(read_parquet(&output).num_rows(), 2_500);
    }
}

#[test]
fn day_first_date_times_are_timestamps_and_mixed_with_dates_too() {
    // registro;data_hora;data;atualizado
    // 1;24/11/2026 14:30:00;24/11/2026;24/11/2026 14:30
    // 2;05/01/2026 08:05:09;13/01/2026;13/01/2026
    // 3;;31/12/2025;31/12/2025 23:59
    let (report, batch) =
        convert_fixture("slash_timestamps.csv", &ConvertOptions::default()).unwrap();
    assert_eq!(report.rows, 3);
    assert_eq!(
        types(&report),
        ["Int64", "Timestamp(µs)", "Date32", "Timestamp(µs)"]
    );
    let micros = |y, m, d, hh: i64, mm: i64, ss: i64| {
        let day = chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        day.and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros()
            + (hh * 3600 + mm * 60 + ss) * 1_000_000
    };
    let at = batch.column(1).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(at.value(0), micros(2026, 11, 24, 14, 30, 0));
    assert_eq!(at.value(1), micros(2026, 1, 5, 8, 5, 9));
    assert!(at.is_null(2));
    let updated = batch.column(3).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(updated.value(0), micros(2026, 11, 24, 14, 30, 0));
    assert_eq!(updated.value(1), micros(2026, 1, 13, 0, 0, 0));
    assert_eq!(updated.value(2), micros(2025, 12, 31, 23, 59, 0));
}

#[test]
fn a_date_time_after_100k_day_first_dates_widens_the_column_to_timestamps() {
    let mut csv = b"id,dia\n".to_vec();
    for i in 0..100_000 {
        writeln!(csv, "{i},{:02}/11/2026", i % 28 + 1).unwrap();
    }
    csv.extend_from_slice(b"100000,24/11/2026 14:30\n");
    let (report, batch) = convert_bytes("late-datetime", &csv, &ConvertOptions::default()).unwrap();
    assert_eq!(report.rows, 100_001);
    assert_eq!(types(&report), ["Int64", "Timestamp(µs)"]);
    assert_eq!(report.columns[1].type_source, TypeSource::Widened);
    let day = batch.column(1).as_primitive::<TimestampMicrosecondType>();
    let nov_1 = 1_793_491_200_000_000; // 2026-11-01T00:00:00Z
    assert_eq!(day.value(0), nov_1);
    assert_eq!(
        day.value(100_000),
        nov_1 + (23 * 86_400 + 14 * 3600 + 30 * 60) * 1_000_000
    );
}

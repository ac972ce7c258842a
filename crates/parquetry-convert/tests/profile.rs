//! The column profile of the report, read from the Parquet statistics, and the
//! JSON rows of a preview.

mod common;

use common::convert_bytes;
use parquetry_convert::{rows_as_json, ColumnProfile, ColumnType, ConvertOptions};
use serde_json::{json, Value};

/// The row groups of the file, and each column's profile.
fn profile(name: &str, csv: &str, options: &ConvertOptions) -> (usize, Vec<ColumnProfile>) {
    let (report, _) = convert_bytes(name, csv.as_bytes(), options).unwrap();
    let profiles = report
        .columns
        .into_iter()
        .map(|c| c.profile.expect("a profile"))
        .collect();
    (report.row_groups, profiles)
}

#[test]
fn each_type_has_its_nulls_minimum_and_maximum_over_all_row_groups() {
    let csv = "i,f,b,d,ts,tz,t\n\
               5,1.5,true,2024-03-01,2024-01-31T10:00:00,2024-01-31T10:00:00+02:00,pear\n\
               ,,,,,,\n\
               -7,-2.25,false,2023-12-31,2024-02-29 23:59:59.5,2024-01-31T10:00:00Z,apple\n\
               12,0,true,2024-01-01,2024-01-01T00:00:00,2024-02-01T00:00:00Z,zucchini\n";
    // Two rows a row group: the bounds come from different row groups.
    let options = ConvertOptions {
        row_group_size: 2,
        ..ConvertOptions::default()
    };

    let (row_groups, profiles) = profile("profile-types", csv, &options);

    assert_eq!(row_groups, 2);

    let show = |p: &ColumnProfile| (p.null_count, p.min.clone(), p.max.clone());
    let expected: [(u64, Value, Value); 7] = [
        (1, json!(-7), json!(12)),
        (1, json!(-2.25), json!(1.5)),
        (1, json!(false), json!(true)),
        (1, json!("2023-12-31"), json!("2024-03-01")),
        (
            1,
            json!("2024-01-01T00:00:00"),
            json!("2024-02-29T23:59:59.500"),
        ),
        (
            1,
            json!("2024-01-31T08:00:00Z"),
            json!("2024-02-01T00:00:00Z"),
        ),
        (1, json!("apple"), json!("zucchini")),
    ];
    for (j, (p, (nulls, min, max))) in profiles.iter().zip(expected).enumerate() {
        assert_eq!(show(p), (nulls, Some(min), Some(max)), "column {j}");
        // arrow-rs counts no distinct values.
        assert_eq!(p.distinct_count, None, "column {j}");
    }
}

#[test]
fn decimals_keep_their_scale_and_an_all_null_column_has_no_bounds() {
    let csv = "amount,empty\n12.50,\n-0.05,\n";
    let options = ConvertOptions {
        schema: vec![(
            "amount".into(),
            ColumnType::Decimal {
                precision: 30,
                scale: 2,
            },
        )],
        ..ConvertOptions::default()
    };

    let (_, profiles) = profile("profile-decimal", csv, &options);

    assert_eq!(profiles[0].min, Some(json!("-0.05")));
    assert_eq!(profiles[0].max, Some(json!("12.50")));
    assert_eq!(profiles[1].null_count, 2);
    assert_eq!(
        (profiles[1].min.clone(), profiles[1].max.clone()),
        (None, None)
    );
    let report = serde_json::to_value(&profiles[1]).unwrap();
    assert_eq!(report, json!({"null_count": 2}));
}

#[test]
fn a_long_text_keeps_a_marked_minimum_and_no_maximum() {
    let long = "x".repeat(100);
    let csv = format!("t\n{long}a\n{long}b\n");

    let (_, profiles) = profile("profile-long", &csv, &ConvertOptions::default());

    let min = profiles[0].min.as_ref().unwrap().as_str().unwrap();
    assert_eq!(min, format!("{}…", "x".repeat(64)));
    assert_eq!(profiles[0].max, None);
}

#[test]
fn rows_as_json_shows_a_converted_file_with_typed_values() {
    let csv = "id,day,label\n1,2024-01-31,a\n,,\n3,2024-02-01,c\n";
    let (_, batch) =
        convert_bytes("profile-rows", csv.as_bytes(), &ConvertOptions::default()).unwrap();

    let json = serde_json::to_value(rows_as_json(&batch, 2)).unwrap();

    assert_eq!(
        json,
        json!({
            "columns": [
                {"name": "id", "arrow_type": "Int64"},
                {"name": "day", "arrow_type": "Date32"},
                {"name": "label", "arrow_type": "Utf8"}
            ],
            "rows": [[1, "2024-01-31", "a"], [null, null, null]]
        })
    );
}

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::Array;
use parquetry_convert::ConvertOptions;

#[test]
fn a_simple_csv_converts_with_inferred_types() {
    let csv = b"id,price,name,ok\n1,2.5,\"a, b\",true\n2,,x,false\n";
    let (report, batch) = common::convert_bytes("smoke", csv, &ConvertOptions::default()).unwrap();
    assert_eq!(report.rows, 2);
    assert_eq!(batch.num_rows(), 2);
    let types: Vec<_> = report
        .columns
        .iter()
        .map(|c| c.arrow_type.as_str())
        .collect();
    assert_eq!(types, ["Int64", "Float64", "Utf8", "Boolean"]);
    assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(1), 2);
    assert!(batch.column(1).as_primitive::<Float64Type>().is_null(1));
    assert_eq!(batch.column(2).as_string::<i32>().value(0), "a, b");
}

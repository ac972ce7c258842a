//! `inspect`: the engine's look at the head of a file.

use std::io::Write;

use parquetry_convert::{inspect, ConvertOptions, ErrorKind};

#[test]
fn a_cut_gzip_head_is_read_as_far_as_it_goes() {
    let mut csv = b"id;valor;quando\n".to_vec();
    for i in 0..20_000 {
        csv.extend_from_slice(
            format!("{i};{},5;0{}/0{}/2024\n", i * 2, i % 9 + 1, i % 9 + 1).as_bytes(),
        );
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&csv).unwrap();
    let gz = gz.finish().unwrap();
    let head = &gz[..gz.len() / 2];
    let seen = inspect(head, false, &ConvertOptions::default(), 3).unwrap();
    assert!(!seen.complete);
    // The text was gzip: the inspection says so, as the job's report does.
    assert_eq!(seen.dialect.input_compression, "gzip");
    assert_eq!(seen.columns[1].arrow_type, "Float64");
    // A `;` file with slash dates whose days are all ≤ 12 reads them day first.
    assert_eq!(seen.columns[2].arrow_type, "Date32");
    assert!(seen.columns[2]
        .note
        .as_deref()
        .unwrap()
        .contains("day first"));
    assert_eq!(seen.preview.rows.len(), 3);
    assert_eq!(seen.preview.rows[1][1], serde_json::json!(2.5));
    assert_eq!(seen.options["schema"], "id:int64,valor:float64,quando:date");
}

#[test]
fn leading_zeros_and_zip_heads_are_explained() {
    let seen = inspect(
        b"cep,n\n01310-100,1\n04538-133,2\n",
        true,
        &ConvertOptions::default(),
        5,
    )
    .unwrap();
    assert_eq!(seen.columns[0].arrow_type, "Utf8");
    assert!(seen.columns[0]
        .note
        .as_deref()
        .unwrap()
        .contains("leading zeros"));
    let e = inspect(b"PK\x03\x04rest", false, &ConvertOptions::default(), 5).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidOption);
}

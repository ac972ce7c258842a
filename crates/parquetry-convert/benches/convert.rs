//! Throughput of `convert_file` on a generated file shaped like `shared/bench/gen_csv.py`
//! (ints, floats, booleans, dates, timestamps with offsets, categories, quoted text).
//! `cargo bench -p parquetry-convert` (release); set `PARQUETRY_BENCH_ROWS` to change the size.

use std::sync::atomic::AtomicBool;

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use parquetry_convert::{convert_file, ConvertOptions};

fn bench(c: &mut Criterion) {
    let input = common::generate(common::rows(200_000));
    let output = input.with_extension("parquet");
    let bytes = std::fs::metadata(&input).unwrap().len();
    let mut group = c.benchmark_group("convert_file");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(10);
    for codec in ["snappy", "zstd", "none"] {
        let mut options = ConvertOptions::default();
        options.set("compression", codec).unwrap();
        group.bench_function(codec, |b| {
            b.iter(|| convert_file(&input, &output, &options, &AtomicBool::new(false)).unwrap())
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(input.parent().unwrap());
}

criterion_group!(benches, bench);
criterion_main!(benches);

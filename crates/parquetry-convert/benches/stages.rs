//! One stage of the engine at a time, each with its throughput, so that a regression in one
//! stage shows without the threads and the other stages around it:
//!
//! - `detect`: the dialect, header and column types from the file's first 1 MiB, as every
//!   conversion starts (bytes of CSV per second; most of a small file's time);
//! - `tokenize`: records split into fields (bytes of CSV per second);
//! - `values/*`: each value parser alone (values per second);
//! - `parse`: tokenize and type a chunk into Arrow arrays, one thread (bytes of CSV);
//! - `encode/none` and `encode/snappy`: Parquet pages of those arrays, one thread (bytes of
//!   CSV); their difference is the compression.
//!
//! `cargo bench -p parquetry-convert --bench stages` (`PARQUETRY_BENCH_ROWS`, default 50,000
//! rows ≈ 11 MB). Instruction counts of the same stages: `bench/profile-stages.sh`.

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use parquetry_convert::stages::{
    detect, detection_sample, parse_values, sample_values, Stages, ValueParser,
};
use parquetry_convert::{Codec, ConvertOptions};

fn bench(c: &mut Criterion) {
    let path = common::generate(common::rows(50_000));
    let csv = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
    let stages = Stages::prepare(&csv, &ConvertOptions::default()).unwrap();
    let bytes = stages.bytes() as u64;

    let mut group = c.benchmark_group("stage");
    // Detection reads the file's first MiB only.
    group.throughput(Throughput::Bytes(detection_sample(&csv).len() as u64));
    let options = ConvertOptions::default();
    group.bench_function("detect", |b| b.iter(|| detect(&csv, &options).unwrap()));
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("tokenize", |b| b.iter(|| stages.tokenize()));
    group.bench_function("parse", |b| b.iter(|| stages.parse().unwrap()));
    let batches = stages.parse().unwrap();
    for (name, codec) in [
        ("encode/none", Codec::None),
        ("encode/snappy", Codec::Snappy),
    ] {
        group.bench_function(name, |b| b.iter(|| stages.encode(&batches, codec).unwrap()));
    }
    group.finish();

    let mut group = c.benchmark_group("values");
    const N: usize = 100_000;
    group.throughput(Throughput::Elements(N as u64));
    for (name, parser) in [
        ("int", ValueParser::Int),
        ("float_dot", ValueParser::FloatDot),
        ("float_comma", ValueParser::FloatComma),
        ("iso_date", ValueParser::IsoDate),
        ("iso_timestamp", ValueParser::IsoTimestamp),
    ] {
        let values = sample_values(parser, N);
        assert_eq!(
            parse_values(parser, &values),
            N,
            "{name}: every sample parses"
        );
        group.bench_function(name, |b| b.iter(|| parse_values(parser, &values)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

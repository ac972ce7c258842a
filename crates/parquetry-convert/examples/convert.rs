//! Converts one file from the command line, for benchmarks and manual checks:
//! `cargo run --release -p parquetry-convert --example convert -- IN OUT [name=value ...]`

use std::path::Path;
use std::sync::atomic::AtomicBool;

use parquetry_convert::{convert_file, ConvertOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: convert IN OUT [name=value ...]");
        std::process::exit(2);
    }
    let mut options = ConvertOptions::default();
    for kv in &args[2..] {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        if let Err(e) = options.set(k, v) {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
    let start = std::time::Instant::now();
    match convert_file(
        Path::new(&args[0]),
        Path::new(&args[1]),
        &options,
        &AtomicBool::new(false),
    ) {
        Ok(report) => {
            eprintln!("converted in {:.3} s", start.elapsed().as_secs_f64());
            println!("{}", serde_json_like(&report));
        }
        Err(e) => {
            eprintln!(
                "error [{}] line {:?} column {:?}: {e}",
                e.code(),
                e.line,
                e.column
            );
            std::process::exit(1);
        }
    }
}

fn serde_json_like(report: &parquetry_convert::ConversionReport) -> String {
    format!("{report:#?}")
}

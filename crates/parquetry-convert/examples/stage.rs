//! Runs one stage of the engine once, for `bench/profile-stages.sh` to count its
//! instructions under callgrind (only inside the stage's function):
//! `stage detect|tokenize|parse|encode-none|encode-snappy CSV` (`detect` reads the first MiB,
//! as a conversion samples it) or `stage values-KIND COUNT`
//! with KIND one of int, float-dot, float-comma, iso-date, iso-timestamp.

use parquetry_convert::stages::{detect, parse_values, sample_values, Stages, ValueParser};
use parquetry_convert::{Codec, ConvertOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [stage, input] = &args[..] else {
        eprintln!("usage: stage STAGE CSV|COUNT");
        std::process::exit(2);
    };
    if let Some(kind) = stage.strip_prefix("values-") {
        let parser = match kind {
            "int" => ValueParser::Int,
            "float-dot" => ValueParser::FloatDot,
            "float-comma" => ValueParser::FloatComma,
            "iso-date" => ValueParser::IsoDate,
            "iso-timestamp" => ValueParser::IsoTimestamp,
            other => panic!("unknown value parser {other}"),
        };
        let values = sample_values(parser, input.parse().expect("COUNT"));
        println!("{} values parsed", parse_values(parser, &values));
        return;
    }
    let csv = std::fs::read(input).expect("the CSV file");
    if stage == "detect" {
        let columns = detect(&csv, &ConvertOptions::default()).expect("a plan");
        println!("{columns} columns");
        return;
    }
    let stages = Stages::prepare(&csv, &ConvertOptions::default()).expect("a plan");
    match stage.as_str() {
        "tokenize" => println!("{} fields", stages.tokenize()),
        "parse" => println!("{} batches", stages.parse().expect("parsed").len()),
        "encode-none" | "encode-snappy" => {
            let batches = stages.parse().expect("parsed");
            let codec = if stage == "encode-none" {
                Codec::None
            } else {
                Codec::Snappy
            };
            println!("{} bytes", stages.encode(&batches, codec).expect("encoded"));
        }
        other => panic!("unknown stage {other}"),
    }
}

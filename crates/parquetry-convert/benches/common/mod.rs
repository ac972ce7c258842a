//! The generated input of the benches: a file shaped like `shared/bench/gen_csv.py`'s
//! (ints, floats, booleans, dates, timestamps with offsets, categories, quoted text),
//! made here so the benches need neither Python nor extra crates.

use std::io::Write;
use std::path::PathBuf;

use parquetry_convert::stages::XorShift;

/// Writes `rows` rows to a new file in the temporary directory and returns its path.
pub fn generate(rows: usize) -> PathBuf {
    const WORDS: &[&str] = &[
        "the", "quick", "brown", "fox", "order", "arrived", "late", "great", "product", "refund",
        "shipping", "battery", "screen", "quality", "gift", "works", "stopped", "five", "stars",
    ];
    const CATS: &[&str] = &[
        "electronics",
        "books",
        "garden",
        "toys",
        "grocery",
        "apparel",
    ];
    let dir = std::env::temp_dir().join(format!("parquetry-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("bench-{rows}.csv"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(
        out,
        "id,store_id,qty,amount,price,is_member,order_date,created_at,category,customer,comment"
    )
    .unwrap();
    let mut rng = XorShift::new(0x9E37_79B9_7F4A_7C15);
    for i in 0..rows {
        let day = 1 + rng.below(28);
        let month = 1 + rng.below(12);
        let words: Vec<&str> = (0..3 + rng.below(30))
            .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
            .collect();
        let comment = if rng.below(10) == 0 {
            format!("\"{}, \"\"really\"\"\"", words.join(" "))
        } else {
            words.join(" ")
        };
        writeln!(
            out,
            "{},{},{},{}.{},{}.{:02},{},2023-{month:02}-{day:02},2023-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}+02:00,{},\"Smith, {}\",{}",
            5_000_000_000u64 + i as u64 * 7,
            1 + rng.below(5000),
            rng.below(500),
            rng.below(100_000),
            rng.below(1_000_000_000),
            rng.below(5000),
            rng.below(100),
            rng.below(2) == 0,
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.below(1000),
            CATS[rng.below(CATS.len() as u64) as usize],
            WORDS[rng.below(WORDS.len() as u64) as usize],
            comment,
        )
        .unwrap();
    }
    out.flush().unwrap();
    path
}

/// Rows of the bench input: `PARQUETRY_BENCH_ROWS`, or `default`.
pub fn rows(default: usize) -> usize {
    std::env::var("PARQUETRY_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

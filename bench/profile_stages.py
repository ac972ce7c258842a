#!/usr/bin/env python3
"""Sums callgrind_annotate's per-function instruction counts (self cost) into
the engine's stages and prints a Markdown table. Used by bench/profile.sh."""
from __future__ import annotations

import re
import sys
from pathlib import Path

# First match wins: the order puts specific names before general ones.
STAGES = [
    ("detect (dialect, header, types from the sample)", r"parquetry_convert::detect::"),
    ("tokenize (split records and fields)", r"parquetry_convert::(tokenize|scan|field_table|cut)::|memchr::"),
    ("type (parse values, build Arrow columns)",
     r"parquetry_convert::(values|batch|columns|float)::|dec2flt|core::str::converts::from_utf8|__udivti3"),
    # `snap::` was the pure-Rust snappy; `snappy::` is the C++ library (chunk/snappy.rs).
    ("compress (snappy)", r"snap::|snappy::"),
    ("encode (Parquet pages, dictionaries, levels, hashing)",
     # Vec's extend loops show up on their own when not inlined: in these profiles they
     # are called from parquet's definition levels (LevelInfoBuilder::write) only.
     r"parquet::|parquetry_convert::chunk::|arrow_|Interner|DictEncoder|Hasher|hash_one|ahash|spec_extend|extend_desugared"),
    ("copy and allocate (memcpy, memset, memcmp, malloc)", r"memmove|memcpy|memset|memcmp|malloc|free"),
]
LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$")


def main() -> int:
    functions, csv = Path(sys.argv[1]), Path(sys.argv[2])
    totals = {name: 0 for name, _ in STAGES}
    other = 0
    program = 0
    for line in functions.read_text().splitlines():
        m = LINE.match(line)
        if not m:
            continue
        count, where = int(m.group(1).replace(",", "")), m.group(2)
        if "PROGRAM TOTALS" in where:
            program = count
            continue
        for name, pattern in STAGES:
            if re.search(pattern, where):
                totals[name] += count
                break
        else:
            other += count
    size = csv.stat().st_size
    print(f"Input `{csv.name}`, {size / 1e6:.1f} MB; {program:,} instructions in all, "
          f"{program / size:.1f} per input byte.\n")
    print("| stage | instructions | share | per input byte |")
    print("|---|---:|---:|---:|")
    for name, _ in STAGES:
        print(f"| {name} | {totals[name]:,} | {100 * totals[name] / program:.1f} % "
              f"| {totals[name] / size:.1f} |")
    print(f"| everything else (threads, I/O, start-up) | {other:,} | {100 * other / program:.1f} % "
          f"| {other / size:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

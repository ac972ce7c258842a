#!/usr/bin/env bash
# Where the engine's time goes, in instructions (callgrind counts instructions,
# not seconds: the figure holds on a noisy machine and repeats for the same
# binary and input). Converts a generated CSV under valgrind's callgrind and
# sums each function's own instructions into the engine's stages.
#
#   bench/profile.sh [ROWS] [BIN]   # default 100000 rows ≈ 27 MB, target/release/parquetry
#
# Build the binary first (cargo build --release --bin parquetry). Needs valgrind
# (Debian's valgrind package: apt-get install valgrind).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
rows="${1:-100000}"
bin="${2:-$root/target/release/parquetry}"
command -v valgrind >/dev/null || { echo "profile.sh: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
[[ -x "$bin" ]] || { echo "profile.sh: $bin is not built (cargo build --release --bin parquetry)" >&2; exit 1; }

csv="$("$here/data.sh" "$rows")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
  "$bin" convert "$csv" "$work/out.parquet" >"$work/valgrind.log" 2>&1
callgrind_annotate --inclusive=no --threshold=100 "$work/callgrind.out" >"$work/functions.txt"
python3 "$here/profile_stages.py" "$work/functions.txt" "$csv"

#!/usr/bin/env bash
# Where the engine's time goes, in instructions (callgrind counts instructions,
# not seconds: the figure holds on a noisy machine and repeats for the same
# binary and input). Converts a generated CSV under valgrind's callgrind and
# sums each function's own instructions into the engine's stages.
#
#   bench/profile.sh [ROWS] [BIN]   # default 100000 rows ≈ 27 MB, target/release/parquetry
#
# Build the binary first (cargo build --release --bin parquetry). BIN may also be the
# engine's `convert` example (cargo build --release -p parquetry-convert --example convert),
# which runs the same engine and builds in a fraction of the time. Needs valgrind
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
# The example takes IN OUT; the service's binary its `convert` subcommand.
subcommand=(convert)
[[ "$(basename "$(dirname "$bin")")" == examples ]] && subcommand=()
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
  "$bin" "${subcommand[@]}" "$csv" "$work/out.parquet" >"$work/valgrind.log" 2>&1
callgrind_annotate --inclusive=no --threshold=100 "$work/callgrind.out" >"$work/functions.txt"
# PROFILE_KEEP=DIR keeps callgrind's output and the per-function listing there, for a
# closer look (callgrind_annotate --tree=caller DIR/callgrind.out).
if [[ -n "${PROFILE_KEEP:-}" ]]; then
  mkdir -p "$PROFILE_KEEP" && cp "$work/callgrind.out" "$work/functions.txt" "$PROFILE_KEEP/"
fi
python3 "$here/profile_stages.py" "$work/functions.txt" "$csv"

#!/usr/bin/env bash
# Instructions of each engine stage alone, counted by callgrind (they do not move with
# machine noise, so before/after comparisons hold on a busy machine). Runs the engine's
# `stage` example once per stage under callgrind, counting only inside the stage's
# function (--toggle-collect), on the benchmark CSV of ROWS rows.
#
#   bench/profile-stages.sh [ROWS] [BIN]   # 100000 rows ≈ 27 MB; BIN = the `stage` example
#
# Build first: CARGO_TARGET_DIR=... cargo build --release -p parquetry-convert --example stage
# parse = tokenize + type + build columns; encode-snappy − encode-none = snappy.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
rows="${1:-100000}"
bin="${2:-${CARGO_TARGET_DIR:-$root/target}/release/examples/stage}"
values=1000000
command -v valgrind >/dev/null || { echo "profile-stages.sh: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
[[ -x "$bin" ]] || { echo "profile-stages.sh: $bin is not built" >&2; exit 1; }

csv="$("$here/data.sh" "$rows")"
bytes="$(stat -c %s "$csv")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Instructions inside functions matching $2 while `stage $1 $3` runs.
count() {
  valgrind --tool=callgrind --callgrind-out-file="$work/out" --toggle-collect="$2" \
    "$bin" "$1" "$3" >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
  callgrind_annotate "$work/out" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}

echo "Input \`$(basename "$csv")\`, $bytes bytes; value parsers on $values generated values each."
echo
echo "| stage | instructions | per input byte (per value) |"
echo "|---|---:|---:|"
for stage in detect tokenize parse encode-none encode-snappy; do
  per=$bytes
  case "$stage" in
    # Detection reads the first MiB only.
    detect) fn='*stages*detect*'; per=$(( bytes < 1048576 ? bytes : 1048576 )) ;;
    tokenize) fn='*Stages*tokenize*' ;;
    parse) fn='*Stages*parse*' ;;
    *) fn='*Stages*encode*' ;;
  esac
  n="$(count "$stage" "$fn" "$csv")"
  printf '| %s | %s | %.2f |\n' "$stage" "$(printf "%'d" "$n")" "$(echo "$n / $per" | bc -l)"
done
for kind in int float-dot float-comma iso-date iso-timestamp; do
  n="$(count "values-$kind" '*parse_values*' "$values")"
  printf '| values %s | %s | (%.1f) |\n' "$kind" "$(printf "%'d" "$n")" "$(echo "$n / $values" | bc -l)"
done

#!/usr/bin/env bash
# Generate (once) the benchmark CSV with the shared deterministic generator and
# print its path. Cached under <repo>/bench-data/gen_<ROWS>.csv.
#
#   bench/data.sh [ROWS]       # default 3750000 rows ≈ 1 GB; 375000 ≈ 100 MB
#
# Uses the bench venv's python when present (the generator needs numpy).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
rows="${1:-3750000}"
[[ "$rows" =~ ^[0-9]+$ ]] || { echo "data.sh: ROWS must be a number, got '$rows'" >&2; exit 2; }
gen="${GEN_CSV:-$root/../shared/bench/gen_csv.py}"
out="$root/bench-data/gen_${rows}.csv"

if [[ -s "$out" ]]; then
  echo "$out"
  exit 0
fi
[[ -f "$gen" ]] || { echo "data.sh: generator not found at $gen (set GEN_CSV)" >&2; exit 1; }

py="$root/.venv-bench/bin/python"
[[ -x "$py" ]] || py=python3
mkdir -p "$root/bench-data"
# gen_csv.py writes OUT.tmp and renames it, so an interrupted run leaves no
# half-written cache entry.
"$py" "$gen" --rows "$rows" --out "$out" >&2
echo "$out"

#!/usr/bin/env bash
# Benchmark parquetry against DuckDB and Polars (see bench/compare.py --help).
#
#   bench/run.sh                                   # 1 GB file, 5 rounds, ours+duckdb+polars
#   bench/run.sh --rows 375000 --rounds 3          # 100 MB file
#   bench/run.sh --only duckdb,polars,polars-nodates
#   PARQUETRY_BIN=/path/to/parquetry bench/run.sh -- --compression zstd
#
# Everything after `--` is passed to `parquetry convert`. Sets up the venv
# (.venv-bench/, via bench/setup.sh) on first use.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
py="$root/.venv-bench/bin/python"

"$here/setup.sh" >&2
cd "$root"
exec "$py" "$here/compare.py" "$@"

#!/usr/bin/env bash
# Converts every fixture of crates/parquetry-convert/tests/fixtures with the
# parquetry binary and compares the Parquet with DuckDB's read_csv of the same
# file (bench/crosscheck.py), as crates/parquetry-convert/tests/fixtures/crosscheck.toml
# says; error fixtures must fail with their code and line. Exits 1 on any FAIL.
#
#   bench/crosscheck-fixtures.sh [PARQUETRY_BIN] [-v] [FIXTURE...]
#
# PARQUETRY_BIN defaults to the debug build ($CARGO_TARGET_DIR or target/).
# Needs the venv of bench/setup.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
py="$root/.venv-bench/bin/python"
bin="${1:-${CARGO_TARGET_DIR:-$root/target}/debug/parquetry}"
shift || true

if [[ ! -x "$py" ]]; then
  echo "crosscheck-fixtures.sh: no $py; run bench/setup.sh first" >&2
  exit 2
fi
if [[ ! -x "$bin" ]]; then
  echo "crosscheck-fixtures.sh: no parquetry binary at $bin (cargo build --bin parquetry)" >&2
  exit 2
fi
exec "$py" "$here/crosscheck_fixtures.py" "$bin" "$@"

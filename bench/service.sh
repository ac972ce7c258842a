#!/usr/bin/env bash
# End-to-end benchmark of the Parquetry service (see bench/service.py --help).
#
#   bench/service.sh                      # 100 MB file, 3 rounds, 3 jobs per telemetry round
#   bench/service.sh --rounds 5 --jobs 2
#   bench/service.sh --bin /path/to/parquetry
#
# Uses target/release/parquetry as it is (build it first:
# cargo build --release --bin parquetry). Sets up the venv (.venv-bench/, via
# bench/setup.sh) on first use; starts the local PostgreSQL when it is down.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

"$here/setup.sh" >&2
cd "$root"
exec "$root/.venv-bench/bin/python" "$here/service.py" "$@"

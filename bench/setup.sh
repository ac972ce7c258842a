#!/usr/bin/env bash
# Create the benchmark venv at <repo>/.venv-bench and install the pinned
# packages of bench/requirements.txt from PyPI. Idempotent: does nothing when
# the venv exists and already has exactly the pinned versions.
#
#   bench/setup.sh            # create or update
#   PYTHON=python3.12 bench/setup.sh
#   bench/setup.sh --force    # recreate from scratch
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="$root/.venv-bench"
req="$here/requirements.txt"
py="${PYTHON:-python3}"

if [[ "${1:-}" == "--force" ]]; then
  rm -rf "$venv"
fi

# Are all pins satisfied already?
pins_ok() {
  [[ -x "$venv/bin/python" ]] || return 1
  "$venv/bin/python" - "$req" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
ok = True
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have != want:
        ok = False
sys.exit(0 if ok else 1)
PY
}

if pins_ok; then
  echo "setup.sh: $venv already has the pinned packages; nothing to do."
  exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
  echo "setup.sh: creating venv $venv with $("$py" --version 2>&1)"
  "$py" -m venv "$venv"
fi

"$venv/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
"$venv/bin/python" -m pip install --disable-pip-version-check -r "$req"

pins_ok || { echo "setup.sh: pinned versions not satisfied after install" >&2; exit 1; }
"$venv/bin/python" -c 'import numpy, pyarrow, duckdb, polars; print("setup.sh: ok: numpy", numpy.__version__, "pyarrow", pyarrow.__version__, "duckdb", duckdb.__version__, "polars", polars.__version__)'

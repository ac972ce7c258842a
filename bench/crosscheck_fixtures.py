#!/usr/bin/env python3
"""Convert every fixture of crates/parquetry-convert/tests/fixtures with the
parquetry binary and check it as crosscheck.toml says: converting fixtures are
compared value by value with DuckDB's read_csv (bench/crosscheck.py), error
fixtures must fail with their code and line. Prints a PASS/FAIL table; exits 1
on any FAIL.

    .venv-bench/bin/python bench/crosscheck_fixtures.py PARQUETRY_BIN [-v] [FIXTURE...]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "crates" / "parquetry-convert" / "tests" / "fixtures"
MANIFEST = FIXTURES / "crosscheck.toml"
CROSSCHECK = HERE / "crosscheck.py"


def late_break() -> bytes:
    """Same recipe as `late_break_csv()` in tests/types.rs: 100 000 clean rows,
    then values that break the sampled types."""
    out = io.StringIO()
    out.write("id,amount,day,code\n")
    for i in range(100_000):
        out.write(f"{i},{i},2024-01-{i % 28 + 1:02},{i}\n")
    out.write("100000,12.75,2024-01-01T12:00:00,X-1\n")
    out.write("100001,,someday,7\n")
    return out.getvalue().encode()


GENERATORS = {"late_break": late_break}


def convert(binary: str, csv: Path, out: Path, flags: list[str]):
    return subprocess.run([binary, "convert", str(csv), str(out), *flags],
                          capture_output=True, text=True)


def check_fixture(fx: dict, csv: Path, tmp: Path, binary: str) -> tuple[bool, str, str]:
    """(ok, summary, details)."""
    out = tmp / (csv.name + ".parquet")
    p = convert(binary, csv, out, fx.get("convert", []))
    if p.returncode != 0:
        return False, "convert failed", p.stderr
    rows = json.loads(p.stdout)["rows"]
    if "rows" in fx and rows != fx["rows"]:
        return False, f"{rows} rows, expected {fx['rows']}", p.stdout
    if fx.get("duckdb", True) is False:
        return True, f"{rows} rows; no DuckDB check: {fx['reason']}", ""
    c = subprocess.run([sys.executable, str(CROSSCHECK), str(csv), str(out),
                        *fx.get("crosscheck", [])], capture_output=True, text=True)
    if c.returncode != 0:
        return False, f"{rows} rows; DuckDB differs", c.stdout + c.stderr
    return True, f"{rows} rows = DuckDB", c.stdout


def check_error(fx: dict, csv: Path, tmp: Path, binary: str) -> tuple[bool, str, str]:
    out = tmp / (csv.name + ".parquet")
    p = convert(binary, csv, out, fx.get("convert", []))
    # The CLI says the place once, at the start ("line 4, column `qty`: …"),
    # and the code at the end ("(invalid-value)").
    parts = [f"({fx['code']})"]
    if "line" in fx:
        parts.append(f"line {fx['line']}")
    if "column" in fx:
        parts.append(f"column `{fx['column']}`")
    want = ", ".join(parts)
    if p.returncode == 0:
        return False, f"converted, expected {want}", p.stdout
    if not all(part in p.stderr for part in parts):
        return False, f"wrong error, expected {want}", p.stderr
    if out.exists():
        return False, "failed but left an output file", p.stderr
    return True, f"fails with {want.strip(', ')}", p.stderr


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary", help="the parquetry binary")
    ap.add_argument("only", nargs="*", help="check only these fixtures")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print crosscheck's output for passing fixtures too")
    a = ap.parse_intermixed_args(argv)
    if not os.access(a.binary, os.X_OK):
        print(f"crosscheck_fixtures: {a.binary} is not an executable", file=sys.stderr)
        return 2

    manifest = tomllib.loads(MANIFEST.read_text())
    cases = [("fixture", fx) for fx in manifest.get("fixture", [])] + \
            [("error", fx) for fx in manifest.get("error", [])]
    failures = 0
    listed = {fx["file"] for _, fx in cases}
    # Every committed fixture must be checked by something.
    unlisted = sorted(p.name for p in FIXTURES.iterdir()
                      if p.is_file() and p != MANIFEST and p.name not in listed)
    with tempfile.TemporaryDirectory(prefix="parquetry-fixtures-") as t:
        tmp = Path(t)
        for what, fx in cases:
            name = fx["file"]
            if a.only and name not in a.only:
                continue
            if "generate" in fx:
                csv = tmp / name
                data = GENERATORS[fx["generate"]]()
                csv.write_bytes(data)
                if "bytes" in fx and len(data) != fx["bytes"]:
                    ok, summary, details = False, f"generated {len(data)} bytes, " \
                        f"expected {fx['bytes']}", ""
                    failures += 1
                    print(f"FAIL  {what:<7} {name:<28} {summary}")
                    continue
            else:
                csv = FIXTURES / name
            check = check_fixture if what == "fixture" else check_error
            try:
                ok, summary, details = check(fx, csv, tmp, a.binary)
            except Exception as e:  # a broken manifest entry, unreadable output...
                ok, summary, details = False, f"{type(e).__name__}: {e}", ""
            failures += not ok
            print(f"{'PASS' if ok else 'FAIL'}  {what:<7} {name:<28} {summary}")
            if details and (not ok or a.verbose):
                print("      " + details.rstrip().replace("\n", "\n      "))
    for name in unlisted if not a.only else []:
        failures += 1
        print(f"FAIL  -       {name:<28} not in {MANIFEST.name}")
    print(f"crosscheck-fixtures: {len(cases) if not a.only else len(a.only)} fixtures, "
          f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

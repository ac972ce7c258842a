#!/usr/bin/env python3
"""CSV -> Parquet: parquetry vs DuckDB vs Polars, same file, same machine.

Run through bench/run.sh (which sets the venv up first), or directly with the
bench venv's python:

    .venv-bench/bin/python bench/compare.py [--rows N | --csv FILE] [--rounds R]
        [--only ours,duckdb,polars,polars-nodates] [--no-build] [--no-check]
        [-- FLAGS FOR `parquetry convert`]

Tools (each run is a fresh process, measured with os.wait4: wall time and the
child's own peak RSS):
  ours            target/release/parquetry convert IN OUT [FLAGS]
  ours-skip       the same with --on-error skip (bad rows to a rejects file)
                  (built with `cargo build --release --bin parquetry` unless
                  PARQUETRY_BIN / --bin names a binary)
  duckdb          COPY (SELECT * FROM read_csv('IN')) TO 'OUT' (FORMAT parquet)
  polars          pl.scan_csv(IN, try_parse_dates=True).sink_parquet(OUT)
  polars-nodates  pl.scan_csv(IN).sink_parquet(OUT)   (dates stay strings)
Default: ours,duckdb,polars. Rounds alternate between the tools (and the
order rotates each round), after one warm-up read of the input.

Checks after the runs: row counts of every output (pyarrow metadata) against
DuckDB's count(*) of the CSV, and a value check of each output against
DuckDB's read_csv on the first --check-rows rows (crosscheck.py).
Exit status: 0, or 1 when a run failed or ours failed a check, 2 when ours
could not be built.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # no bench/__pycache__ from importing crosscheck

ALL_TOOLS = ["ours", "ours-skip", "duckdb", "polars", "polars-nodates"]
DEFAULT_TOOLS = ["ours", "duckdb", "polars"]

# Child programs for the Python tools. They print the time spent in the
# conversion itself (after interpreter start-up and imports) on stdout.
DUCKDB_CHILD = textwrap.dedent("""\
    import sys, time
    import duckdb
    src, dst = sys.argv[1], sys.argv[2]
    lit = lambda s: "'" + s.replace("'", "''") + "'"
    t = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_csv({lit(src)})) TO {lit(dst)} (FORMAT parquet)")
    con.close()
    print(f"INNER_S={time.perf_counter() - t:.6f}")
""")
POLARS_CHILD = textwrap.dedent("""\
    import sys, time
    import polars as pl
    src, dst, dates = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    t = time.perf_counter()
    if dates:
        pl.scan_csv(src, try_parse_dates=True).sink_parquet(dst)
    else:
        pl.scan_csv(src).sink_parquet(dst)
    print(f"INNER_S={time.perf_counter() - t:.6f}")
""")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- #
# inputs and binary
# --------------------------------------------------------------------------- #
def ensure_csv(rows: int) -> Path:
    out = ROOT / "bench-data" / f"gen_{rows}.csv"
    if out.is_file() and out.stat().st_size > 0:
        return out
    log(f"generating {out.relative_to(ROOT)} ({rows} rows) ...")
    r = subprocess.run(["bash", str(HERE / "data.sh"), str(rows)],
                       stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"compare.py: bench/data.sh {rows} failed (exit {r.returncode})")
    return Path(r.stdout.strip().splitlines()[-1])


def build_ours(explicit: str | None, no_build: bool) -> Path:
    if explicit:
        p = Path(explicit).resolve()
        if not (p.is_file() and os.access(p, os.X_OK)):
            log(f"ours: PARQUETRY_BIN/--bin {explicit} is not an executable file")
            sys.exit(2)
        return p
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not target.is_absolute():
        target = ROOT / target
    binary = target / "release" / "parquetry"
    if no_build:
        if not binary.is_file():
            log(f"ours: --no-build given but {binary} does not exist")
            sys.exit(2)
        return binary
    cmd = ["cargo", "build", "--release", "--bin", "parquetry"]
    log(f"ours: building: {shlex.join(cmd)} (in {ROOT}) ...")
    t = time.perf_counter()
    lines: list[str] = []
    try:
        # stream cargo's output (a cold release build takes minutes), keep a tail
        with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              errors="replace") as p:
            for line in p.stdout:
                sys.stderr.write("    " + line)
                lines = (lines + [line.rstrip("\n")])[-40:]
        rc = p.returncode
    except FileNotFoundError:
        log("ours: `cargo` not found on PATH. Install Rust, or set PARQUETRY_BIN "
            "to a built binary, or leave ours out: --only duckdb,polars")
        sys.exit(2)
    if rc != 0 or not binary.is_file():
        why = f"exited {rc}" if rc != 0 else f"succeeded but {binary} is missing"
        log(f"\nours: BUILD FAILED: `{shlex.join(cmd)}` {why} "
            f"after {time.perf_counter() - t:.0f} s (cargo's output above).\n"
            "      Fix the build, or point PARQUETRY_BIN at a working binary, "
            "or benchmark the others only: --only duckdb,polars")
        sys.exit(2)
    log(f"ours: built {binary} in {time.perf_counter() - t:.0f} s")
    return binary


def warm_up(path: Path) -> float:
    t = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(16 << 20):
            pass
    return time.perf_counter() - t


# --------------------------------------------------------------------------- #
# one measured run
# --------------------------------------------------------------------------- #
def command_for(tool: str, src: Path, dst: Path, ours_bin: Path | None,
                ours_flags: list[str]) -> list[str]:
    py = sys.executable
    if tool == "ours":
        return [str(ours_bin), "convert", str(src), str(dst), *ours_flags]
    if tool == "ours-skip":
        rejects = str(dst) + ".rejects.csv"
        return [str(ours_bin), "convert", str(src), str(dst), *ours_flags,
                "--on-error", "skip", "--rejects", rejects]
    if tool == "duckdb":
        return [py, "-c", DUCKDB_CHILD, str(src), str(dst)]
    if tool == "polars":
        return [py, "-c", POLARS_CHILD, str(src), str(dst), "1"]
    if tool == "polars-nodates":
        return [py, "-c", POLARS_CHILD, str(src), str(dst), "0"]
    raise ValueError(tool)


def measure(cmd: list[str], timeout: float, log_path: Path) -> dict:
    """Run cmd as its own process group; wall time and the child's peak RSS
    (ru_maxrss of exactly this child, from wait4)."""
    with open(log_path, "wb") as errf:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf,
                                start_new_session=True)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        # stdout is tiny (one INNER_S line); read it, then reap with wait4.
        out = proc.stdout.read()
        proc.stdout.close()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen quiet
    inner = None
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("INNER_S="):
            inner = float(line.split("=", 1)[1])
    return {"wall_s": wall, "maxrss_mib": ru.ru_maxrss / 1024.0,
            "user_s": ru.ru_utime, "sys_s": ru.ru_stime,
            "exit": proc.returncode, "timed_out": timed_out.is_set(),
            "inner_s": inner}


# --------------------------------------------------------------------------- #
# report
# --------------------------------------------------------------------------- #
def parquet_info(path: Path) -> tuple[int | None, str]:
    import pyarrow.parquet as pq
    try:
        md = pq.ParquetFile(path).metadata
    except Exception as e:  # noqa: BLE001
        return None, f"unreadable: {e}"
    codecs = sorted({md.row_group(i).column(j).compression
                     for i in range(md.num_row_groups)
                     for j in range(md.num_columns)})
    return md.num_rows, "/".join(c.lower() for c in codecs) + f", {md.num_row_groups} rg"


def fmt(x, spec=".2f", none="—"):
    return none if x is None else format(x, spec)


def print_table(results: dict, tools: list[str], in_bytes: int, outs: dict) -> None:
    med = {t: statistics.median(r["wall_s"] for r in results[t]["runs"])
           for t in tools if results[t]["runs"] and not results[t]["failed"]}
    ours_med = med.get("ours")
    head = ["tool", "median wall s", "min–max s", "MB/s", "peak RSS MiB (median)",
            "CPU s (user+sys, median)", "output MiB", "codec", "vs ours (their/our time)",
            "startup+import s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|")
    for t in tools:
        r = results[t]
        if r["failed"] or not r["runs"]:
            print(f"| {t} | FAILED ({r['failed'] or 'not run'}) |" + " |" * (len(head) - 2))
            continue
        walls = [x["wall_s"] for x in r["runs"]]
        m = med[t]
        rss = statistics.median(x["maxrss_mib"] for x in r["runs"])
        cpu = statistics.median(x["user_s"] + x["sys_s"] for x in r["runs"])
        inners = [x["wall_s"] - x["inner_s"] for x in r["runs"] if x["inner_s"] is not None]
        size = outs.get(t, {}).get("bytes")
        ratio = ("1.00" if t == "ours" else f"{m / ours_med:.2f}") if ours_med else "n/a"
        print(f"| {t} | {m:.2f} | {min(walls):.2f}–{max(walls):.2f} | {in_bytes / 1e6 / m:.0f} "
              f"| {rss:.0f} | {cpu:.1f} | {fmt(size / 2**20 if size else None, '.1f')} "
              f"| {outs.get(t, {}).get('codec', '—')} | {ratio} "
              f"| {fmt(statistics.median(inners) if inners else None)} |")


def env_summary() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    vers = []
    for mod in ("duckdb", "polars", "pyarrow"):
        try:
            vers.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            pass
    return (f"{cpu}, {os.cpu_count()} CPUs, load avg {load}; "
            f"python {platform.python_version()}, " + ", ".join(vers))


# --------------------------------------------------------------------------- #
def main() -> int:
    argv = sys.argv[1:]
    ours_flags: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, ours_flags = argv[:i], argv[i + 1:]

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=3_750_000,
                    help="rows of the generated CSV (3750000 ≈ 1 GB, 375000 ≈ 100 MB)")
    ap.add_argument("--csv", help="benchmark this CSV instead of a generated one")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default=",".join(DEFAULT_TOOLS),
                    help=f"comma-separated subset of {','.join(ALL_TOOLS)}")
    ap.add_argument("--bin", default=os.environ.get("PARQUETRY_BIN"),
                    help="our binary (default: $PARQUETRY_BIN, else cargo build --release)")
    ap.add_argument("--no-build", action="store_true",
                    help="use target/release/parquetry as it is")
    ap.add_argument("--out-dir", default=str(ROOT / "bench-data" / "out"),
                    help="where the outputs and per-run stderr logs go")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per run")
    ap.add_argument("--no-check", action="store_true", help="skip the output checks")
    ap.add_argument("--check-rows", type=int, default=100_000,
                    help="rows compared value by value (default 100000)")
    ap.add_argument("--json", help="also write the raw measurements here")
    a = ap.parse_args(argv)

    tools = [t.strip() for t in a.only.split(",") if t.strip()]
    bad = [t for t in tools if t not in ALL_TOOLS]
    if bad or not tools:
        ap.error(f"--only: unknown tool(s) {bad}; choose from {','.join(ALL_TOOLS)}")
    if a.rounds < 1:
        ap.error("--rounds must be >= 1")
    if ours_flags and "ours" not in tools:
        log(f"note: flags for ours given but ours is not run: {ours_flags}")

    src = Path(a.csv).resolve() if a.csv else ensure_csv(a.rows)
    if not src.is_file():
        sys.exit(f"compare.py: no such CSV: {src}")
    in_bytes = src.stat().st_size
    uses_ours = "ours" in tools or "ours-skip" in tools
    ours_bin = build_ours(a.bin, a.no_build) if uses_ours else None

    out_dir = Path(a.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outs = {t: {"path": out_dir / f"{t}.parquet"} for t in tools}

    log(f"input {src} ({in_bytes / 1e6:.1f} MB); warm-up read: {warm_up(src):.2f} s")
    log(f"env: {env_summary()}")
    results = {t: {"runs": [], "failed": None,
                   "cmd": command_for(t, src, outs[t]["path"], ours_bin, ours_flags)}
               for t in tools}

    for rnd in range(a.rounds):
        order = tools[rnd % len(tools):] + tools[:rnd % len(tools)]
        for t in order:
            r = results[t]
            if r["failed"]:
                continue
            dst = outs[t]["path"]
            dst.unlink(missing_ok=True)
            errlog = out_dir / f"{t}.stderr.log"
            m = measure(r["cmd"], a.timeout, errlog)
            if m["exit"] != 0 or m["timed_out"] or not dst.is_file():
                why = ("timed out" if m["timed_out"] else
                       f"exit {m['exit']}" if m["exit"] != 0 else "no output file")
                r["failed"] = why
                tail = errlog.read_text(errors="replace").strip().splitlines()[-15:]
                log(f"round {rnd + 1}: {t} FAILED ({why}) after {m['wall_s']:.2f} s: "
                    f"{shlex.join(r['cmd']) if t == 'ours' else t}\n    "
                    + "\n    ".join(tail) + f"\n    (full stderr: {errlog})")
                continue
            r["runs"].append(m)
            log(f"round {rnd + 1}/{a.rounds}: {t:<15} {m['wall_s']:7.2f} s  "
                f"{m['maxrss_mib']:7.0f} MiB  (user {m['user_s']:.1f} s, sys {m['sys_s']:.1f} s)")

    for t in tools:
        p = outs[t]["path"]
        if p.is_file() and not results[t]["failed"]:
            outs[t]["bytes"] = p.stat().st_size
            outs[t]["rows"], outs[t]["codec"] = parquet_info(p)

    print()
    print(f"**CSV → Parquet**, input `{src.name}` {in_bytes / 1e6:.1f} MB, "
          f"{a.rounds} round(s), each run a fresh process; wall time and peak RSS of "
          f"that process (os.wait4). MB = 10^6 bytes; RSS and sizes in MiB.")
    print(f"Env: {env_summary()} (load at the end).")
    if ours_flags:
        print(f"Flags for ours: `{shlex.join(ours_flags)}`")
    print()
    print_table(results, tools, in_bytes, outs)
    print()
    print("Python tools' wall time and RSS include the interpreter and the import "
          "(column startup+import s = wall − time inside the conversion call). "
          "CPU s is less sensitive than wall time to other load on the machine; "
          "when the load average exceeds the CPU count, wall times are inflated.")

    exit_code = 1 if any(results[t]["failed"] for t in tools) else 0
    if not a.no_check:
        exit_code |= run_checks(src, tools, results, outs, a)

    if a.json:
        with open(a.json, "w") as f:
            json.dump({"input": str(src), "input_bytes": in_bytes, "rounds": a.rounds,
                       "env": env_summary(), "ours_flags": ours_flags,
                       "results": {t: {"cmd": results[t]["cmd"], "failed": results[t]["failed"],
                                       "runs": results[t]["runs"],
                                       "output": {k: (str(v) if k == "path" else v)
                                                  for k, v in outs[t].items()}}
                                   for t in tools}}, f, indent=2)
    return exit_code


def run_checks(src: Path, tools, results, outs, a) -> int:
    import duckdb
    from crosscheck import crosscheck, print_result, sql_literal

    ok_tools = [t for t in tools if not results[t]["failed"] and outs[t].get("rows") is not None]
    print()
    print("### Checks")
    t0 = time.perf_counter()
    ref_rows = duckdb.sql(f"SELECT count(*) FROM read_csv({sql_literal(str(src))})").fetchall()[0][0]
    counts = {t: outs[t]["rows"] for t in ok_tools}
    same = all(c == ref_rows for c in counts.values())
    if not a.csv:
        same &= ref_rows == a.rows
    print(f"{'PASS' if same else 'FAIL'}  row counts: DuckDB count(*) of the CSV {ref_rows}"
          + ("" if a.csv else f", generated {a.rows}") + "; outputs: "
          + ", ".join(f"{t} {c}" for t, c in counts.items()))
    failed_ours = "ours" in counts and counts["ours"] != ref_rows

    for t in ok_tools:
        if t == "polars-nodates":
            print(f"\n(value check skipped for {t}: its dates are strings by design)")
            continue
        print()
        res = crosscheck(src, outs[t]["path"], limit=a.check_rows)
        print_result(res, title=f"Value check: {t} output vs DuckDB read_csv, "
                                f"first {a.check_rows} rows (floats rtol 1e-9)",
                     label=t)
        if t == "ours" and not res.ok:
            failed_ours = True
    log(f"checks took {time.perf_counter() - t0:.1f} s")
    return 1 if failed_ours else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Alternating engine benchmark: `parquetry convert IN OUT` with two binaries (or the engine's
`convert` example, `target/release/examples/convert IN OUT`).

  bench/engine_ab.py --rounds N IN.csv NAME=BIN NAME=BIN
Wall time and peak RSS of each run from os.wait4; one warm-up run of each first.
"""
import argparse, os, statistics, subprocess, sys, time, json

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=7)
ap.add_argument("csv")
ap.add_argument("bins", nargs="+")
a = ap.parse_args()
bins = [b.split("=", 1) for b in a.bins]
out = "/tmp/engine-ab-out.parquet"

def run(binary):
    t = time.perf_counter()
    # The engine's `convert` example takes IN OUT; the service's binary its `convert` subcommand.
    sub = [] if os.path.basename(os.path.dirname(binary)) == "examples" else ["convert"]
    p = subprocess.Popen([binary, *sub, a.csv, out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    assert status == 0, (binary, status)
    return wall, ru.ru_maxrss / 1024, ru.ru_utime + ru.ru_stime

print("load at start:", open("/proc/loadavg").read().strip(), flush=True)
for name, b in bins:
    run(b)  # warm-up (page cache)
res = {name: [] for name, _ in bins}
for r in range(a.rounds):
    order = bins if r % 2 == 0 else bins[::-1]
    for name, b in order:
        w, rss, cpu = run(b)
        res[name].append((w, rss, cpu))
        print(f"round {r+1} {name}: {w:.3f} s wall, {cpu:.2f} s cpu, {rss:.0f} MiB", flush=True)
print("load at end:", open("/proc/loadavg").read().strip())
med = {}
for name, rows in res.items():
    walls = [x[0] for x in rows]; cpus = [x[2] for x in rows]
    med[name] = (statistics.median(walls), statistics.median(cpus), max(x[1] for x in rows))
    print(f"{name}: median {med[name][0]:.3f} s wall (min {min(walls):.3f}, max {max(walls):.3f}), median {med[name][1]:.2f} s cpu, peak {med[name][2]:.0f} MiB")
names = [n for n, _ in bins]
if len(names) == 2:
    x, y = names
    print(f"{y}/{x}: wall {med[y][0]/med[x][0]:.3f}, cpu {med[y][1]/med[x][1]:.3f}")
    paired = [res[y][i][0] / res[x][i][0] for i in range(a.rounds)]
    print(f"paired per-round ratio {y}/{x}: median {statistics.median(paired):.3f} ({', '.join(f'{p:.3f}' for p in paired)})")
json.dump(res, open("/tmp/b16-engine.json", "w"))

#!/usr/bin/env python3
"""Estimate a build's wall time on an idle N-core machine from a cargo --timings
report measured under load: every unit's duration is scaled so that their sum is
the build's measured CPU time (user+sys), then the units are list-scheduled on N
cores in the dependency order the report records (a unit starts once the units
that unlock it are done, or have their rmeta for rmeta unlocks).
  bench/build_estimate.py REPORT.html CPU_SECONDS [CORES]"""
import json, re, sys, heapq
html = open(sys.argv[1]).read()
units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", html, re.S).group(1))
cpu = float(sys.argv[2]); cores = int(sys.argv[3]) if len(sys.argv) > 3 else 2
k = cpu / sum(u["duration"] for u in units)
by = {u["i"]: u for u in units}
deps = {u["i"]: [] for u in units}   # (dep index, needs rmeta only)
for u in units:
    for j in u.get("unlocked_units", []): deps[j].append((u["i"], False))
    for j in u.get("unlocked_rmeta_units", []): deps[j].append((u["i"], True))
done_at, rmeta_at = {}, {}
running = []  # (end, i)
t = 0.0
pending = set(by)
free = cores
def ready(i):
    for d, r in deps[i]:
        m = rmeta_at if r else done_at
        if d not in m or m[d] > t + 1e-9: return False
    return True
while pending or running:
    starts = sorted((i for i in pending if ready(i)), key=lambda i: by[i]["start"])
    for i in starts:
        if free == 0: break
        u = by[i]; d = u["duration"] * k
        rm = u.get("rmeta_time"); 
        rmeta_at[i] = t + (rm * k if rm else d)
        heapq.heappush(running, (t + d, i)); pending.discard(i); free -= 1
    # advance to next event: a unit end or an rmeta time
    nxt = [running[0][0]] if running else []
    nxt += [x for x in rmeta_at.values() if x > t + 1e-9]
    t = min(nxt)
    while running and running[0][0] <= t + 1e-9:
        e, i = heapq.heappop(running); done_at[i] = e; free += 1
print(f"scale {k:.3f}; estimated wall on {cores} idle cores: {t:.0f} s ({t/60:.1f} min)")

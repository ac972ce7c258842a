#!/usr/bin/env bash
# A cold release build of the service, timed (issue 16):
#
#   bench/cold-build.sh [TARGET_DIR]
#
# Empties TARGET_DIR (default /tmp/parquetry-cold-build), runs
# `cargo build --release --bin parquetry --timings` there, and prints the
# load average before and after, the wall time and the CPU time (user + sys
# of cargo and its children). The --timings report lands in
# TARGET_DIR/cargo-timings/; bench/build_estimate.py REPORT CPU_SECONDS
# estimates the idle 2-core wall time of a build measured under load.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-/tmp/parquetry-cold-build}
rm -rf "$target"
echo "start $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
TIMEFORMAT='wall %R s, user %U s, sys %S s'
time CARGO_TARGET_DIR=$target cargo build --release --bin parquetry --timings --quiet
echo "end $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Every row of the hot-path table in benches/README.md, measured in one run on this machine:
# criterion (authorize, tower, token parse), allocation counts, latency percentiles and the
# wrk load through the Tower layer. Prints the raw outputs; the README gives the ratios.
# Usage: scripts/hot-path.sh [WRK_SECONDS]   (needs wrk for the last part: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%FT%TZ)"
echo "== criterion: authorize"
cargo bench -q -p zt-benches --bench authorize 2>&1 | grep -E '^[a-z_]+/|time:|thrpt:|file sink' | grep -v '%'
echo "== criterion: tower round trip"
cargo bench -q -p zt-benches --bench tower 2>&1 | grep -E '^[a-z_]+/|time:' | grep -v '%'
echo "== criterion: strict token parse"
cargo bench -q -p zt-benches --bench token -- 'token_stages/parse_only' 2>&1 | grep -E 'time:' | grep -v '%'
cargo build -q --release -p zt-benches --bins
echo "== allocations"
./target/release/allocs
echo "== latency"
./target/release/latency
if command -v wrk >/dev/null; then
  echo "== wrk through the layer"
  scripts/layer-load.sh "$secs"
fi

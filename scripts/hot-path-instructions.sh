#!/usr/bin/env bash
# Instructions per cached `authorize_sync` (callgrind: repeatable whatever else the machine does),
# counted inside `authorize_sync` only (background threads left out), as
# (count at n=8000 − count at n=4000) / 4000, for the one-line policy and the sample bundle, and
# per new-token decision (cache off) as (n=2000 − n=1000) / 1000 for both.
# Usage: scripts/hot-path-instructions.sh [LATENCY_BINARY]   (default: builds target/release/latency)
# Needs valgrind. Compare two commits by passing each one's binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-}"
if [ -z "$bin" ]; then
  cargo build -q --release --locked -p zt-benches --bin latency
  bin=target/release/latency
fi
total() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='*Authorizer*authorize_sync*' \
    "$bin" --profile "$1" -n "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for mode in one-line sample; do
  a="$(total "$mode" 4000)"
  b="$(total "$mode" 8000)"
  echo "$mode: $(( (b - a) / 4000 )) instructions per decision (n=4000: $a, n=8000: $b)"
done
# A new RS256 token on every decision (verified-token cache off): fewer rounds, each is costlier.
for mode in new-one-line new; do
  a="$(total "$mode" 1000)"
  b="$(total "$mode" 2000)"
  echo "$mode: $(( (b - a) / 1000 )) instructions per decision (n=1000: $a, n=2000: $b)"
done

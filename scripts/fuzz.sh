#!/usr/bin/env bash
# Run every cargo-fuzz target for SECONDS each (default 30), JOBS at a time (default 1), seeded
# from fuzz/seeds/<target>; the growing corpus stays in fuzz/corpus/<target> (not committed).
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a nightly toolchain
# (or RUSTC_BOOTSTRAP=1 on stable). Exit status is non-zero if any target finds a crash.
# Usage: scripts/fuzz.sh [SECONDS] [JOBS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"; jobs="${2:-1}"; shift $(( $# > 2 ? 2 : $# )) || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(token jwks discovery config posture input bundle tower_extract dpop bundle_signature introspection rule_index)
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then toolchain=(+nightly); else export RUSTC_BOOTSTRAP=1; fi
cargo "${toolchain[@]}" fuzz build -O
mkdir -p fuzz/logs
status=0
run() {
  local t="$1"
  mkdir -p "fuzz/corpus/$t"
  if cargo "${toolchain[@]}" fuzz run -O "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"fuzz/logs/$t.log" 2>&1; then
    echo "fuzz $t: ok $(grep -E 'stat::number_of_executed_units' "fuzz/logs/$t.log" | awk '{print $2}') execs, cov $(grep -oE 'cov: [0-9]+' "fuzz/logs/$t.log" | tail -1)"
  else
    echo "fuzz $t: FAILED (see fuzz/logs/$t.log and fuzz/artifacts/$t)"; return 1
  fi
}
i=0; pids=()
for t in "${targets[@]}"; do
  run "$t" & pids+=($!)
  i=$((i + 1))
  if (( i % jobs == 0 )); then for p in "${pids[@]}"; do wait "$p" || status=1; done; pids=(); fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status

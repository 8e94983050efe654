#!/usr/bin/env bash
# Where a request's time goes with and without zt-tower, under load: the gateway example (one-
# line policy, cached token) driven by wrk on loopback, wrk sharing the machine's cores.
#
# 1. CPU per request (`perf stat` task-clock of the server / requests served), with the
#    server's and wrk's CPU use and context switches: what the throughput ratio is made of.
# 2. Instructions per request (callgrind, counters zeroed after a warm-up, so start-up is not
#    counted), inclusive, for the parts of a request: the whole connection task, the layer's
#    extraction of the request (zt-core's `request_from_http` when the layer's own function is
#    inlined, which leaves out the peer address and the TLS extensions), zt-core's decision, the
#    handler. Repeatable within ~1 % (the runtime's idle work is spread over the requests).
#
# Dividing (1)'s extra microseconds by (2)'s extra instructions gives the rate the layer's code
# runs at under load, to compare with the isolated benches (benches/README.md, "The floor").
# Needs wrk, perf (linux-perf) and valgrind. Usage: scripts/layer-profile.sh [SECONDS] [CONNS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-8}"
conns="${2:-16}"
for tool in wrk perf valgrind callgrind_annotate; do
  command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 2; }
done
cargo build --release -q -p zt-tower --example gateway
work="$(mktemp -d)"
pid=""
wrk_pid=""
trap 'kill $pid $wrk_pid 2>/dev/null; rm -rf "$work"' EXIT

# Start the gateway (optionally under a wrapper command); sets $pid, $url, $token.
start() {
  local layer="$1"; shift
  : >"$work/log"
  ZT_GATEWAY_LAYER="$layer" ZT_GATEWAY_POLICY=allow ZT_GATEWAY_ADDR=127.0.0.1:0 \
    ZT_GATEWAY_TOKENS="$work/tokens" ZT_GATEWAY_SECS=600 \
    "$@" ./target/release/examples/gateway >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    grep -q 'zt gateway on' "$work/log" && break
    kill -0 "$pid" 2>/dev/null || { echo "the gateway exited:" >&2; cat "$work/log" >&2; exit 1; }
    sleep 0.1
  done
  grep -q 'zt gateway on' "$work/log" || { echo "the gateway did not start in 60 s" >&2; exit 1; }
  url="http://$(grep -o '127.0.0.1:[0-9]*' "$work/log" | head -1)/orders/42"
  token="$(grep '^ADMIN=' "$work/tokens" | cut -d= -f2-)"
}

stop() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}

requests() { grep -o '[0-9]* requests in' "$1" | cut -d' ' -f1; }

msec() { awk '/task-clock/ {gsub(",", "", $1); print $1}' "$1"; }

switches() { awk '/context-switches/ {gsub(",", "", $1); print $1}' "$1"; }

echo "== CPU per request under load (wrk -c$conns, ${secs}s measured)"
printf '%-6s %10s %14s %12s %12s %14s\n' layer 'req/s' 'server µs/req' 'server CPUs' 'wrk CPUs' 'switches/req'
for layer in off on; do
  start "$layer"
  wrk -t1 -c"$conns" -d"$((secs + 3))s" -H "Authorization: Bearer $token" "$url" >"$work/wrk" &
  wrk_pid=$!
  sleep 1.5
  perf stat -e task-clock,context-switches -p "$pid" -- sleep "$secs" 2>"$work/server" &
  perf_pid=$!
  perf stat -e task-clock,context-switches -p "$wrk_pid" -- sleep "$secs" 2>"$work/client"
  wait "$perf_pid"
  wait "$wrk_pid"
  wrk_pid=""
  stop
  n="$(requests "$work/wrk")"
  rps="$(awk -v n="$n" -v s="$((secs + 3))" 'BEGIN {printf "%.0f", n / s}')"
  served="$(awk -v r="$rps" -v s="$secs" 'BEGIN {print r * s}')"
  awk -v l="$layer" -v r="$rps" -v ms="$(msec "$work/server")" -v wms="$(msec "$work/client")" \
    -v sw="$(switches "$work/server")" -v n="$served" -v s="$secs" \
    'BEGIN {printf "%-6s %10d %14.2f %12.2f %12.2f %14.2f\n", l, r, ms * 1000 / n, ms / 1000 / s, wms / 1000 / s, sw / n}'
done

echo "== instructions per request (callgrind, wrk -c4, 15s after a 3s warm-up)"
printf '%-6s %12s %12s %12s %12s\n' layer request extraction decision handler
for layer in off on; do
  start "$layer" valgrind --tool=callgrind --callgrind-out-file="$work/cg.$layer.%p"
  wrk -t1 -c4 -d3s -H "Authorization: Bearer $token" "$url" >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  wrk -t1 -c4 -d15s -H "Authorization: Bearer $token" "$url" >"$work/wrk"
  callgrind_control -d "$pid" >/dev/null 2>&1
  stop
  n="$(requests "$work/wrk")"
  dump="$(ls "$work"/cg."$layer".*.1)"
  callgrind_annotate --inclusive=yes "$dump" 2>/dev/null >"$work/annotate"
  # The first (outermost, most costly) match of each part; the handler is the app's own route
  # future, the least costly RouteFuture line (with the layer, the outer one wraps it).
  part() { grep -m1 -E "$1" "$work/annotate" | awk -v n="$n" '{gsub(",", "", $1); printf "%.0f", $1 / n}'; }
  handler="$(grep -E 'axum::routing::route::RouteFuture' "$work/annotate" | tail -1 |
    awk -v n="$n" '{gsub(",", "", $1); printf "%.0f", $1 / n}')"
  printf '%-6s %12s %12s %12s %12s\n' "$layer" "$(part 'axum::serve::handle_connection')" \
    "$(part 'zt_tower::extract::zt_request|zt_core::http::extract::request_from_http' || true)" \
    "$(part 'zt_core::authorizer::decide::.*Authorizer>::authorize' || true)" "$handler"
done

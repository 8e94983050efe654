#!/usr/bin/env bash
# Loopback load run: the gateway example's GET /orders/42 with zt-tower (cached token, sample
# bundle) against the same axum app without the layer. Needs wrk (Debian: apt-get install wrk).
# Usage: scripts/layer-load.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
conns="${2:-16}"
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 2; }
cargo build --release -q -p zt-tower --example gateway
tokens="$(mktemp)"
run() {
  local layer="$1" policy="${2:-sample}" port log pid
  log="$(mktemp)"
  ZT_GATEWAY_LAYER="$layer" ZT_GATEWAY_POLICY="$policy" ZT_GATEWAY_ADDR=127.0.0.1:0 ZT_GATEWAY_TOKENS="$tokens" \
    ZT_GATEWAY_SECS=$((secs + 15)) ./target/release/examples/gateway >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do grep -q 'zt gateway on' "$log" && break; sleep 0.1; done
  port="$(grep -o '127.0.0.1:[0-9]*' "$log" | head -1)"
  local token; token="$(grep '^ADMIN=' "$tokens" | cut -d= -f2-)"
  echo "== layer $layer, policy $policy"
  wrk -t1 -c"$conns" -d"${secs}s" --latency -H "Authorization: Bearer $token" \
    "http://$port/orders/42" | grep -E 'Requests/sec|  99%|  50%|Non-2xx'
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
run off
run on sample
run on allow
rm -f "$tokens"

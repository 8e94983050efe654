#!/usr/bin/env bash
# FastAPI under load on loopback: no auth vs PyJWT dependency vs zt.asgi.ZtMiddleware (sample
# bundle), one uvicorn worker each, wrk with a cached token. Needs wrk (apt-get install wrk) and
# a venv with zt, fastapi, uvicorn, pyjwt[crypto], cryptography.
# Usage: zt-py/bench/load.sh [PYTHON] [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
py="${1:-target/py-bench-venv/bin/python}"
secs="${2:-10}"
conns="${3:-16}"
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 2; }
for variant in none pyjwt zt; do
  tokens="$(mktemp)"
  port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  ZT_LOAD_VARIANT="$variant" ZT_LOAD_ADDR="127.0.0.1:$port" ZT_LOAD_TOKENS="$tokens" \
    timeout $((secs + 30)) "$py" zt-py/bench/load_app.py &
  pid=$!
  for _ in $(seq 100); do [ -s "$tokens" ] && (: > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  echo "== $variant"
  wrk -t1 -c"$conns" -d"${secs}s" --latency -H "Authorization: Bearer $(cat "$tokens")" \
    "http://127.0.0.1:$port/orders/42" | grep -E 'Requests/sec|  50%|  99%|Non-2xx'
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$tokens"
done

#!/usr/bin/env bash
# Load harness: starts a release gateway on loopback for each ingest mode (group commit,
# then one transaction per request), runs `switchboard bench` against it, stops it, and
# prints both summaries. Bounded in count; loopback only.
#
#   scripts/bench.sh                 # 20000 webhooks per mode, 64 connections
#   COUNT=5000 CONCURRENCY=32 RATE=2000 scripts/bench.sh
# The sink is one endpoint, so its per-endpoint cap (PER_ENDPOINT, default 64) is the
# dispatcher's whole concurrency here; GATEWAY_FLAGS adds any other serve flag.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT="${COUNT:-20000}"
CONCURRENCY="${CONCURRENCY:-64}"
RATE="${RATE:-0}"
MODES="${MODES:-group single}"
PORT="${PORT:-18080}"
SERVER="${DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
TOKEN="bench-$(date +%s)"

cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/switchboard"

gateway_pid=""
cleanup() { [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null || true; }
trap cleanup EXIT

for mode in $MODES; do
  db="switchboard_bench_${mode}_$$"
  RUST_LOG=warn "$BIN" serve --database-url "$SERVER/$db" --bind "127.0.0.1:$PORT" \
    --public-url "http://127.0.0.1:$PORT" --admin-token "$TOKEN" \
    --allow-private-destinations --ingest-mode "$mode" \
    --max-in-flight-per-endpoint "${PER_ENDPOINT:-64}" ${GATEWAY_FLAGS:-} &
  gateway_pid=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  "$BIN" bench --url "http://127.0.0.1:$PORT" --admin-token "$TOKEN" --count "$COUNT" \
    --concurrency "$CONCURRENCY" --rate "$RATE" --gateway-pid "$gateway_pid" --label "$mode"
  kill "$gateway_pid"
  wait "$gateway_pid" 2>/dev/null || true
  gateway_pid=""
  psql "$SERVER/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null
done

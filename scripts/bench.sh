#!/usr/bin/env bash
# Load harness: starts a release gateway on loopback for each ingest mode (group commit,
# then one transaction per request), runs `switchboard bench` against it at full speed,
# then once more in group mode at a steady rate for latency, stopping the gateway after
# each run, and prints the summaries. Bounded in count; loopback only.
#
#   scripts/bench.sh                 # 40000 webhooks per mode on 512 connections, then
#                                    # 20000 at 2000/s on 64
#   COUNT=5000 CONCURRENCY=32 RATE=1000 LATENCY_RATE=0 scripts/bench.sh
# The sink is one endpoint, so its per-endpoint cap (PER_ENDPOINT, default 64) is the
# dispatcher's whole concurrency here; GATEWAY_FLAGS adds any other serve flag.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT="${COUNT:-40000}"
CONCURRENCY="${CONCURRENCY:-512}"
RATE="${RATE:-0}"
# The steady-rate run (0 skips it): webhooks per second, how many, on how many connections.
LATENCY_RATE="${LATENCY_RATE:-2000}"
LATENCY_COUNT="${LATENCY_COUNT:-20000}"
LATENCY_CONCURRENCY="${LATENCY_CONCURRENCY:-64}"
MODES="${MODES:-group single}"
PORT="${PORT:-18080}"
SERVER="${DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}"
TOKEN="bench-$(date +%s)"

cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/switchboard"

gateway_pid=""
cleanup() { [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null || true; }
trap cleanup EXIT

# run MODE COUNT CONCURRENCY RATE LABEL: one gateway, one bench run, one fresh database.
run() {
  local mode=$1 count=$2 concurrency=$3 rate=$4 label=$5
  local db="switchboard_bench_${mode}_$$"
  RUST_LOG=warn "$BIN" serve --database-url "$SERVER/$db" --bind "127.0.0.1:$PORT" \
    --public-url "http://127.0.0.1:$PORT" --admin-token "$TOKEN" \
    --allow-private-destinations --ingest-mode "$mode" \
    --max-in-flight-per-endpoint "${PER_ENDPOINT:-64}" ${GATEWAY_FLAGS:-} &
  gateway_pid=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  "$BIN" bench --url "http://127.0.0.1:$PORT" --admin-token "$TOKEN" --count "$count" \
    --concurrency "$concurrency" --rate "$rate" --gateway-pid "$gateway_pid" --label "$label"
  kill "$gateway_pid"
  wait "$gateway_pid" 2>/dev/null || true
  gateway_pid=""
  psql "$SERVER/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null
}

for mode in $MODES; do
  run "$mode" "$COUNT" "$CONCURRENCY" "$RATE" "$mode"
done
if [ "$LATENCY_RATE" != 0 ]; then
  run group "$LATENCY_COUNT" "$LATENCY_CONCURRENCY" "$LATENCY_RATE" "group@${LATENCY_RATE}/s"
fi

#!/usr/bin/env bash
# Fuzzes the REST API with Schemathesis (property-based tests generated from the committed
# OpenAPI document) against a real gateway on loopback, and fails on any 5xx answer.
#
# The gateway runs HTTP only (no dispatcher), so endpoints the fuzzer registers are never
# called: no request leaves the machine. It uses a throwaway database, dropped at the end.
# Two runs: tenant routes with a tenant API key, then operator routes with the admin token.
#
# Knobs (environment): MAX_EXAMPLES per operation (default 25), MAX_SECONDS per run as a hard
# bound (default 600), SEED (default 1, for reproducible runs), PG_SERVER (default
# postgres://postgres@127.0.0.1:5432), SCHEMATHESIS_VENV (where schemathesis is installed).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION="4.32.5"
MAX_EXAMPLES="${MAX_EXAMPLES:-25}"
MAX_SECONDS="${MAX_SECONDS:-600}"
SEED="${SEED:-1}"
PG_SERVER="${PG_SERVER:-postgres://postgres@127.0.0.1:5432}"
VENV="${SCHEMATHESIS_VENV:-$HOME/.cache/switchboard-schemathesis-venv}"
DB="switchboard_schemathesis_$$"
random() { python3 -c "import base64, os; print(base64.b64encode(os.urandom($1)).decode())"; }

if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null | grep -o '[0-9.]*$')" != "$SCHEMATHESIS_VERSION" ]; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/switchboard"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
ADMIN_TOKEN="$(random 24)"
LOG="$(mktemp -t switchboard-schemathesis.XXXXXX.log)"

DATABASE_URL="$PG_SERVER/$DB" \
SWITCHBOARD_BIND="127.0.0.1:$PORT" \
SWITCHBOARD_PUBLIC_URL="$BASE" \
SWITCHBOARD_ADMIN_TOKEN="$ADMIN_TOKEN" \
SWITCHBOARD_ENCRYPTION_KEY="$(random 32)" \
SWITCHBOARD_ROLE=http \
  "$BIN" serve >"$LOG" 2>&1 &
GATEWAY=$!
cleanup() {
  kill "$GATEWAY" 2>/dev/null || true
  wait "$GATEWAY" 2>/dev/null || true
  psql "$PG_SERVER/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

for _ in $(seq 1 60); do
  curl -fs "$BASE/healthz" >/dev/null && break
  kill -0 "$GATEWAY" 2>/dev/null || { cat "$LOG"; echo "gateway did not start"; exit 1; }
  sleep 1
done

API_KEY="$(curl -fs -X POST "$BASE/v1/tenants" \
  -H "Authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \
  -d '{"name": "Schemathesis", "verify_token": "fuzz-token", "app_secret": "fuzz-secret"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["api_key"])')"

ADMIN_PATHS='^/v1/(admin/|tenants)'
fuzz() { # $1 = label, $2 = bearer token, rest = operation selection
  local label="$1" token="$2"
  shift 2
  echo "== schemathesis: $label routes"
  timeout "$MAX_SECONDS" "$VENV/bin/schemathesis" run "$BASE/openapi.json" \
    --checks not_a_server_error \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --generation-database none \
    --request-timeout 10 \
    --workers 1 \
    --header "Authorization: Bearer $token" \
    "$@"
}

status=0
fuzz tenant "$API_KEY" --exclude-path-regex "$ADMIN_PATHS" || status=1
fuzz operator "$ADMIN_TOKEN" --include-path-regex "$ADMIN_PATHS" || status=1

if grep -q 'panicked' "$LOG"; then
  echo "the gateway panicked; see $LOG"
  status=1
fi
if [ "$status" -eq 0 ]; then
  echo "schemathesis: no server error"
  rm -f "$LOG"
else
  echo "schemathesis found problems; gateway log: $LOG"
fi
exit "$status"

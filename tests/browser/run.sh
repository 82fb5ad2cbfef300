#!/usr/bin/env bash
# End-to-end test of the dashboard in headless Chromium: a real gateway over a fresh
# database, a receiver that fails once, and a browser that signs in with the tenant key,
# opens the failed delivery and retries it. Installs Debian's Chromium and playwright-core
# when they are missing (Playwright's own browser download does not work offline).
#
#   tests/browser/run.sh        # prints `browser: N passed, M failed` last; non-zero on failure
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$here/out"
mkdir -p "$out" "$root/docs"

summary_printed=false
gateway_pid=""
database="switchboard_browser_$(date +%s)_$$"
server="postgres://postgres@127.0.0.1:5432"

cleanup() {
  local status=$?
  if [[ -n "$gateway_pid" ]]; then
    kill "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
  fi
  psql -q "$server/postgres" -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 || true
  if [[ $status -ne 0 ]]; then
    [[ -s "$out/gateway.log" ]] && { echo "--- last lines of $out/gateway.log"; tail -n 20 "$out/gateway.log"; }
    $summary_printed || echo "browser: 0 passed, 1 failed (setup failed, see above)"
  fi
  exit "$status"
}
trap cleanup EXIT

if [[ ! -x /usr/bin/chromium ]]; then
  echo "installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [[ ! -d "$here/node_modules/playwright-core" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The debug build is the one `cargo nextest run` has just made in CI, so this costs little.
(cd "$root" && cargo build --quiet --bin switchboard)
bin="${CARGO_TARGET_DIR:-$root/target}/debug/switchboard"

port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
url="http://127.0.0.1:$port"
export DATABASE_URL="$server/$database"
export SWITCHBOARD_PUBLIC_URL="$url"
admin_token="browser-admin-$RANDOM$RANDOM"
app_secret="browser-app-secret"

"$bin" serve --bind "127.0.0.1:$port" --admin-token "$admin_token" --allow-private-destinations \
  --retry-initial 100ms --retry-max-delay 200ms --max-attempts 1 >"$out/gateway.log" 2>&1 &
gateway_pid=$!
for _ in $(seq 1 100); do
  curl -sf "$url/healthz" >/dev/null && break
  kill -0 "$gateway_pid" 2>/dev/null || { echo "the gateway exited early"; exit 1; }
  sleep 0.1
done
curl -sf "$url/healthz" >/dev/null

tenant=$("$bin" tenant create --name "Browser test" --app-secret "$app_secret" --json)

summary_printed=true
GATEWAY_URL="$url" TENANT_JSON="$tenant" ADMIN_TOKEN="$admin_token" APP_SECRET="$app_secret" OUT_DIR="$out" \
  FIXTURE="$root/tests/fixtures/meta/whatsapp/text.json" \
  DOCS_SCREENSHOT="${UPDATE_DOCS_SCREENSHOT:+$root/docs/dashboard-deliveries.png}" \
  node "$here/dashboard.test.mjs"

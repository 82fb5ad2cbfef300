#!/usr/bin/env bash
# The long-run fault suite (issue 7: "nothing acknowledged is lost").
#
#   tests/faults/run.sh                  # every scenario: crash db-outage receiver-outage hostile fuzz
#   tests/faults/run.sh db-outage fuzz   # some of them
#
# Prints one result line per scenario with its figures and exits non-zero if any failed.
# Everything runs on loopback; each scenario is bounded in time (SCENARIO_TIMEOUT, s) and
# count. Logs go to tests/faults/out/. FUZZ_SECONDS (default 60) is the time per fuzz target.
#
# db-outage STOPS THE LOCAL POSTGRESQL (and always starts it again), so this is not part
# of .ci/run: it is the documented long run.
set -euo pipefail
cd "$(dirname "$0")/../.."

readonly ALL_SCENARIOS=(crash db-outage receiver-outage hostile fuzz)
readonly PG_SERVER=postgres://postgres@127.0.0.1:5432
readonly OUT=tests/faults/out
readonly FUZZ_SECONDS=${FUZZ_SECONDS:-60}
readonly SCENARIO_TIMEOUT=${SCENARIO_TIMEOUT:-1800}
# Outage timeline, in seconds: traffic before the stop, with the database down, after start.
readonly WARM_UP=5 DOWN=5 AFTER=5
export DATABASE_URL=$PG_SERVER/postgres
export CARGO_TERM_COLOR=never

pg_cluster() {
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main "$@"
}

wait_until() { # wait_until SECONDS COMMAND...: polls COMMAND every 0.1 s
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432; }

ensure_postgres() {
  pg_ready && return 0
  echo "starting PostgreSQL again" >&2
  pg_cluster start || true
  wait_until 30 pg_ready
}

now_ms() { date +%s%3N; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# nextest FILTER LOG: runs the integration tests FILTER selects, output to LOG.
nextest() {
  cargo nextest run --no-fail-fast --no-capture -E "$1" >"$2" 2>&1
}

# The nextest summary line ("N tests run: N passed, ...") of LOG.
nextest_summary() {
  grep -Eo '[0-9]+ tests? run: .*' "$1" | tail -n 1
}

# Runs the integration test matching FILTER and passes its NAME: result line through.
result_line_test() {
  local name=$1 filter=$2 log=$OUT/$1.log status=0
  nextest "$filter" "$log" || status=$?
  grep -E "^$name: " "$log" || echo "$name: no result line (see $log)"
  return "$status"
}

scenario_crash() {
  result_line_test crash 'test(/faults::kill_9/)'
}

scenario_receiver_outage() {
  result_line_test receiver-outage 'test(/faults::receiver_outage/)'
}

scenario_hostile() {
  local log=$OUT/hostile.log status=0 started=$SECONDS
  nextest 'test(/^hostile::/) | test(/^forwarding::hostile_receivers/)' "$log" || status=$?
  echo "hostile input: $(nextest_summary "$log") in $((SECONDS - started)) s" \
    "(hostile::*, forwarding::hostile_receivers_*)"
  return "$status"
}

scenario_db_outage() {
  local log=$OUT/db-outage.log run=$OUT/db-outage
  local db port secret=fault-suite-secret
  db=switchboard_faults_$(date +%s)_$$
  port=$(free_port)
  local url=$PG_SERVER/$db base=http://127.0.0.1:$port
  rm -rf "$run" && mkdir -p "$run"

  # The binary the integration tests use: built with the same features, so no rebuild.
  cargo nextest run --no-run >"$log" 2>&1
  local bin
  bin=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/debug/switchboard

  # Global, for the trap, which runs on every exit, failure or not: Postgres must come
  # back whatever happened.
  gateway_pid='' sender_pid=''
  trap 'kill $gateway_pid $sender_pid 2>/dev/null || true; ensure_postgres' EXIT

  # A short acquire timeout: while the database is down every attempt gets its 503 fast,
  # so the sender makes many attempts during the outage (the default is 3 s).
  "$bin" serve --bind "127.0.0.1:$port" --database-url "$url" \
    --admin-token fault-suite-admin --allow-private-destinations \
    --db-acquire-timeout-ms 250 >>"$log" 2>&1 &
  gateway_pid=$!
  wait_until 60 curl -fs -o /dev/null "$base/healthz"
  local tenant_id
  tenant_id=$("$bin" tenant create --json --database-url "$url" --name outage \
    --verify-token fault-suite --app-secret "$secret" 2>>"$log" | jq -r .id)

  python3 tests/faults/sender.py --port "$port" --tenant "$tenant_id" --secret "$secret" \
    --fixture tests/fixtures/meta/whatsapp/text.json --out "$run" >"$run/figures" &
  sender_pid=$!

  sleep "$WARM_UP"
  pg_cluster stop -m fast
  now_ms >"$run/down_at"
  if pg_ready; then
    echo "db-outage: PostgreSQL still answers after the stop" >&2
    return 1
  fi
  sleep "$DOWN"
  now_ms >"$run/up_at"
  pg_cluster start
  wait_until 30 pg_ready
  sleep "$AFTER"
  touch "$run/stop"
  wait "$sender_pid"
  sender_pid=''
  kill -0 "$gateway_pid" # the gateway lived through it

  local sent acknowledged while_down answered_503 other recovered_ms
  read -r sent acknowledged while_down answered_503 other recovered_ms <"$run/figures"
  psql -X -q -At "$url" -c \
    "SELECT payload->>'message_id' FROM events WHERE event_type = 'message.received'" |
    sort >"$run/stored"
  sort -u "$run/acknowledged" >"$run/acknowledged.sorted"
  local lost duplicated
  lost=$(comm -23 "$run/acknowledged.sorted" <(sort -u "$run/stored") | wc -l)
  duplicated=$(uniq -d "$run/stored" | wc -l)

  echo "db-outage: sent $sent, acknowledged $acknowledged," \
    "answered-200-while-down $while_down, 503s $answered_503, other answers $other," \
    "lost $lost, duplicated $duplicated," \
    "recovered after $(awk -v ms="$recovered_ms" 'BEGIN { printf "%.1f", ms / 1000 }') s"
  [[ $acknowledged == "$sent" && $while_down == 0 && $answered_503 -gt 0 && $other == 0 &&
    $lost == 0 && $duplicated == 0 && $recovered_ms -ge 0 ]]
  kill "$gateway_pid"
  wait "$gateway_pid" || true
  gateway_pid=''
  dropdb -h 127.0.0.1 -U postgres "$db" # only on success: kept for inspection otherwise
}

# Seeds fuzz/corpus/TARGET: every Meta fixture for normalize, header shapes for the other.
seed_corpus() {
  local dir=fuzz/corpus/$1 file
  mkdir -p "$dir"
  case $1 in
    normalize)
      while IFS= read -r -d '' file; do
        cp "$file" "$dir/$(tr / _ <<<"${file#tests/fixtures/meta/}")"
      done < <(find tests/fixtures/meta -type f -print0)
      ;;
    signature_header)
      printf 'sha256=%064d' 0 >"$dir/zeros"
      printf ' SHA256=%064x ' 255 >"$dir/upper-spaced"
      printf 'sha256=%s' "$(printf 'z%.0s' {1..64})" >"$dir/not-hex"
      ;;
  esac
}

scenario_fuzz() {
  local log=$OUT/fuzz.log target status=0
  # The crate forbids unsafe code: the fuzzer hunts panics, which need no sanitizer, and
  # building the whole dependency tree with AddressSanitizer takes long on 2 cores.
  local fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz)
  local build=(--sanitizer "${FUZZ_SANITIZER:-none}")
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked >"$log" 2>&1
  (cd fuzz && "${fuzz[@]}" build "${build[@]}") >>"$log" 2>&1
  for target in normalize signature_header; do
    seed_corpus "$target"
    touch "$OUT/fuzz-$target.log.start"
    local target_log=$OUT/fuzz-$target.log crashes runs
    # libFuzzer stops at the first failing input and saves it under fuzz/artifacts.
    (cd fuzz && "${fuzz[@]}" run "${build[@]}" "$target" -- \
      -max_total_time="$FUZZ_SECONDS" -print_final_stats=1) >"$target_log" 2>&1 || status=$?
    crashes=$(find "fuzz/artifacts/$target" -type f -newer "$target_log.start" 2>/dev/null |
      wc -l)
    runs=$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$target_log")
    echo "fuzz $target: ${runs:-?} runs in $FUZZ_SECONDS s, $crashes crashes," \
      "corpus $(find "fuzz/corpus/$target" -type f | wc -l) inputs"
    ((crashes == 0)) || status=1
  done
  return "$status"
}

run_scenario() {
  case $1 in
    crash) scenario_crash ;;
    db-outage) scenario_db_outage ;;
    receiver-outage) scenario_receiver_outage ;;
    hostile) scenario_hostile ;;
    fuzz) scenario_fuzz ;;
    *) echo "unknown scenario $1 (known: ${ALL_SCENARIOS[*]})" >&2 && return 2 ;;
  esac
}

main() {
  # Internal: one scenario in its own process, so `set -e` holds inside it.
  if [[ ${1:-} == --scenario ]]; then
    run_scenario "$2"
    return
  fi
  local scenarios=("$@") failed=() scenario status
  ((${#scenarios[@]})) || scenarios=("${ALL_SCENARIOS[@]}")
  mkdir -p "$OUT"
  trap ensure_postgres EXIT
  ensure_postgres
  for scenario in "${scenarios[@]}"; do
    status=0
    timeout --kill-after=30 "$SCENARIO_TIMEOUT" "$0" --scenario "$scenario" || status=$?
    ((status != 124)) || echo "$scenario: timed out after $SCENARIO_TIMEOUT s"
    ((status == 0)) || failed+=("$scenario")
  done
  if ((${#failed[@]})); then
    echo "fault suite: FAILED: ${failed[*]} (logs in $OUT)"
    return 1
  fi
  echo "fault suite: all ${#scenarios[@]} scenarios passed"
}

main "$@"

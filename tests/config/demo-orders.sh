#!/bin/bash
# `make demo-orders`: config/orders.json end to end.  Writes orders as JSON
# lines into an inbox folder, starts `evbus run` (file-in tails the inbox;
# orders of 100.00 or more go to an exec'd python3 script that prices them,
# the rest are written as skipped; priced orders go to file-out and SQLite,
# the one the script refuses to a rejects file), appends a second batch
# while it runs, waits for every result, stops the host and prints what
# came out.  Unattended; every output is compared with what it must be, so
# it doubles as the pipeline's test (tests/config/meson.build runs it).
#
#   tests/config/demo-orders.sh [BUILD_DIR]
#   ORDERS_DEMO_DASHBOARD=127.0.0.1:8088  where the dashboard listens (port 0: any free one)
#   ORDERS_DEMO_KEEP=1                    keep the work folder (0: delete it at the end)
#   ORDERS_DEMO_HOLD=0                    1: keep the host running until Enter, to look at the dashboard
set -euo pipefail

build=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
case $build in /*) ;; *) build=$root/$build ;; esac
plugins=$build/plugins
python=${PYTHON:-python3}
export EVBUS_PLUGIN_PATH=$plugins/file-in:$plugins/file-out:$plugins/exec:$plugins/sql:$plugins/console:$plugins/dashboard
export EVBUS_ORDERS_DASHBOARD=${ORDERS_DEMO_DASHBOARD:-127.0.0.1:8088}
export EVBUS_ORDERS_DIR
EVBUS_ORDERS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/evbus-orders-XXXXXX")
dir=$EVBUS_ORDERS_DIR
mkdir "$dir/inbox"

pid=
stop() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  pid=
}
cleanup() {
  stop
  if [ "${ORDERS_DEMO_KEEP:-1}" = 0 ]; then rm -rf "$dir"; fi
}
trap cleanup EXIT

# until_true DESCRIPTION COMMAND...: polls COMMAND every 50 ms until it
# succeeds; fails after ORDERS_DEMO_WAIT_S seconds (default 60: generous
# for sanitizer builds), or at once if the host is gone, with its log.
until_true() {
  local what=$1 deadline=$((SECONDS + ${ORDERS_DEMO_WAIT_S:-60}))
  shift
  while [ "$SECONDS" -lt "$deadline" ]; do
    if "$@"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "demo-orders: evbus exited while waiting for $what:" >&2
      cat "$dir/host.out" "$dir/host.log" >&2
      exit 1
    fi
    sleep 0.05
  done
  echo "demo-orders: timed out waiting for $what; the host printed:" >&2
  cat "$dir/host.out" "$dir/host.log" >&2
  exit 1
}
lines_in() { [ "$2" = 0 ] || { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }; }
db_rows() {
  "$python" - "$dir/orders.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
for row in db.execute("SELECT id, customer, tier, currency, amount_cents, vat_cents, total_cents, priority FROM orders ORDER BY id"):
    print("|".join(str(v) for v in row))
PY
}
db_has() { [ -f "$dir/orders.db" ] && [ "$(db_rows 2>/dev/null | wc -l)" -ge "$1" ]; }
results_in() {
  lines_in "$dir/out/enriched.jsonl" "$1" && lines_in "$dir/out/skipped.jsonl" "$2" &&
    lines_in "$dir/out/rejected.txt" "$3" && db_has "$1"
}

cat >"$dir/inbox/orders.jsonl" <<'JSONL'
{"id": "A-1001", "customer": "ada", "amount_cents": 12950, "currency": "EUR"}
{"id": "A-1002", "customer": "bob", "amount_cents": 4200, "currency": "EUR"}
{"id": "A-1003", "customer": "grace", "amount_cents": 25000, "currency": "GBP"}
{"id": "A-1004", "customer": "carol", "amount_cents": 9999, "currency": "EUR"}
JSONL

"$build/host/cli/evbus" run "$root/config/orders.json" >"$dir/host.out" 2>"$dir/host.log" &
pid=$!

until_true "the dashboard" grep -q '^\[dashboard.ready\]' "$dir/host.out"
url=$(sed -n 's/^\[dashboard.ready\] .*url=\([^ ]*\).*/\1/p' "$dir/host.out" | head -n 1)
echo "== evbus runs config/orders.json; dashboard: $url"
echo "== work folder: $dir (inbox/, out/, orders.db, host.out, host.log)"
echo "== batch 1: 4 orders in inbox/orders.jsonl"
until_true "batch 1" results_in 2 2 0
echo "== batch 2: 4 more lines appended while it runs (one is not JSON, one has a currency the script cannot price)"
cat >>"$dir/inbox/orders.jsonl" <<'JSONL'
{"id": "A-1005", "customer": "dan", "amount_cents": 61000, "currency": "CHF"}
{"id": "A-1006", "customer": "eve", "amount_cents": 15000, "currency": "XYZ"}
{"id": "A-1007", "customer": "ada", "amount_cents": }
{"id": "A-1008", "customer": "ada", "amount_cents": 10000, "currency": "EUR"}
JSONL
until_true "batch 2" results_in 4 2 1

if [ "${ORDERS_DEMO_HOLD:-0}" = 1 ]; then
  read -r -p "== all results are in; the dashboard is at $url: press Enter to stop the host " _ || true
fi
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=

echo "== what the host printed (console plugin), then its log"
cat "$dir/host.out" "$dir/host.log"

failed=0
# check NAME EXPECTED ACTUAL: prints ACTUAL, compares it with EXPECTED.
check() {
  printf '%s\n' "$3" | sed 's/^/   /'
  if [ "$2" != "$3" ]; then
    echo "demo-orders: $1 is not what it must be; expected:" >&2
    printf '%s\n' "$2" >&2
    failed=1
  fi
}
# The two exec runs finish in either order: the lines are sorted to compare.
echo "== out/enriched.jsonl (file-out, orders of 100.00 or more as the script priced them; lines sorted)"
check out/enriched.jsonl '{"id":"A-1001","customer":"ada","tier":"gold","currency":"EUR","amount_cents":12950,"vat_cents":2590,"total_cents":15540,"priority":"express"}
{"id":"A-1003","customer":"grace","tier":"silver","currency":"GBP","amount_cents":25000,"vat_cents":5000,"total_cents":30000,"priority":"normal"}
{"id":"A-1005","customer":"dan","tier":"new","currency":"CHF","amount_cents":61000,"vat_cents":4880,"total_cents":65880,"priority":"express"}
{"id":"A-1008","customer":"ada","tier":"gold","currency":"EUR","amount_cents":10000,"vat_cents":2000,"total_cents":12000,"priority":"express"}' \
  "$(sort "$dir/out/enriched.jsonl")"
echo "== out/skipped.jsonl (file-out, the orders under 100.00, in input order)"
check out/skipped.jsonl '{"id":"A-1002","customer":"bob","amount_cents":4200,"currency":"EUR"}
{"id":"A-1004","customer":"carol","amount_cents":9999,"currency":"EUR"}' \
  "$(cat "$dir/out/skipped.jsonl")"
echo "== out/rejected.txt (file-out, the failures of the exec step)"
check out/rejected.txt 'A-1006 "python3" exited with status 1; stderr: "order A-1006: no VAT rate for currency XYZ"' \
  "$(cat "$dir/out/rejected.txt")"
echo "== orders.db (sql): SELECT * FROM orders ORDER BY id"
check orders.db 'A-1001|ada|gold|EUR|12950|2590|15540|express
A-1003|grace|silver|GBP|25000|5000|30000|normal
A-1005|dan|new|CHF|61000|4880|65880|express
A-1008|ada|gold|EUR|10000|2000|12000|express' \
  "$(db_rows)"
if [ "$status" != 0 ]; then
  echo "demo-orders: evbus exited with status $status after SIGTERM" >&2
  failed=1
fi
if ! grep -q 'orders.jsonl:7: invalid JSON' "$dir/host.log"; then
  echo "demo-orders: the host log does not name the bad line 7" >&2
  failed=1
fi
if [ "$failed" = 0 ]; then
  echo "== every output is as expected; the work folder is $dir"
fi
exit "$failed"

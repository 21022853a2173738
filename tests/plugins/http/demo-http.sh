#!/bin/bash
# `make demo-http`: starts evbus with config/http-demo.json (a search
# service and a webhook that calls out over HTTP), runs the README's curl
# lines against it, shows what they print and what the host printed, and
# stops the host.  Unattended; exits non-zero when an answer is not the
# expected status, so it doubles as a smoke test.
#
#   tests/plugins/http/demo-http.sh [BUILD_DIR]
#   HTTP_DEMO_API=127.0.0.1:18080 HTTP_DEMO_RECEIVER=127.0.0.1:18081 (defaults)
set -euo pipefail

build=${1:-build}
api=${HTTP_DEMO_API:-127.0.0.1:18080}
receiver=${HTTP_DEMO_RECEIVER:-127.0.0.1:18081}
root=$(cd "$(dirname "$0")/../../.." && pwd)
plugins=$root/$build/plugins
export EVBUS_PLUGIN_PATH=$plugins/http-in:$plugins/http-out:$plugins/sqlite-store:$plugins/console
export EVBUS_HTTP_API=$api EVBUS_HTTP_RECEIVER=$receiver

log=$(mktemp)
"$root/$build/host/cli/evbus" run "$root/config/http-demo.json" >"$log" 2>&1 &
pid=$!
stop() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
trap 'stop; rm -f "$log"' EXIT

# Up when both listeners answer (at most 10 s).
for _ in $(seq 100); do
  if curl -s -o /dev/null "http://$api/stats" && curl -s -o /dev/null "http://$receiver/stats"; then
    break
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "evbus did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done

failed=0
# show STATUS 'curl ...': prints the command as typed and what it prints,
# and checks the answer's status.
show() {
  local expected=$1 command=$2 out status
  printf '$ %s\n' "$command"
  out=$(eval "$command -w '\n%{http_code}'")
  status=${out##*$'\n'}
  out=${out%$'\n'*}
  printf '%s\n\n' "${out%$'\n'}"
  if [ "$status" != "$expected" ]; then
    echo "demo-http: expected HTTP $expected, got $status" >&2
    failed=1
  fi
}

echo "== search: the query goes in as search.request; sqlite-store's search.results in the same trace is the answer"
show 200 "curl -s -H 'Content-Type: application/json' -d '{\"query\": \"lamp\", \"limit\": 2}' http://$api/search"
echo "== the same without a query: sqlite-store fails, and the failure is the answer"
show 500 "curl -s -H 'Content-Type: application/json' -d '{\"limit\": 2}' http://$api/search"
echo "== a webhook: order.paid -> http-out POSTs it to the receiver (a second http-in); 202 once that is done"
show 202 "curl -s -i -H 'Content-Type: application/json' -d '{\"order\": 42, \"amount\": 9.5}' http://$api/events/order.paid"
echo "== refusals are JSON too"
show 415 "curl -s -d 'order=42' http://$api/events/order.paid"

stop
echo "== what the host printed (console plugin, log)"
cat "$log"
exit "$failed"

#!/bin/bash
# make demo-cluster (tests/plugins/nats/demo-cluster.sh BUILD_DIR): one nats-server with JetStream (free loopback port,
# temporary store), two worker hosts sharing one work queue, and a front
# host that submits JOBS search jobs.  Shows which host did how many, then
# stops everything (also on Ctrl-C or an error: the trap).
set -euo pipefail
BUILD=${1:?usage: demo-cluster.sh BUILD_DIR}
JOBS=${JOBS:-20}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
EVBUS=$ROOT/$BUILD/host/cli/evbus
NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
[ -x "$NATS_SERVER" ] || { echo "nats-server is not installed: make deps"; exit 1; }
[ -f "$ROOT/$BUILD/plugins/nats/evbus-nats.so" ] || { echo "no plugins/nats in $BUILD (libnats-dev missing when it was set up?): make deps, then meson setup --reconfigure $BUILD"; exit 1; }
export EVBUS_PLUGIN_PATH=$(printf "$ROOT/$BUILD/plugins/%s:" nats replay sqlite-store console)

DIR=$(mktemp -d "${TMPDIR:-/tmp}/evbus-cluster-XXXXXX")
PIDS=()
cleanup () {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# -p -1: a free port (-p 0 would be 4222); the ports file says which.
"$NATS_SERVER" -a 127.0.0.1 -p -1 -js -sd "$DIR/store" --ports_file_dir "$DIR" 2>"$DIR/nats-server.log" &
PIDS+=($!)
for _ in $(seq 100); do
  PORTS=$(ls "$DIR"/*.ports 2>/dev/null || true)
  [ -n "$PORTS" ] && break
  sleep 0.1
done
[ -n "$PORTS" ] || { echo "nats-server did not start:"; cat "$DIR/nats-server.log"; exit 1; }
export EVBUS_NATS_URL=$(sed -n 's/.*"nats":\["\([^"]*\)".*/\1/p' "$PORTS")
export EVBUS_WORK_STREAM=DEMO_JOBS
echo "== nats-server with JetStream on $EVBUS_NATS_URL, store in $DIR/store"

for host in w1 w2; do
  EVBUS_HOST=$host "$EVBUS" run "$ROOT/config/cluster-worker.json" >"$DIR/$host.out" 2>"$DIR/$host.log" &
  PIDS+=($!)
done
# Both workers are bound to the shared consumer before the jobs come.
for host in w1 w2; do
  for _ in $(seq 100); do grep -q "working stream" "$DIR/$host.log" && break; sleep 0.1; done
  grep -q "working stream" "$DIR/$host.log" || { echo "worker $host did not start:"; cat "$DIR/$host.log"; exit 1; }
done
echo "== workers w1 and w2 share consumer evbus-workers of stream DEMO_JOBS (db.search, 200 ms a job)"

for i in $(seq "$JOBS"); do
  printf '{"type": "job.search", "data": {"job_id": "job-%d", "query": "lamp", "limit": 1}}\n' "$i"
done >"$DIR/input.jsonl"
EVBUS_HOST=front EVBUS_CLUSTER_INPUT="$DIR/input.jsonl" "$EVBUS" run "$ROOT/config/cluster-submit.json" --exit-when-idle 2>"$DIR/front.log"
echo "== front submitted $JOBS jobs and exited: JetStream acknowledged each (see nats.submit)"

done_count () { cat "$DIR"/w1.out "$DIR"/w2.out | grep -c ' did \[search.results\]' || true; }
for _ in $(seq 300); do
  [ "$(done_count)" -ge "$JOBS" ] && break
  sleep 0.1
done
echo "== jobs done per host:"
for host in w1 w2; do
  echo "   $host: $(grep -c ' did \[search.results\]' "$DIR/$host.out" || true)"
done
echo "   total: $(done_count) of $JOBS"
echo "== first lines of w1's console:"
head -n 2 "$DIR/w1.out" | cut -c1-160
[ "$(done_count)" -ge "$JOBS" ] || { echo "not every job was done: see $DIR"; trap - EXIT; exit 1; }
echo "== stopping the hosts and the server"

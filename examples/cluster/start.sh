#!/usr/bin/env bash
# Redis, three Switchboard nodes and HAProxy on loopback, in the foreground; Ctrl-C stops them all.
#   examples/cluster/start.sh            (from the repository, after `npm ci && npm run build`)
# Needs redis-server and haproxy (Debian: apt-get install redis-server haproxy).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
main="$root/dist/src/cli/main.js"
[ -f "$main" ] || { echo "build first: npm run build" >&2; exit 1; }
for cmd in redis-server haproxy; do
  command -v "$cmd" >/dev/null || { echo "$cmd is not installed" >&2; exit 1; }
done
work="$(mktemp -d)"
pids=()
stop() {
  trap - INT TERM EXIT
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap stop INT TERM EXIT

redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --daemonize no >"$work/redis.log" &
pids+=($!)
until redis-cli -p 6379 ping >/dev/null 2>&1; do sleep 0.1; done

for i in 1 2 3; do
  # Each node: its own listeners, the shared Redis (bus and sessions), a stable node id.
  node "$main" --node-id "n$i" --redis redis://127.0.0.1:6379 --cluster-link 127.0.0.1:0 \
    --listen "mqtt://127.0.0.1:$((1883 + i))" --listen "stomp://127.0.0.1:$((61613 + i))" \
    ${SWITCHBOARD_CONFIG:+--config "$SWITCHBOARD_CONFIG"} &
  pids+=($!)
  # One after another: a node finds the running ones in Redis when it joins.
  until (exec 3<>"/dev/tcp/127.0.0.1/$((1883 + i))") 2>/dev/null; do sleep 0.1; done
done

haproxy -f "$here/haproxy.cfg" -db &
pids+=($!)
echo "cluster up: MQTT on 127.0.0.1:1883, STOMP on 127.0.0.1:61613 (through HAProxy); Ctrl-C stops it" >&2
wait -n

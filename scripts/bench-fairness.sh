#!/usr/bin/env bash
# Fairness: what a client that pipelines megabytes costs the other clients on
# its thread. A bystander sends GET of a cached key one at a time and times
# each round trip (2,000 of them), first alone, then beside two
# redis-benchmark connections that pipeline 20,000 GETs of another cached key
# per batch (about 740 KB of input per batch, without pause). Targets, in the
# same run: redis-server alone, and hotcache with `--threads 1` (everyone on
# one thread) in front of it; HOTCACHE_BASE=path/to/an/older/hotcache adds that
# build as a third target, to compare a change.
#
# Usage: scripts/bench-fairness.sh [ROUNDS]   (3 by default)
# Prints one line per round and target: p50, p99, p99.9 and worst round trip
# in ms, alone and beside the pipelining clients.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in redis-server redis-cli redis-benchmark python3; do
  command -v "$tool" >/dev/null || { echo "bench-fairness: $tool is needed" >&2; exit 1; }
done
ROUNDS=${1:-3}
source scripts/lib.sh

cat >"$WORK/bystander.py" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.settimeout(10)
req = b"*2\r\n$3\r\nGET\r\n$9\r\nbystander\r\n"
want = b"$1\r\nv\r\n"
lat = []
for _ in range(n):
    t = time.perf_counter()
    s.sendall(req)
    buf = b""
    while len(buf) < len(want):
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("connection closed")
        buf += chunk
    lat.append(time.perf_counter() - t)
    if buf != want:
        sys.exit(f"unexpected reply {buf!r}")
lat.sort()
ms = lambda x: f"{x * 1000:.2f}"
print(f"p50 {ms(lat[n // 2])} p99 {ms(lat[n * 99 // 100])} p99.9 {ms(lat[n * 999 // 1000])} "
      f"worst {ms(lat[-1])}")
PY

RPORT=$(free_port)
start_redis "$RPORT"
wait_ping "$RPORT"
redis-cli -p "$RPORT" set bystander v >/dev/null
redis-cli -p "$RPORT" set key:000000000000 "$(printf 'x%.0s' $(seq 64))" >/dev/null
TARGETS=("redis-server:$RPORT")
HPORT=$(free_port)
start_hotcache "$HPORT" "$RPORT" --threads 1
wait_ping "$HPORT"
TARGETS+=("hotcache:$HPORT")
if [ -n "${HOTCACHE_BASE:-}" ]; then
  BPORT=$(free_port)
  "$HOTCACHE_BASE" --port "$BPORT" --upstream "redis://127.0.0.1:$RPORT" --threads 1 \
    2>"$WORK/base.log" &
  PIDS+=($!)
  wait_ping "$BPORT"
  TARGETS+=("hotcache-base:$BPORT")
fi

echo "== fairness: bystander GET round trips (ms), alone / beside 2 clients pipelining 20,000 GETs per batch"
for round in $(seq "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    name=${t%%:*} port=${t##*:}
    # Both keys read a few times first, so that hotcache serves them cached.
    for _ in 1 2 3 4 5; do
      redis-cli -p "$port" get bystander >/dev/null
      redis-cli -p "$port" get key:000000000000 >/dev/null
    done
    alone=$(python3 "$WORK/bystander.py" "$port" 2000)
    redis-benchmark -p "$port" -c 2 -P 20000 -n 2000000000 -t get -r 1 -q >/dev/null 2>&1 &
    load=$!
    # Until the pipelining clients are connected and sending.
    for _ in $(seq 100); do
      [ "$(redis-cli -p "$port" info clients | tr -d '\r' | sed -n 's/^connected_clients://p')" -ge 3 ] && break
      sleep 0.05
    done
    sleep 0.5
    beside=$(python3 "$WORK/bystander.py" "$port" 2000)
    kill "$load"
    wait "$load" 2>/dev/null || true
    echo "round $round  $name  alone: $alone  |  beside: $beside"
  done
done

#!/usr/bin/env bash
# Memory per cached entry: N keys of 11 bytes ("key:0000000") with 16-byte
# values, read once each through hotcache (defaults unless flags are given), so
# that every one is cached. Prints the RSS growth of hotcache per entry against
# what redis-server's RSS grew by to hold the same keys, and hotcache's own
# count (cache_bytes / cache_entries).
#
# Usage: scripts/bench-entry-mem.sh [entries] [extra hotcache flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-500000}
shift $(( $# > 0 ? 1 : 0 ))
HC_FLAGS=("$@")
source scripts/lib.sh
RPORT=$(free_port); HPORT=$(free_port)
start_redis "$RPORT"
RPID=${PIDS[0]}
wait_ping "$RPORT"
rss() { awk '/^VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }
# Commands in files of 10,000 (one --pipe each, so that hotcache is not handed
# 500,000 reads at once).
python3 - "$N" "$WORK" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
val = b"v" * 16
for cmd in ("SET", "GET"):
    for c, start in enumerate(range(0, n, 10000)):
        with open(f"{work}/{cmd}.{c:03d}", "wb") as f:
            for i in range(start, min(n, start + 10000)):
                k = b"key:%07d" % i
                if cmd == "SET":
                    f.write(b"*3\r\n$3\r\nSET\r\n$11\r\n" + k + b"\r\n$16\r\n" + val + b"\r\n")
                else:
                    f.write(b"*2\r\n$3\r\nGET\r\n$11\r\n" + k + b"\r\n")
PY
resp() { for f in "$WORK/$1".*; do redis-cli -p "$2" --pipe <"$f" >/dev/null; done; }
r0=$(rss "$RPID")
resp SET "$RPORT"
sleep 2
r1=$(rss "$RPID")
start_hotcache "$HPORT" "$RPORT" "${HC_FLAGS[@]}"
wait_ping "$HPORT"
# Until the tracking stream is up, fills are not cached.
for _ in $(seq 100); do
  redis-cli -p "$HPORT" get key:0000000 >/dev/null
  [ "$(redis-cli -p "$HPORT" info hotcache | tr -d '\r' | sed -n 's/^cache_entries://p')" -gt 0 ] && break
  sleep 0.05
done
hs=$(rss "$HPID")
# The same reads once with the cache off: what serving them costs apart from the
# entries (buffers, flights, allocator pages kept), as a second baseline.
redis-cli -p "$HPORT" config set cache-mode off >/dev/null
resp GET "$HPORT"
redis-cli -p "$HPORT" config set cache-mode lfu >/dev/null
for _ in $(seq 200); do
  redis-cli -p "$HPORT" get key:0000000 >/dev/null
  [ "$(redis-cli -p "$HPORT" info hotcache | tr -d '\r' | sed -n 's/^cache_entries://p')" -gt 0 ] && break
  sleep 0.05
done
sleep 2
h0=$(rss "$HPID")
resp GET "$HPORT"
# The pipe's buffers (and the slab's and index's old copies after growing) are
# freed; each thread returns freed pages to the system every 250 ms
# (server/memory.rs). Measure after that.
sleep 2
h1=$(rss "$HPID")
info() { redis-cli -p "$HPORT" info hotcache | tr -d '\r' | sed -n "s/^$1://p"; }
entries=$(info cache_entries); bytes=$(info cache_bytes)
redis-cli -p "$HPORT" info hotcache | tr -d "\r" | grep -E "^(cache_|singleflight|stale_fills|hot_keys)" | tr "\n" " " >&2; echo >&2
python3 - "$N" "$r0" "$r1" "$hs" "$h0" "$h1" "$entries" "$bytes" <<'PY'
import sys
n, r0, r1, hs, h0, h1, e, b = map(int, sys.argv[1:])
e = max(e, 1)
print("| keys | redis-server RSS per key | hotcache entries | hotcache RSS per entry, from start | from after the same reads uncached | cache_bytes per entry |")
print("|---|---|---|---|---|---|")
print(f"| {n:,} | {(r1 - r0) / n:.1f} B | {e:,} | {(h1 - hs) / e:.1f} B | {(h1 - h0) / e:.1f} B | {b / e:.1f} B |")
PY

#!/usr/bin/env bash
# Redis 7.0.15's own test suite (tests/redis, a copy of Redis's tests/ and
# runtest, BSD licence; or REDIS_TESTS=dir) run
# through hotcache, one unit at a time, each unit against a fresh redis-server
# and a fresh hotcache on free ports (so a unit's leftovers, a BUSY script or a
# password, cannot derail the next).
#
#   scripts/redis-suite.sh [--direct] [unit ...]
#
#   TIER=1|2|3     which units (default 2: the 19 data-type units and protocol,
#                  other, multi, quit, pubsub, scripting, functions, tracking)
#   --direct       the same units on redis-server itself, for comparison
#   PROFILE=release  test target/release/hotcache (default: debug); the binary
#                  is built first with cargo (HOTCACHE_BIN=path skips that)
#   OUT=dir        keep the logs there (default: a temporary folder)
#   REDIS_SERVER=valkey-server  another backend
#   BASEPORT=n     the runner's own ports (default 21111; two runs at once
#                  need different ones)
#   THREADS=n      hotcache's threads (default 1, see below)
#   TEST_TIMEOUT=s the runner's watchdog for one test (default 180: the fuzz
#                  tests of unit/geo and unit/hyperloglog take over 60 s on a
#                  busy 2-core machine, even on redis-server itself)
#
# hotcache runs with one thread here. Several tests of blocking commands
# (unit/type/list, unit/type/stream-cgroups) send a command on one connection
# and, without waiting for its reply, another client's command on a second
# connection, and assume Redis runs them in that order: true of Redis's one
# event loop, and of hotcache's one thread, which forwards commands in the
# order it read them. With two threads the two connections may be served by
# different threads, and the later command can reach Redis first (then a
# BLPOP misses the LPUSH meant to wake it, an XREADGROUP answers NOGROUP
# instead of blocking): no multi-threaded proxy keeps the order of commands
# across connections that it has not answered yet. THREADS=2 runs the suite
# so; those tests then fail now and then, the rest passes. hotcache's own
# integration tests (tests/it) run it at its default threads.
#
# Fails on any [err], [exception] or timeout. The tests listed in
# scripts/redis-suite-expected.txt (format explained there) are skipped with
# the runner's --skipfile (a failed test can leave state that derails the rest
# of its unit); EXPECTED=run runs them too, tolerates their [err] and says
# which of them pass now, so the list stays true. Needs tclsh (Debian: tcl),
# redis-server, redis-cli and redis-benchmark.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

direct=0
if [ "${1:-}" = "--direct" ]; then direct=1; shift; fi
TIER=${TIER:-2}
suite=${REDIS_TESTS:-$root/tests/redis}
if [ ! -d "$suite/tests" ]; then
    echo "redis-suite: Redis's test suite not found (set REDIS_TESTS)" >&2
    exit 2
fi
REDIS_SERVER=${REDIS_SERVER:-redis-server}
expected=$root/scripts/redis-suite-expected.txt

if [ "$direct" = 0 ]; then
    if [ -z "${HOTCACHE_BIN:-}" ]; then
        profile=${PROFILE:-debug}
        if [ "$profile" = release ]; then cargo build -q --release --bin hotcache || exit 2
        else cargo build -q --bin hotcache || exit 2; fi
        HOTCACHE_BIN=$root/target/$profile/hotcache
    fi
fi

# The runner's flags for a server it reaches from outside (as run-against.sh).
TAGS='-slow -needs:debug -needs:repl -needs:pfdebug -needs:config-maxmemory -needs:config-resetstat -needs:reset -needs:save'
T1="unit/keyspace unit/scan unit/info-command unit/type/string unit/type/incr unit/type/list unit/type/list-3 unit/type/set unit/type/zset unit/type/hash unit/type/stream unit/type/stream-cgroups unit/sort unit/expire unit/dump unit/bitops unit/bitfield unit/geo unit/hyperloglog"
T2="unit/protocol unit/other unit/multi unit/quit unit/pubsub unit/scripting unit/functions unit/tracking"
T3="unit/introspection unit/introspection-2 unit/latency-monitor unit/slowlog unit/lazyfree unit/pause unit/violations integration/redis-cli"

work=$(mktemp -d)
if [ -z "${OUT:-}" ]; then OUT=$root/target/redis-suite-logs; rm -rf "$OUT"; fi
mkdir -p "$OUT"
redis_pid=""; hc_pid=""
stop_servers() {
    for p in $hc_pid $redis_pid; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    hc_pid=""; redis_pid=""
}
trap 'stop_servers; rm -rf "$work"' EXIT

cp -r "$suite"/tests "$suite"/runtest "$work"/
mkdir -p "$work/src" "$work/tests/tmp"
ln -s "$(command -v redis-cli)" "$work/src/redis-cli"
ln -s "$(command -v redis-benchmark)" "$work/src/redis-benchmark"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# Waits until PORT answers PING (or NOAUTH); false if PID died or 20 s passed.
wait_ping() {
    local port=$1 pid=$2 i
    for i in $(seq 1 2000); do
        kill -0 "$pid" 2>/dev/null || return 1
        case "$(redis-cli -p "$port" ping 2>/dev/null)" in PONG|NOAUTH*) return 0;; esac
        sleep 0.01
    done
    return 1
}
start_servers() { # $1: log prefix
    local rport hport
    rport=$(free_port)
    rm -rf "$work/data"; mkdir -p "$work/data"
    "$REDIS_SERVER" --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$work/data" >"$1.redis.log" 2>&1 &
    redis_pid=$!
    wait_ping "$rport" "$redis_pid" || { echo "redis-suite: $REDIS_SERVER did not start" >&2; return 1; }
    if [ "$direct" = 1 ]; then port=$rport; return 0; fi
    hport=$(free_port)
    "$HOTCACHE_BIN" --upstream "redis://127.0.0.1:$rport" --port "$hport" --threads "${THREADS:-1}" \
        >"$1.hotcache.log" 2>&1 &
    hc_pid=$!
    wait_ping "$hport" "$hc_pid" || { echo "redis-suite: hotcache did not start" >&2; return 1; }
    port=$hport
}

# Expected differences: "unit | test name | reason" (see the file).
declare -A allowed=()
if [ "$direct" = 0 ] && [ -f "$expected" ]; then
    while IFS='|' read -r eu et _; do
        eu=$(echo "$eu" | sed 's/^ *//; s/ *$//'); et=$(echo "$et" | sed 's/^ *//; s/ *$//')
        [ -z "$eu" ] || [[ "$eu" == \#* ]] && continue
        allowed["$eu|$et"]=1
    done <"$expected"
fi

cd "$work"
if [ $# -gt 0 ]; then units="$*"; else
    case $TIER in 1) sel="$T1";; 2) sel="$T1 $T2";; *) sel="$T1 $T2 $T3";; esac
    # the suite's own order (unit/type/list leaves proto-max-bulk-len behind)
    units=""
    for u in $(./runtest --list-tests); do [[ " $sel " == *" $u "* ]] && units="$units $u"; done
fi

what=hotcache; [ "$direct" = 1 ] && what=$REDIS_SERVER
echo "== Redis 7.0.15 test suite, TIER=$TIER, through $what"
printf "%-26s %5s %5s %5s %4s %4s %6s\n" unit ok err skip exc rc secs
tok=0; terr=0; texc=0; unexplained=0; t_start=$(date +%s)
declare -A seen=()
report=""
for u in $units; do
    log="$OUT/$(tr / _ <<<"$u").log"
    if ! start_servers "${log%.log}"; then
        report+="$u: servers did not start"$'\n'; unexplained=$((unexplained + 1)); stop_servers; continue
    fi
    skipfile="$work/skip.txt"; : >"$skipfile"
    if [ "${EXPECTED:-skip}" = skip ]; then
        for k in "${!allowed[@]}"; do [ "${k%%|*}" = "$u" ] && echo "${k#*|}" >>"$skipfile"; done
    fi
    t0=$(date +%s)
    timeout 600 ./runtest --host 127.0.0.1 --port "$port" --baseport "${BASEPORT:-21111}" --clients 1 \
        --single "$u" --singledb --durable --timeout "${TEST_TIMEOUT:-180}" --ignore-encoding --ignore-digest \
        --tags "$TAGS" --skipfile "$skipfile" >"$log" 2>&1
    rc=$?
    stop_servers
    c=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
    ok=$(grep -c '^\[ok\]' <<<"$c"); err=$(grep -c '^\[err\]' <<<"$c")
    skip=$(grep -c '^\[skip\]' <<<"$c"); exc=$(grep -c '^\[exception\]\|TIMEOUT' <<<"$c")
    printf "%-26s %5s %5s %5s %4s %4s %6s\n" "$u" "$ok" "$err" "$skip" "$exc" "$rc" "$(($(date +%s) - t0))"
    tok=$((tok + ok)); terr=$((terr + err)); texc=$((texc + exc))
    while IFS= read -r line; do
        name=${line#\[err\]: }; name=${name% in tests/*}
        seen["$u|$name"]=1
        if [ -z "${allowed["$u|$name"]:-}" ]; then
            report+="$u: [err] $name"$'\n'; unexplained=$((unexplained + 1))
        fi
    done < <(grep '^\[err\]' <<<"$c")
    if [ "$exc" -gt 0 ] || { [ "$rc" -ne 0 ] && [ "$err" -eq 0 ]; }; then
        first=""; first=$(grep -m1 -A3 '^\[exception\]\|TIMEOUT' <<<"$c" | tr '\n' ' ')
        report+="$u: exception/timeout (rc $rc): ${first:0:300}"$'\n'; unexplained=$((unexplained + 1))
    fi
done
echo "== total: $tok ok, $terr err, $texc exceptions/timeouts, $(($(date +%s) - t_start)) s; logs: $OUT"
if [ "$direct" = 0 ] && [ "${EXPECTED:-skip}" = run ]; then
    for k in "${!allowed[@]}"; do
        u=${k%%|*}
        [[ " $units " == *" $u "* ]] && [ -z "${seen[$k]:-}" ] \
            && echo "note: expected difference now passes (or was not run): $k"
    done
fi
if [ "$unexplained" -gt 0 ]; then
    echo "== $unexplained unexplained failure(s):"
    printf '%s' "$report"
    exit 1
fi
echo "== no unexplained failures"

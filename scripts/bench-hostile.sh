#!/usr/bin/env bash
# Hostile clients (issue 12): what one misbehaving client costs the server and
# everybody else on it, for hotcache in front of redis-server and for that
# redis-server alone, in the same run. Cases (scripts/hostile.py does the
# measuring and says how):
#   1  non-reader: SO_RCVBUF 4096, pipelines 300 x GET of a 10 MB value, never reads
#   1b pub/sub non-reader: SUBSCRIBEs, never reads, 1 MB PUBLISHes for 3 s
#   2  deep reply: EVAL returning a 1000-deep table, for 3 s, 20 GET/SET bystanders
#   3  SCRIPT KILL: of a busy EVAL, through the target, 5 tries
#   4  MGET of 1,000,000 keys in one request
# Each row: the server's RSS growth (peak minus before), the worst round trip
# of a bystander PING sent every 50 ms, the bystanders' errors, the case's
# result, and the project's target for hotcache beside each figure.
#
# Usage: scripts/bench-hostile.sh [extra hotcache flags...]
#   hotcache runs with --threads 1 --client-output-buffer-limit 64mb and then
#   the flags given (later flags win). HOSTILE_RESULTS=file keeps the raw
#   results (JSON lines). Needs redis-server, redis-cli, python3 (stdlib only).
#
# Fairness: every case and target gets fresh processes: a new redis-server
# (same binary, same settings) and, for hotcache, a new hotcache in front of
# it. Memory a case leaves behind (jemalloc keeps freed pages), a script left
# running or a wedged hotcache then cannot shift the next case's figures. The
# redis-server used as the direct target gets `client-output-buffer-limit
# normal <hotcache's limit> 0 0`, so both close a non-reader at the same size;
# the one behind hotcache keeps Redis's default (normal unlimited), as a Redis
# behind a proxy must: its connections carry many clients' replies, and a limit
# there would cut them all. Pub/sub keeps Redis's default class on both (32mb
# 8mb 60; hotcache's default pubsub class is Redis's).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in redis-server redis-cli python3 timeout; do
  command -v "$tool" >/dev/null || { echo "bench-hostile: $tool is needed" >&2; exit 1; }
done
HC_FLAGS=(--threads 1 --client-output-buffer-limit 64mb "$@")

# The limit hotcache will run with (the last one given), for Redis's normal class.
LIMIT=64mb
for ((i = 0; i < ${#HC_FLAGS[@]}; i++)); do
  case ${HC_FLAGS[i]} in
    --client-output-buffer-limit) LIMIT=${HC_FLAGS[i + 1]} ;;
    --client-output-buffer-limit=*) LIMIT=${HC_FLAGS[i]#*=} ;;
  esac
done

source scripts/lib.sh
RESULTS=$WORK/results.jsonl
: >"$RESULTS"

ping_ok() { timeout 2 redis-cli -p "$1" ping 2>/dev/null | grep -q PONG; }

# stop_pid PID: SIGTERM, then SIGKILL after 2 s (hotcache's graceful shutdown
# would otherwise wait up to 10 s for replies a non-reader never takes).
stop_pid() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 40); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# start_target hotcache|redis: a fresh redis-server (and hotcache in front of
# it). Sets RPORT RPID (redis-server) and TPORT TPID (what the clients talk to).
start_target() {
  RPORT=$(free_port)
  start_redis "$RPORT"
  RPID=${PIDS[-1]}
  wait_ping "$RPORT"
  # SCRIPT KILL is refused until a script has run this long (default 5 s).
  redis-cli -p "$RPORT" config set busy-reply-threshold 100 >/dev/null
  if [ "$1" = redis ]; then
    redis-cli -p "$RPORT" config set client-output-buffer-limit "normal $LIMIT 0 0" >/dev/null
    TPORT=$RPORT TPID=$RPID
  else
    start_hotcache_now
  fi
}
start_hotcache_now() {
  TPORT=$(free_port)
  start_hotcache "$TPORT" "$RPORT" "${HC_FLAGS[@]}"
  TPID=$HPID
  wait_ping "$TPORT"
}
stop_target() {
  [ "$TPID" != "$RPID" ] && stop_pid "$TPID"
  stop_pid "$RPID"
}

note() { # case target text: a line for the details
  printf '{"case":"%s","target":"%s","note":"%s"}\n' "$1" "$2" "$3" >>"$RESULTS"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Ctrl-C or SIGTERM: stop the case running (timeout put it and the helper
# processes it forked in a process group of their own, out of reach of the
# terminal's signal), then lib.sh's EXIT trap stops the servers.
CHILD=
trap 'if [ -n "$CHILD" ]; then kill -TERM -- "-$CHILD" 2>/dev/null; fi; exit 130' INT TERM

# run_case CASE TARGET SECONDS: one hostile.py run, killed (with its helper
# processes: timeout signals its whole process group) if it overruns.
run_case() {
  local up=() rc=0
  [ "$2" = hotcache ] && up=(--upstream-pid "$RPID")
  timeout -k 5 "$3" python3 scripts/hostile.py run "$1" --target "$2" --port "$TPORT" --pid "$TPID" \
    --redis-port "$RPORT" "${up[@]}" --out "$RESULTS" &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "  $1 on $2: timed out after $3 s"
    printf '{"case":"%s","target":"%s","aborted":"timed out after %s s"}\n' "$1" "$2" "$3" >>"$RESULTS"
  elif [ "$rc" -ne 0 ]; then
    echo "  $1 on $2: hostile.py failed (exit $rc)"
    printf '{"case":"%s","target":"%s","aborted":"hostile.py failed (exit %s)"}\n' "$1" "$2" "$rc" >>"$RESULTS"
  fi
  # Does the server still answer once the hostile client is gone? (Say how
  # long it took if not at once; the next case gets a fresh one either way.)
  if ! kill -0 "$TPID" 2>/dev/null; then
    note "$1" "$2" "the server process was gone after the case"
  elif ! ping_ok "$TPORT"; then
    local t0 back=
    t0=$(now_ms)
    while (($(now_ms) - t0 < 30000)); do
      if ping_ok "$TPORT"; then back=$(($(now_ms) - t0)); break; fi
    done
    if [ -n "$back" ]; then
      note "$1" "$2" "no PONG within 2 s after the case; answered again $((back + 2000)) ms after the case"
    else
      note "$1" "$2" "no PONG within 2 s after the case, nor in the 30 s after"
    fi
  fi
}

echo "== hostile clients: $(redis-server --version | cut -d' ' -f3), hotcache ${HC_FLAGS[*]}"
for spec in nonreader:45 pubsub:45 deep:45; do
  for target in hotcache redis; do
    start_target "$target"
    run_case "${spec%%:*}" "$target" "${spec##*:}"
    stop_target
  done
done

# SCRIPT KILL: five tries on one server; each try ends with SCRIPT KILL sent
# straight to Redis, and a hotcache that stopped answering is replaced, so
# that one failed try does not decide the next.
for target in hotcache redis; do
  start_target "$target"
  for _ in 1 2 3 4 5; do
    if [ "$target" = hotcache ] && ! ping_ok "$TPORT"; then
      note kill hotcache "hotcache did not answer PING before a try: restarted"
      stop_pid "$TPID"
      start_hotcache_now
    fi
    run_case kill "$target" 30
  done
  stop_target
done

for target in hotcache redis; do
  start_target "$target"
  run_case mget "$target" 150
  stop_target
done

python3 scripts/hostile.py table "$RESULTS"
[ -n "${HOSTILE_RESULTS:-}" ] && cp "$RESULTS" "$HOSTILE_RESULTS"
exit 0

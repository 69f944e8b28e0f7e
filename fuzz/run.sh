#!/usr/bin/env bash
# Runs every fuzz target for a while and prints its speed.
#
#   fuzz/run.sh [seconds] [libFuzzer flags...]     (default 60 s per target)
#   TARGETS="command_layer" fuzz/run.sh 600         (only some targets)
#
# Extra flags go to libFuzzer, e.g. `fuzz/run.sh 60 -fork=1 -ignore_crashes=1`
# to keep going past a known crash.
#
# Uses `cargo fuzz` on stable (`cargo install cargo-fuzz`), no sanitizer (-s none)
# and debug assertions on (-a) so integer overflow panics. New inputs go to
# fuzz/corpus/<target>/ (ignored by git); fuzz/corpus/seed/<target>/ is read too.
# A crash is written to fuzz/artifacts/<target>/; replay it with
#   cargo fuzz run -s none -a <target> fuzz/artifacts/<target>/<file>
# and, once fixed, keep it in fuzz/regressions/<target>/, which is replayed first.
set -euo pipefail

secs=${1:-60}
shift $(( $# > 0 ? 1 : 0 ))
cd "$(dirname "$0")"
read -r -a targets <<<"${TARGETS:-request_parser reply_framer command_layer}"
status=0
declare -A speed

cargo fuzz build -s none -a 2>&1 | tail -n 1
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    log=$(mktemp)
    # Inputs that once crashed a target: replayed first, each on its own.
    for r in regressions/"$t"/*; do
        [ -f "$r" ] || continue
        if ! cargo fuzz run -s none -a "$t" "$r" >"$log" 2>&1; then
            echo "== $t: regression $r still fails:"
            grep -A1 -m1 "panicked at" "$log" || tail -n 5 "$log"
            status=1
        fi
    done
    echo "== $t: ${secs}s"
    if cargo fuzz run -s none -a "$t" "corpus/$t" "corpus/seed/$t" -- \
        -max_total_time="$secs" -dict=resp.dict -print_final_stats=1 "$@" >"$log" 2>&1; then
        result=ok
    else
        result="CRASH (see fuzz/artifacts/$t/)"
        status=1
        grep -E "panicked|Test unit written|Base64" "$log" || tail -n 20 "$log"
    fi
    runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
    rate=$(grep -oE '^stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 || true)
    speed[$t]="$rate exec/s, $runs runs, $cov, $result"
    rm -f "$log"
done
echo
for t in "${targets[@]}"; do
    echo "$t: ${speed[$t]}"
done
exit $status

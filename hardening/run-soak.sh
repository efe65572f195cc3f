#!/usr/bin/env bash
# The adversarial suite with the long sizes (issue 8's full figures): 500 slowloris sockets at
# the default 10 s handshake deadline, 1,000,000 pings, 100,000 broadcasts, a 10-minute churn,
# 1,000 clients at shutdown, and so on (see docs/hardening.md). `make test` runs the same tests
# with the short sizes. Each test prints its figures; they are shown here (--nocapture), one
# test at a time so that the figures are not interleaved and the tests do not compete.
#
# Usage: hardening/run-soak.sh [TEST-FILE ...]   (e.g. churn slowloris; default: all)
# Needs `ulimit -n` of at least 8192 (the soak opens a few thousand sockets on each side).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 8192 ]; then
    ulimit -n 8192 2>/dev/null || {
        echo "run-soak.sh: ulimit -n is $(ulimit -n); raise it to 8192 or more" >&2
        exit 1
    }
fi

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    tests=(slowloris header_flood conn_flood fd_exhaustion frame_bombs ping_flood
           stalled_reader pipelined_echo slow_handler invalid_bytes tls_attacks handler_faults abrupt
           shutdown churn)
fi
args=()
for t in "${tests[@]}"; do args+=(--test "$t"); done

export TERN_SOAK=1
start=$(date +%s)
$CARGO test -p hardening --no-fail-fast "${args[@]}" -- --nocapture --test-threads=1
echo "soak: ${#tests[@]} attack files passed in $(( $(date +%s) - start )) s"

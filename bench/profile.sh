#!/usr/bin/env bash
# bench/profile.sh — where a server's time goes under one load (issue 7's profiling step).
#
#   bench/profile.sh 'SERVER-COMMAND-WITH-{PORT}' LOADGEN-SCENARIO [LOADGEN-ARGS...]
#   e.g. bench/profile.sh 'target/release/examples/chat {PORT}' fanout --members 1000 --size 64
#        bench/profile.sh 'target/release/examples/echo {PORT}' echo --conns 64 --size 32
#
# Starts the server on a free loopback port, counts its syscalls per kind and its context
# switches with `perf stat` while the load generator runs, then samples it with
# `perf record -g` under the same load and prints the top symbols. Needs perf (linux-perf)
# and a built bench workspace (CARGO_TARGET_DIR as for run.sh). Output goes to stdout and
# to $OUT (default bench/results/profile).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
LOADGEN=$CARGO_TARGET_DIR/release/loadgen
OUT=${OUT:-$ROOT/bench/results/profile}
[ $# -ge 2 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
command -v perf >/dev/null || { echo "profile.sh: perf not found (apt-get install linux-perf)" >&2; exit 1; }
[ -x "$LOADGEN" ] || { echo "profile.sh: build the bench workspace first ($LOADGEN)" >&2; exit 1; }
SERVER=$1
shift
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
EVENTS='syscalls:sys_enter_sendto,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_poll,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex,context-switches,task-clock'

run_under() { # MODE: stat | record
    local mode=$1 port=$((30000 + RANDOM % 2000))
    shift
    local cmd=${SERVER//\{PORT\}/$port}
    # shellcheck disable=SC2086 # a program and plain words
    $cmd >"$OUT/server.log" 2>&1 &
    local pid=$!
    "$LOADGEN" wait --port "$port" --timeout 20
    if [ "$mode" = stat ]; then
        perf stat -e "$EVENTS" -p "$pid" -o "$OUT/stat.txt" &
    else
        perf record -F 999 -g -p "$pid" -o "$OUT/perf.data" >"$OUT/record.log" 2>&1 &
    fi
    local perf_pid=$!
    sleep 0.3
    "$LOADGEN" "$@" --port "$port" --pid "$pid" --server profiled >"$OUT/$mode.json" || true
    cat "$OUT/$mode.json"
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

run_under stat "$@"
ops=$(grep -o '"\(round_trips\|deliveries\|connections\)":[0-9]*' "$OUT/stat.json" | head -n 1 | cut -d: -f2)
echo "== per operation (${ops:-?} operations), from perf stat:"
awk -v ops="${ops:-0}" '/syscalls:|context-switches/ {
    gsub(",", "", $1); printf "  %-40s %12s  %.3f per op\n", $2, $1, (ops > 0 ? $1 / ops : 0) }' "$OUT/stat.txt"
run_under record "$@" >/dev/null
echo "== top symbols (perf record -g, self time):"
perf report -i "$OUT/perf.data" --no-children --stdio --sort symbol 2>/dev/null |
    grep -E '^ +[0-9]' | head -n 25 | tee "$OUT/top.txt"

#!/usr/bin/env bash
# bench/run.sh — tern's WebSocket servers against the peers (issue 7).
#
# Builds everything in release, then for every round and every case starts each server in
# turn (A B C A B C ...), runs the load generator against it, stops it. Prints a table of
# medians and ratios (tern / the faster peer), writes bench/results/latest.{json,md} and
# renders docs/perf-echo.png. Servers that are not built yet (tern native: the bridge
# examples; tern on the VM: target/release/tern and examples/*.tern) are skipped with a note.
#
# Knobs (environment): ROUNDS=3 ECHO_SECS=4 WARMUP_SECS=1 IDLE_CONNS=5000 IDLE_SECS=10
#   CHURN_SECS=10 CHURN_CONNS=32 FANOUT_MEMBERS=1000 FANOUT_MESSAGES=200 THREADS=$(nproc)
#   CASES="echo fanout idle churn wss" SERVERS="tokio-tungstenite fastwebsockets tern tern-vm"
#   SKIP_BUILD=1 (use what is built) ALLOW_STALE=1 (if tern's crates do not build right now,
#   use binaries from an earlier build, and say so) PNG=docs/perf-echo.png OUT=bench/results
#   CARGO_TARGET_DIR (default: target/ at the repository root).
# Only 127.0.0.1 is used; every wait is bounded.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
REL=$CARGO_TARGET_DIR/release
CARGO=${CARGO:-cargo}

ROUNDS=${ROUNDS:-3}
ECHO_SECS=${ECHO_SECS:-4}
WARMUP_SECS=${WARMUP_SECS:-1}
IDLE_CONNS=${IDLE_CONNS:-5000}
IDLE_SECS=${IDLE_SECS:-10}
CHURN_SECS=${CHURN_SECS:-10}
CHURN_CONNS=${CHURN_CONNS:-32}
FANOUT_MEMBERS=${FANOUT_MEMBERS:-1000}
FANOUT_MESSAGES=${FANOUT_MESSAGES:-200}
THREADS=${THREADS:-$(nproc)}
CASES=${CASES:-"echo fanout idle churn wss"}
SERVERS=${SERVERS:-"tokio-tungstenite fastwebsockets tern tern-vm"}
PEERS="tokio-tungstenite fastwebsockets"
OUT=${OUT:-$BENCH/results}
PNG=${PNG:-$ROOT/docs/perf-echo.png}
LOGS=$OUT/logs
RAW=$OUT/latest.raw.jsonl
CMDS=$OUT/latest.commands.txt

note() { echo "run.sh: $*" >&2; }

mkdir -p "$OUT" "$LOGS"
: >"$RAW"
: >"$CMDS"

# 5,000 idle sockets need 5,000 fds in the server and as many in the load generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$((IDLE_CONNS + 1000))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    note "ulimit -n is $(ulimit -n), below the $need the idle case needs; lowering IDLE_CONNS"
    IDLE_CONNS=$(($(ulimit -n) - 1000))
fi

# ---------------------------------------------------------------- build
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    note "building the peers, the load generator and the report tool (release)"
    "$CARGO" build --release --manifest-path "$BENCH/Cargo.toml"
fi
for b in loadgen report gencert tt_echo tt_chat tt_wss_echo fws_echo fws_chat; do
    [ -x "$REL/$b" ] || { note "missing $REL/$b (build failed?)"; exit 1; }
done
LOADGEN=$REL/loadgen

HAVE_TERN=0
HAVE_VM=0
STALE=""
if [[ " $SERVERS " == *" tern "* ]]; then
    if [ "${SKIP_BUILD:-0}" = 1 ] ||
        (cd "$ROOT" && "$CARGO" build --release -p bridge --examples) >"$LOGS/build-bridge.log" 2>&1; then
        if [ -x "$REL/examples/echo" ] && [ -x "$REL/examples/chat" ]; then
            HAVE_TERN=1
        else
            note "tern native SKIPPED: the bridge examples echo/chat are not built yet ($REL/examples/)"
        fi
    else
        note "'cargo build --release -p bridge --examples' failed; see $LOGS/build-bridge.log:"
        tail -n 5 "$LOGS/build-bridge.log" | sed 's/^/    /' >&2
        if [ "${ALLOW_STALE:-0}" = 1 ] && [ -x "$REL/examples/echo" ] && [ -x "$REL/examples/chat" ]; then
            note "tern native: ALLOW_STALE=1, using the examples from an EARLIER build"
            HAVE_TERN=1
            STALE="$STALE tern"
        else
            note "tern native SKIPPED (ALLOW_STALE=1 would use an earlier build if there is one)"
        fi
    fi
fi
ECHO_TERN=""
CHAT_TERN=""
TLS_TERN=""
for d in "$ROOT/examples" "$ROOT/crates/vm/examples"; do
    if [ -z "$ECHO_TERN" ] && [ -f "$d/echo.tern" ]; then ECHO_TERN=$d/echo.tern; fi
    if [ -z "$CHAT_TERN" ] && [ -f "$d/chat.tern" ]; then CHAT_TERN=$d/chat.tern; fi
    if [ -z "$TLS_TERN" ] && [ -f "$d/tls_echo.tern" ]; then TLS_TERN=$d/tls_echo.tern; fi
done
if [[ " $SERVERS " == *" tern-vm "* ]]; then
    if [ "${SKIP_BUILD:-0}" = 1 ] ||
        (cd "$ROOT" && "$CARGO" build --release -p vm --bin tern) >"$LOGS/build-vm.log" 2>&1; then
        if [ -x "$REL/tern" ] && [ -n "$ECHO_TERN" ] && [ -n "$CHAT_TERN" ]; then
            HAVE_VM=1
        else
            note "tern VM SKIPPED: needs $REL/tern and examples/echo.tern + examples/chat.tern"
        fi
    else
        note "'cargo build --release -p vm --bin tern' failed; see $LOGS/build-vm.log:"
        tail -n 5 "$LOGS/build-vm.log" | sed 's/^/    /' >&2
        if [ "${ALLOW_STALE:-0}" = 1 ] && [ -x "$REL/tern" ] && [ -n "$ECHO_TERN" ] && [ -n "$CHAT_TERN" ]; then
            note "tern VM: ALLOW_STALE=1, using target/release/tern from an EARLIER build"
            HAVE_VM=1
            STALE="$STALE tern-vm"
        else
            note "tern VM SKIPPED (ALLOW_STALE=1 would use an earlier build if there is one)"
        fi
    fi
fi

ACTIVE=()
for s in $SERVERS; do
    case $s in
    tern) [ "$HAVE_TERN" = 1 ] && ACTIVE+=("$s") ;;
    tern-vm) [ "$HAVE_VM" = 1 ] && ACTIVE+=("$s") ;;
    *) ACTIVE+=("$s") ;;
    esac
done
note "servers: ${ACTIVE[*]}"

CERT=$OUT/cert.pem
KEY=$OUT/key.pem
"$REL/gencert" "$CERT" "$KEY"

# The command that serves KIND (echo | chat | wss) for SERVER on PORT; empty if none.
server_cmd() {
    local server=$1 kind=$2 port=$3
    case $server/$kind in
    tokio-tungstenite/echo) echo "$REL/tt_echo $port" ;;
    tokio-tungstenite/chat) echo "$REL/tt_chat $port" ;;
    tokio-tungstenite/wss) echo "$REL/tt_wss_echo $port $CERT $KEY" ;;
    fastwebsockets/echo) echo "$REL/fws_echo $port" ;;
    fastwebsockets/chat) echo "$REL/fws_chat $port" ;;
    tern/echo) echo "$REL/examples/echo $port" ;;
    tern/chat) echo "$REL/examples/chat $port" ;;
    tern/wss) [ -x "$REL/examples/tls_echo" ] && echo "$REL/examples/tls_echo $port $CERT $KEY" ;;
    tern-vm/echo) echo "$REL/tern run $ECHO_TERN $port" ;;
    tern-vm/chat) echo "$REL/tern run $CHAT_TERN $port" ;;
    tern-vm/wss) [ -n "$TLS_TERN" ] && echo "$REL/tern run $TLS_TERN $port $CERT $KEY" ;;
    *) ;;
    esac
}

PORT_SEQ=0
next_port() {
    PORT_SEQ=$(((PORT_SEQ + 1) % 9000))
    PORT=$((20000 + PORT_SEQ))
}

stop_server() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# run_one SERVER KIND ROUND LOADGEN-ARGS...: one server process, one measurement.
run_one() {
    local server=$1 kind=$2 round=$3
    shift 3
    local cmd
    next_port
    cmd=$(server_cmd "$server" "$kind" "$PORT" || true)
    [ -n "$cmd" ] || return 0
    # shellcheck disable=SC2086 # the command is a program and plain words
    $cmd >>"$LOGS/$server-$kind.log" 2>&1 &
    local pid=$!
    if ! "$LOADGEN" wait --port "$PORT" --timeout 20; then
        note "$server ($kind) did not start; see $LOGS/$server-$kind.log"
        stop_server "$pid"
        return 0
    fi
    local args=("$@" --port "$PORT" --server "$server" --round "$round" --threads "$THREADS" --pid "$pid")
    echo "$cmd  &&  loadgen ${args[*]}" >>"$CMDS"
    if ! "$LOADGEN" "${args[@]}" >>"$RAW" 2>>"$LOGS/loadgen.log"; then
        note "loadgen failed for $server ($kind): see $LOGS/loadgen.log"
    fi
    tail -n 1 "$LOGS/loadgen.log" 2>/dev/null | grep -q WARNING && note "$(tail -n 1 "$LOGS/loadgen.log")"
    stop_server "$pid"
}

START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
    for case_ in $CASES; do
        note "round $round/$ROUNDS: $case_"
        case $case_ in
        echo)
            for spec in "1 32" "64 32" "1 16384" "64 16384"; do
                read -r c size <<<"$spec"
                for s in "${ACTIVE[@]}"; do
                    run_one "$s" echo "$round" echo --conns "$c" --size "$size" \
                        --warmup "$WARMUP_SECS" --duration "$ECHO_SECS"
                done
            done
            ;;
        fanout)
            for s in "${ACTIVE[@]}"; do
                run_one "$s" chat "$round" fanout --members "$FANOUT_MEMBERS" \
                    --messages "$FANOUT_MESSAGES" --size 64
            done
            ;;
        idle)
            for s in "${ACTIVE[@]}"; do
                run_one "$s" echo "$round" idle --conns "$IDLE_CONNS" --hold "$IDLE_SECS"
            done
            ;;
        churn)
            for s in "${ACTIVE[@]}"; do
                run_one "$s" echo "$round" churn --conns "$CHURN_CONNS" --duration "$CHURN_SECS"
            done
            ;;
        wss)
            for s in "${ACTIVE[@]}"; do
                run_one "$s" wss "$round" echo --tls 1 --conns 64 --size 32 \
                    --warmup "$WARMUP_SECS" --duration "$ECHO_SECS"
            done
            ;;
        *) note "unknown case $case_" ;;
        esac
    done
done
END=$(date -u +%Y-%m-%dT%H:%M:%SZ)

IFS=,
SERVER_LIST="${ACTIVE[*]}"
unset IFS
"$REL/report" --raw "$RAW" --servers "$SERVER_LIST" --peers "${PEERS// /,}" \
    --json "$OUT/latest.json" --md "$OUT/latest.md" --png "$PNG" \
    --meta "started=$START" --meta "finished=$END" --meta "rounds=$ROUNDS" \
    --meta "nproc=$(nproc)" \
    --meta "cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)" \
    --meta "kernel=$(uname -r)" \
    --meta "rustc=$(rustc --version 2>/dev/null || echo unknown)" \
    --meta "git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --meta "loadavg_start=$LOAD_START" --meta "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" \
    --meta "loadgen_threads=$THREADS" --meta "stale_builds=${STALE# }" \
    --meta "skipped=$([ "$HAVE_TERN" = 1 ] || printf 'tern ')$([ "$HAVE_VM" = 1 ] || printf 'tern-vm')"
note "wrote $OUT/latest.json, $OUT/latest.md, $PNG (commands: $CMDS)"

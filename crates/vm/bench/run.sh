#!/usr/bin/env bash
# The VM's benchmarks against Erlang/OTP (what `make bench-vm` runs): fib(30), a
# 10,000-process ring x 100 laps, 100,000 ping-pong round trips and 100,000 processes
# waiting in receive at once (spawned, woken, answered), each written in tern (fib.tern,
# ring.tern, pingpong.tern, procs.tern) and in Erlang (vm_bench.escript), run interleaved for
# ROUNDS rounds (default 3). Prints every measurement as a JSON line (procs also with the
# peak RSS of the tern process), then a table of medians and ratios. Every figure is
# measured in this run; other load on the machine skews them (the load average is printed).
#
#   crates/vm/bench/run.sh
#   ROUNDS=5 crates/vm/bench/run.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
rounds=${ROUNDS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

cargo build --quiet --release -p vm --bin tern --manifest-path "$root/Cargo.toml"
tern="$CARGO_TARGET_DIR/release/tern"

if ! command -v escript >/dev/null 2>&1; then
    echo "escript not found: installing erlang-base" >&2
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq erlang-base >/dev/null
fi

benches=("fib 30" "ring 10000 100" "pingpong 100000" "procs 100000")
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT

echo "# $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$rounds"); do
    for b in "${benches[@]}"; do
        name=${b%% *}
        args=${b#* }
        if [ "$name" = procs ] && [ -x /usr/bin/time ]; then
            # shellcheck disable=SC2086 # the arguments are meant to split
            /usr/bin/time -f "# procs: tern peak RSS %M KB" "$tern" run "$here/$name.tern" $args 2>&1 | tee -a "$raw"
                    else
            # shellcheck disable=SC2086 # the arguments are meant to split
            "$tern" run "$here/$name.tern" $args | tee -a "$raw"
        fi
        # shellcheck disable=SC2086
        escript "$here/vm_bench.escript" $name $args | tee -a "$raw"
    done
    echo "# round $round of $rounds done; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
done

field() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print v[(NR+1)/2]} else {print (v[NR/2]+v[NR/2+1])/2}}'; }
pick() { grep "\"runtime\":\"$1\"" "$raw" | grep "\"bench\":\"$2\"" | field value | median; }

echo
echo "| bench | tern VM, ms (median) | Erlang/OTP, ms (median) | tern / Erlang |"
echo "|---|---|---|---|"
for b in "${benches[@]}"; do
    name=${b%% *}
    t=$(pick tern "$name")
    e=$(pick erlang "$name")
    ratio=$(awk -v t="$t" -v e="$e" 'BEGIN { if (e > 0) printf "%.2f", t / e; else print "n/a" }')
    echo "| $b | $t | $e | $ratio |"
done

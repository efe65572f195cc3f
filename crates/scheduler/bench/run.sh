#!/usr/bin/env bash
# The scheduler's benchmarks against Erlang/OTP (what `make bench-actors` runs).
#
# Builds the release `actor-bench`, installs Debian's erlang-base if `escript` is missing,
# runs every benchmark on tern and on the BEAM interleaved for ROUNDS rounds (default 3),
# prints each JSON line as it comes, then a table of medians and ratios.
#
#   crates/scheduler/bench/run.sh            # 3 rounds
#   ROUNDS=5 crates/scheduler/bench/run.sh
#   OUT=results.jsonl crates/scheduler/bench/run.sh   # also keep the raw lines
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
rounds=${ROUNDS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

cargo build --quiet --release -p scheduler --bin actor-bench --manifest-path "$root/Cargo.toml"
tern="$CARGO_TARGET_DIR/release/actor-bench"

if ! command -v escript >/dev/null 2>&1; then
    echo "escript not found: installing erlang-base" >&2
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq erlang-base >/dev/null
fi
erlang=("escript" "$here/erlang/actor_bench.escript")

benches=("spawn 1000000" "ring 10000 100" "pingpong 1000000" "fanout 10000 100" "timers 100000")
raw=${OUT:-$(mktemp)}
: >"$raw"

echo "# $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
for round in $(seq 1 "$rounds"); do
    for b in "${benches[@]}"; do
        # shellcheck disable=SC2086 # the benchmark's arguments are meant to split
        "$tern" $b | tee -a "$raw"
        # shellcheck disable=SC2086
        "${erlang[@]}" $b | tee -a "$raw"
    done
    echo "# round $round of $rounds done; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
done

# field NAME: the value of a numeric JSON field on each line of stdin.
field() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"; }
# median of numbers on stdin.
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print v[(NR+1)/2]} else {print (v[NR/2]+v[NR/2+1])/2}}'; }
pick() { grep "\"runtime\":\"$1\"" "$raw" | grep "\"bench\":\"$2\"" | field "$3" | median; }

echo
echo "| bench | unit | tern (median) | Erlang/OTP (median) | tern / Erlang | target |"
echo "|---|---|---|---|---|---|"
for b in "${benches[@]}"; do
    name=${b%% *}
    unit=$(grep "\"bench\":\"$name\"" "$raw" | head -1 | sed -n 's/.*"unit":"\([^"]*\)".*/\1/p')
    t=$(pick tern "$name" value)
    e=$(pick erlang "$name" value)
    case $name in
        spawn) target="<= 0.5 (cost)" ;;
        timers) target="(wall time, lower is better)" ;;
        *) target=">= 2 (throughput)" ;;
    esac
    awk -v b="$b" -v u="$unit" -v t="$t" -v e="$e" -v g="$target" \
        'BEGIN {printf "| %s | %s | %.4g | %.4g | %.2f | %s |\n", b, u, t, e, (e > 0 ? t / e : 0), g}'
done
t=$(pick tern spawn bytes_per_actor)
e=$(pick erlang spawn bytes_per_actor)
awk -v t="$t" -v e="$e" \
    'BEGIN {printf "| spawn: idle actor | bytes (RSS/N) | %.0f | %.0f | %.2f | tern <= 1024 |\n", t, e, (e > 0 ? t / e : 0)}'
if [ -z "${OUT:-}" ]; then rm -f "$raw"; fi

# Sourced by crates/*/fuzz/run.sh: the shared part of running cargo-fuzz targets.
#
# fuzz_targets SECS "READ_ONLY_DIRS" "EXTRA_LIBFUZZER_FLAGS" TARGET...
# Runs each TARGET for SECS seconds, one job at a time (the machine is shared), from the
# current fuzz crate directory: corpus/TARGET is written to; seeds/TARGET and READ_ONLY_DIRS
# are only read. Prints a line per target (executions, corpus size, findings) and a summary;
# returns non-zero if a target failed or left a crashing input in artifacts/TARGET/.
# Needs cargo-fuzz (installed from crates.io when missing) and a C++ compiler. The toolchain
# is stable: RUSTC_BOOTSTRAP=1 unlocks the nightly flags cargo-fuzz passes.
fuzz_targets() {
    local secs="$1" dirs="$2" flags="$3"
    shift 3
    if ! command -v cargo-fuzz >/dev/null 2>&1; then
        echo "cargo-fuzz not found: installing it from crates.io" >&2
        cargo install cargo-fuzz || return 1
    fi
    export RUSTC_BOOTSTRAP=1
    local status=0 summary="" t log rc runs corpus crashes line
    for t in "$@"; do
        mkdir -p "corpus/$t" "artifacts/$t"
        log="artifacts/$t.log"
        echo "== fuzzing $t for ${secs}s" >&2
        # shellcheck disable=SC2086 # dirs and flags are word lists
        cargo fuzz run "$t" "corpus/$t" "seeds/$t" $dirs -- \
            -max_total_time="$secs" -print_final_stats=1 $flags \
            -artifact_prefix="artifacts/$t/" >"$log" 2>&1
        rc=$?
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
        corpus=$(find "corpus/$t" -type f | wc -l)
        crashes=$(find "artifacts/$t" -type f | wc -l)
        line="$t: exit=$rc executions=${runs:-?} corpus=$corpus artifacts=$crashes"
        echo "$line"
        summary+="$line"$'\n'
        if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
            status=1
            tail -40 "$log" >&2
        fi
    done
    printf '\nfuzz summary (%ss per target):\n%s' "$secs" "$summary"
    return $status
}

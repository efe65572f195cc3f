#!/usr/bin/env bash
# Runs the cargo-fuzz target of the vm crate (the parser, and the compiler on what parses)
# for SECONDS (default 60), one job (the machine is shared), starting from the committed
# seeds: seeds/parser/, the VM's test programs (../tests/programs) and the examples
# (../../../examples), with tern.dict for keywords and operators. Prints a summary
# (executions, corpus size, findings). Called by scripts/fuzz-all.sh.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`, from crates.io) and a C++ compiler. The
# toolchain is stable: RUSTC_BOOTSTRAP=1 unlocks the nightly flags cargo-fuzz passes.
# A crash leaves its input in artifacts/<target>/ and makes this script exit non-zero.
set -uo pipefail
SECS="${1:-60}"
cd "$(dirname "$0")"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "cargo-fuzz not found: installing it from crates.io" >&2
    cargo install cargo-fuzz || exit 1
fi
export RUSTC_BOOTSTRAP=1
TARGETS=(parser)
status=0
summary=""
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="artifacts/$t.log"
    echo "== fuzzing $t for ${SECS}s" >&2
    # corpus/$t is written to; the other directories are only read.
    cargo fuzz run "$t" "corpus/$t" "seeds/$t" ../tests/programs ../../../examples -- \
        -max_total_time="$SECS" -print_final_stats=1 -timeout=10 -dict=tern.dict \
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
printf '\nfuzz summary (%ss per target):\n%s' "$SECS" "$summary"
exit $status

#!/usr/bin/env bash
# Runs every cargo-fuzz target of tern for SECONDS each (default 60), one after the other
# (one job at a time: the machine is shared): the ws crate's frame decoder, handshake and
# fragments (crates/ws/fuzz/run.sh), then the VM's parser (crates/vm/fuzz/run.sh). Prints both
# summaries and exits non-zero if any target crashed; the crashing inputs are left in
# crates/<crate>/fuzz/artifacts/<target>/. What `make fuzz` calls with $(FUZZ_SECONDS).
set -uo pipefail
SECS="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
status=0
for crate in ws vm; do
    echo "== crates/$crate/fuzz/run.sh $SECS" >&2
    "$root/crates/$crate/fuzz/run.sh" "$SECS" || status=1
done
exit $status

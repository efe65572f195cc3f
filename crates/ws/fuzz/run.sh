#!/usr/bin/env bash
# Runs every cargo-fuzz target of the ws crate for SECONDS each (default 60), one job at a
# time (the machine is shared), starting from the committed seeds, and prints a summary
# (executions, corpus size, findings). Called by scripts/fuzz-all.sh (`make fuzz`).
# A crash leaves its input in artifacts/<target>/ and makes this script exit non-zero.
# The shared loop, and what it needs (cargo-fuzz, RUSTC_BOOTSTRAP), is scripts/fuzz-lib.sh.
set -uo pipefail
SECS="${1:-60}"
cd "$(dirname "$0")"
. ../../../scripts/fuzz-lib.sh
fuzz_targets "$SECS" "" "" frame_decoder handshake fragments

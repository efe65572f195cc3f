#!/usr/bin/env bash
# Runs the cargo-fuzz target of the vm crate (the parser, and the compiler on what parses)
# for SECONDS (default 60), one job (the machine is shared), starting from the committed
# seeds: seeds/parser/, the VM's test programs (../tests/programs) and the examples
# (../../../examples), with tern.dict for keywords and operators. Prints a summary
# (executions, corpus size, findings). Called by scripts/fuzz-all.sh (`make fuzz`).
# A crash leaves its input in artifacts/<target>/ and makes this script exit non-zero.
# The shared loop, and what it needs (cargo-fuzz, RUSTC_BOOTSTRAP), is scripts/fuzz-lib.sh.
set -uo pipefail
SECS="${1:-60}"
cd "$(dirname "$0")"
. ../../../scripts/fuzz-lib.sh
fuzz_targets "$SECS" "../tests/programs ../../../examples" "-timeout=10 -dict=tern.dict" parser

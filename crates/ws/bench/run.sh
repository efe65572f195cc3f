#!/usr/bin/env bash
# Codec benchmark: ws vs tungstenite (release build). Called by `make bench-codec`.
# Usage: crates/ws/bench/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/../../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
exec cargo bench -p ws --bench codec -- "$@"

#!/usr/bin/env bash
# Headless Chromium against the chat example (examples/chat.tern) over ws:// and wss://
# (see run.py). TERN_CHAT_SERVER / TERN_CHAT_TLS_SERVER may name other server commands (run.py
# appends `PORT`, and `PORT --tls CERT KEY`).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
"$root/scripts/ensure-chromium.sh"
bin="$("$root/scripts/venv.sh")"
if [[ -z "${TERN_CHAT_SERVER:-}" ]]; then
    # --workspace, not -p vm: the same feature set as `make unit`, so nothing is rebuilt.
    cargo build --quiet --workspace --bins
    target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
    export TERN_CHAT_SERVER="$target/debug/tern run $root/examples/chat.tern"
    export TERN_CHAT_TLS_SERVER="$TERN_CHAT_SERVER"
fi
exec "$bin/python" "$root/runtime-tests/browser/run.py"

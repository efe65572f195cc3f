#!/usr/bin/env bash
# Python `websockets` clients against the chat example. Usage: run.sh [pytest args...]
# TERN_CHAT_SERVER may name another server command (its port is appended as last argument).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$("$root/scripts/venv.sh")"
if [[ -z "${TERN_CHAT_SERVER:-}" ]]; then
    # --workspace, not -p bridge: the same feature set as `make unit`, so nothing is rebuilt.
    cargo build --quiet --workspace --examples
    export TERN_CHAT_SERVER="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/examples/chat"
fi
cd "$root/runtime-tests/python"
exec "$bin/pytest" -q -p no:cacheprovider "$@" test_clients.py

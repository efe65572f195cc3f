#!/usr/bin/env bash
# Headless Chromium against the chat server over ws:// and wss:// (see run.py).
# TERN_CHAT_SERVER / TERN_CHAT_TLS_SERVER name the server commands (port [cert key] appended).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
"$root/scripts/ensure-chromium.sh"
bin="$("$root/scripts/venv.sh")"
exec "$bin/python" "$root/runtime-tests/browser/run.py"

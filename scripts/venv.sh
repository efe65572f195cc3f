#!/usr/bin/env bash
# Creates (once) the project's Python venv in .venv with the third-party clients the tests use:
# websockets (a client nobody here wrote), pytest, and kosoku (the Autobahn TestSuite).
# Prints the venv's bin directory.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
want="websockets==17.* pytest==8.* kosoku==0.1.*"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv" >&2
fi
if [[ ! -f "$venv/.installed" ]] || [[ "$(cat "$venv/.installed")" != "$want" ]]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check $want >&2
    echo "$want" > "$venv/.installed"
fi
echo "$venv/bin"

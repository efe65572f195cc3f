#!/usr/bin/env bash
# Autobahn TestSuite cases 1.* to 10.* (through the PyPI package `kosoku`) against the
# bridge's echo example, release build. Fails unless every case is OK or INFORMATIONAL for
# both `behavior` and `behaviorClose`. Called by `make conformance`.
#
# kosoku comes from the project's venv (scripts/venv.sh), shared with the Python clients.
# Environment: CARGO (default cargo), CARGO_TARGET_DIR (default <repo>/target),
# CONFORMANCE_OUT (default $CARGO_TARGET_DIR/conformance-report).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cargo=${CARGO:-cargo}
target=${CARGO_TARGET_DIR:-$root/target}
out=${CONFORMANCE_OUT:-$target/conformance-report}

venv_bin=$("$root/scripts/venv.sh")

(cd "$root" && CARGO_TARGET_DIR="$target" "$cargo" build --quiet --release -p bridge --example echo)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$target/release/examples/echo" "$port" > "$target/conformance-echo.log" 2>&1 &
echo_pid=$!
trap 'kill "$echo_pid" 2>/dev/null || true; wait "$echo_pid" 2>/dev/null || true' EXIT

# Wait (bounded) until the server accepts connections.
for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), timeout=0.2)" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

rm -rf "$out"
args=()
# (The suite has no 8.* cases.)
for n in 1 2 3 4 5 6 7 9 10; do
    args+=(-i "$n.*")
done
set +e
"$venv_bin/kosoku" "${args[@]}" -o "$out" "127.0.0.1:$port"
kosoku_rc=$?
set -e

python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
index = None
for dirpath, _, files in os.walk(out):
    if "index.json" in files:
        index = os.path.join(dirpath, "index.json")
        break
if index is None:
    sys.exit(f"conformance: no index.json under {out}")
with open(index) as f:
    data = json.load(f)
good = {"OK", "INFORMATIONAL"}
counts, bad = {}, []
for agent, cases in data.items():
    for case, r in cases.items():
        for key in ("behavior", "behaviorClose"):
            v = r.get(key, "MISSING")
            counts[(key, v)] = counts.get((key, v), 0) + 1
            if v not in good:
                bad.append(f"{case} {key}={v}")
total = sum(len(c) for c in data.values())
print(f"conformance: {total} cases")
for (key, v), n in sorted(counts.items()):
    print(f"  {key:13} {v:14} {n}")
if total == 0:
    sys.exit("conformance: no case ran")
if bad:
    print("conformance: FAILED cases:")
    for b in sorted(bad):
        print("  " + b)
    sys.exit(1)
print(f"{total} passed, 0 failed")
PY
exit "$kosoku_rc"

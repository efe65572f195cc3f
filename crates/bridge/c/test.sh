#!/usr/bin/env bash
# Builds the C echo server against libbridge.a with `cc` and exercises it with a small
# Python client (standard library only): text and binary echo, a rejected path, a clean close.
# Environment: CARGO (default cargo), CARGO_TARGET_DIR (default <repo>/target), CC (default cc).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cargo=${CARGO:-cargo}
target=${CARGO_TARGET_DIR:-$root/target}
cc=${CC:-cc}
work=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        exec 3>&- 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The static library is built only here: as a default crate type it would be written (about
# 100 MB) by every build of the crate.
(cd "$root" && CARGO_TARGET_DIR="$target" "$cargo" rustc --quiet -p bridge --lib --crate-type staticlib)
"$cc" -std=c11 -Wall -Wextra -Werror -O1 -I "$here" "$here/echo.c" "$target/debug/libbridge.a" \
    -lpthread -ldl -lm -o "$work/echo"

# The server serves until its stdin closes: feed it from a fifo we hold open on fd 3.
mkfifo "$work/in"
"$work/echo" 0 < "$work/in" > "$work/port" 2> "$work/log" &
server_pid=$!
exec 3> "$work/in"
for _ in $(seq 1 100); do
    [ -s "$work/port" ] && break
    sleep 0.05
done
port=$(head -1 "$work/port")
[ -n "$port" ] || { echo "c/test.sh: the C server printed no port"; cat "$work/log"; exit 1; }

python3 - "$port" <<'PY'
import base64, os, socket, struct, sys
port = int(sys.argv[1])

def connect(path):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        if not b:
            break
        head += b
    return s, head.split(b"\r\n")[0].decode()

def send(s, opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    h = bytes([0x80 | opcode])
    h += bytes([0x80 | n]) if n < 126 else (bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else bytes([0x80 | 127]) + struct.pack(">Q", n))
    s.sendall(h + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise SystemExit("c/test.sh: connection closed early")
        b += c
    return b

def recv(s):
    b0, b1 = recv_exact(s, 2)
    n = b1 & 0x7F
    if n == 126: n = struct.unpack(">H", recv_exact(s, 2))[0]
    elif n == 127: n = struct.unpack(">Q", recv_exact(s, 8))[0]
    return b0 & 0x0F, recv_exact(s, n)

s, status = connect("/echo")
assert status.startswith("HTTP/1.1 101"), status
send(s, 1, "héllo from python".encode())
assert recv(s) == (1, "héllo from python".encode())
send(s, 2, bytes(range(256)) * 300)
assert recv(s) == (2, bytes(range(256)) * 300)
send(s, 8, struct.pack(">H", 1000) + b"done")
op, p = recv(s)
assert op == 8 and struct.unpack(">H", p[:2])[0] == 1000, (op, p)
s.close()

s, status = connect("/forbidden")
assert status.startswith("HTTP/1.1 403"), status
s.close()
s, status = connect("/echo?deny")
assert status.startswith("HTTP/1.1 401"), status
s.close()
print("c/test.sh: echo, binary, close and reject (by path and by query) OK")
PY

exec 3>&-
wait "$server_pid"
server_pid=""
grep -q "closed: 1000 done" "$work/log" || { echo "c/test.sh: on_close did not report 1000"; cat "$work/log"; exit 1; }
grep -q "stopped after 2 messages, 1 closes" "$work/log" || { echo "c/test.sh: unexpected counters"; cat "$work/log"; exit 1; }
echo "3 passed, 0 failed"

"""A real browser (Debian's headless Chromium) against tern's chat server, over ws:// and wss://.

Steps:
 1. make a throw-away CA and a server certificate for 127.0.0.1 with `openssl` (test-only
    material, in a temporary directory, never committed);
 2. start the chat server: $TERN_CHAT_SERVER with the port appended, and the TLS one:
    $TERN_CHAT_TLS_SERVER with `PORT --tls CERT KEY` appended;
 3. serve page.html over HTTP from this process; the page opens ws:// and wss:// to room
    "browser", says "ready", and waits for another client's broadcast;
 4. a Python `websockets` client in the same room answers each "ready" with "hello browser";
 5. Chromium (trusting the test certificate through --ignore-certificate-errors-spki-list) loads
    the page; the page POSTs its verdict to /result, which this script waits for.
Exit status 0 only when the page saw the broadcast on both sockets.
"""

import base64
import hashlib
import http.server
import os
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from servers import free_port, wait_listening  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEADLINE_S = 60


def make_cert(tmp):
    """A self-signed server certificate for 127.0.0.1; returns (cert, key, spki_hash)."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True)
    der = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"],
                         check=True, capture_output=True).stdout
    spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=der,
                          check=True, capture_output=True).stdout
    return cert, key, base64.b64encode(hashlib.sha256(spki).digest()).decode()


class Results:
    def __init__(self):
        self.cond = threading.Condition()
        self.body = None

    def put(self, body):
        with self.cond:
            self.body = body
            self.cond.notify_all()

    def wait(self, timeout):
        with self.cond:
            self.cond.wait_for(lambda: self.body is not None, timeout)
            return self.body


def http_server(results):
    page = open(os.path.join(HERE, "page.html"), "rb").read()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            results.put(self.rfile.read(length).decode("utf-8", "replace"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def answerer(url, ssl_context, stop, joined):
    """Sits in room "browser" and answers every "ready ..." with "hello browser". Sets
    `joined` once connected: the chat server joins the room before it sends the 101."""
    with connect(url, ssl=ssl_context, open_timeout=10) as ws:
        joined.set()
        while not stop.is_set():
            try:
                msg = ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            except ConnectionClosed:
                return
            if isinstance(msg, str) and msg.startswith("ready"):
                ws.send("hello browser")


def main():
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    tmp = tempfile.mkdtemp(prefix="tern-browser-")
    cert, key, spki = make_cert(tmp)
    port, tls_port = free_port(), free_port()
    procs = [
        subprocess.Popen(shlex.split(os.environ["TERN_CHAT_SERVER"]) + [str(port)],
                         stdout=subprocess.DEVNULL),
        subprocess.Popen(shlex.split(os.environ["TERN_CHAT_TLS_SERVER"]) +
                         [str(tls_port), "--tls", cert, key], stdout=subprocess.DEVNULL),
    ]
    stop = threading.Event()
    threads = []
    try:
        deadline = time.monotonic() + DEADLINE_S
        wait_listening(port, procs[0], deadline)
        wait_listening(tls_port, procs[1], deadline)
        client_tls = ssl.create_default_context(cafile=cert)
        ws_url = f"ws://127.0.0.1:{port}/room/browser"
        wss_url = f"wss://127.0.0.1:{tls_port}/room/browser"
        joined = [threading.Event(), threading.Event()]
        threads += [
            threading.Thread(target=answerer, args=(ws_url, None, stop, joined[0]), daemon=True),
            threading.Thread(target=answerer, args=(wss_url, client_tls, stop, joined[1]),
                             daemon=True),
        ]
        for t in threads:
            t.start()
        for j in joined:
            if not j.wait(max(0.0, deadline - time.monotonic())):
                raise SystemExit("FAIL: the Python client could not join the room")
        results = Results()
        http = http_server(results)
        page = f"http://127.0.0.1:{http.server_address[1]}/?ws={ws_url}&wss={wss_url}"
        browser = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp}/profile",
             f"--ignore-certificate-errors-spki-list={spki}", page],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(browser)
        body = results.wait(max(1.0, deadline - time.monotonic()))
        if body is None:
            raise SystemExit("FAIL: the page reported nothing within the deadline")
        print(body.strip())
        if not body.startswith("PASS 2"):
            raise SystemExit("FAIL: the page did not receive the broadcast on both sockets")
        print("browser: 1 passed, 0 failed")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

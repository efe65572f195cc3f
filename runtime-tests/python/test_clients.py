"""Python `websockets` (a client nobody here wrote) against tern's chat example.

The server is started by the fixture below from the binary named in $TERN_CHAT_SERVER (a
command line whose last argument is replaced by the port; see run.sh). Paths: /room/NAME joins
room NAME; any other path echoes.
"""

import os
import shlex
import subprocess
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from servers import free_port, wait_listening

DEADLINE = 10.0  # seconds: generous, nothing here should take more than milliseconds


@pytest.fixture(scope="module")
def url():
    cmd = shlex.split(os.environ["TERN_CHAT_SERVER"])
    port = free_port()
    proc = subprocess.Popen(cmd + [str(port)], stdout=subprocess.DEVNULL)
    try:
        wait_listening(port, proc, time.monotonic() + 60)
        yield f"ws://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_echo_text_and_binary(url):
    with connect(url + "/echo") as ws:
        ws.send("héllo")
        assert ws.recv(timeout=DEADLINE) == "héllo"
        ws.send(b"\x00\x01\xff")
        assert ws.recv(timeout=DEADLINE) == b"\x00\x01\xff"


def test_fragmented_send_is_reassembled(url):
    with connect(url + "/echo") as ws:
        ws.send(iter(["frag", "ment", "ed"]))
        assert ws.recv(timeout=DEADLINE) == "fragmented"
        ws.send(iter([b"\x01", b"\x02\x03"]))
        assert ws.recv(timeout=DEADLINE) == b"\x01\x02\x03"


def test_ping_gets_pong(url):
    with connect(url + "/echo") as ws:
        pong = ws.ping(b"are you there")
        assert pong.wait(DEADLINE), "no pong within the deadline"


@pytest.mark.parametrize("code", [1000, 3000, 4001])
def test_close_code_is_echoed(url, code):
    with connect(url + "/echo") as ws:
        ws.close(code, "bye")
        assert ws.close_code == code


def test_message_over_limit_gets_1009(url):
    with connect(url + "/echo", max_size=None) as ws:
        # The server may decide from the frame header and close while we are still sending.
        with pytest.raises(ConnectionClosed) as closed:
            ws.send(b"x" * (16 * 1024 * 1024 + 1))
            ws.recv(timeout=DEADLINE)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_room_broadcast_between_two_clients(url):
    with connect(url + "/room/py") as a, connect(url + "/room/py") as b:
        # Joining is done by the server on connect; a round of traffic proves both are in.
        a.send("from a")
        assert b.recv(timeout=DEADLINE) == "from a"
        b.send(b"\x07from b")
        assert a.recv(timeout=DEADLINE) == b"\x07from b"
        # The sender does not get its own message back.
        with pytest.raises(TimeoutError):
            a.recv(timeout=0.3)

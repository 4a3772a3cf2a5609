"""Bad input over raw sockets: the offending client gets nats-server's -ERR and is closed,
everyone else keeps working, and the server's memory stays bounded. Both servers."""

from __future__ import annotations

import contextlib
import os
import socket
import time

import nats
import psutil
import pytest

from orlop.testing import ServerProcess


def addr(proc: ServerProcess) -> tuple[str, int]:
    host, port = proc.url.removeprefix("nats://").rsplit(":", 1)
    return host, int(port)


def exchange(proc: ServerProcess, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` after INFO; return everything until the server closes (or goes quiet)."""
    with socket.create_connection(addr(proc)) as raw:
        raw.settimeout(timeout)
        assert raw.recv(4096).startswith(b"INFO ")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            raw.sendall(data)
        out = b""
        while True:
            try:
                chunk = raw.recv(65536)
            except ConnectionResetError:  # closed with our unread bytes still queued: a reset
                return out + b"<EOF>"
            except TimeoutError:
                return out
            if not chunk:
                return out + b"<EOF>"
            out += chunk


async def assert_server_works(proc: ServerProcess) -> None:
    nc = await nats.connect(proc.url)
    try:
        sub = await nc.subscribe("alive")
        await nc.publish("alive", b"yes")
        msg = await sub.next_msg(timeout=5)
        assert msg.data == b"yes"
    finally:
        await nc.close()


CONNECT = b'CONNECT {"verbose":false,"pedantic":false}\r\n'
HCONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'
UNKNOWN = b"-ERR 'Unknown Protocol Operation'\r\n<EOF>"
CONTROL = b"-ERR 'maximum control line exceeded'\r\n<EOF>"

CASES = {
    "garbage": (b"\x00\x01\x02\xffgarbage\r\n", UNKNOWN),
    "unknown op": (CONNECT + b"FOO bar\r\n", UNKNOWN),
    "control line": (CONNECT + b"PUB " + b"a" * 5000 + b" 2\r\n", CONTROL),
    "no crlf control line": (CONNECT + b"SUB " + b"b" * 8000, CONTROL),
    "max payload": (CONNECT + b"PUB foo 2000000\r\n", b"-ERR 'Maximum Payload Violation'\r\n<EOF>"),
    "max payload hpub": (HCONNECT + b"HPUB foo 12 1048589\r\n", b"-ERR 'Maximum Payload Violation'\r\n<EOF>"),
    "payload longer than said": (CONNECT + b"PUB foo 2\r\nhiXX\r\nPING\r\n", UNKNOWN),
    "bad size closes silently": (CONNECT + b"PUB foo abc\r\nhi\r\n", b"<EOF>"),
    "bad connect json closes silently": (b"CONNECT {bad\r\nPING\r\n", b"<EOF>"),
    "hpub without headers closes silently": (CONNECT + b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", b"<EOF>"),
    "no responders needs headers": (
        b'CONNECT {"verbose":false,"no_responders":true}\r\nPING\r\n',
        b"-ERR 'no responders requires headers support'\r\n<EOF>",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_input_gets_error_and_close(server: ServerProcess, case: str) -> None:
    data, want = CASES[case]
    other = await nats.connect(server.url)
    try:
        assert exchange(server, data) == want
        await other.flush(timeout=5)  # a bystander connection is untouched
        assert other.is_connected
    finally:
        await other.close()
    await assert_server_works(server)


INVALID_PUB = b"-ERR 'Invalid Publish Subject'\r\nPONG\r\n"
NON_FATAL = {
    "invalid sub subject": (b"SUB foo..bar 1\r\n", b"-ERR 'Invalid Subject'\r\nPONG\r\n"),
    "invalid sub wildcard": (b"SUB foo.>.bar 1\r\n", b"-ERR 'Invalid Subject'\r\nPONG\r\n"),
    "pedantic wildcard publish": (b"PUB foo.* 2\r\nhi\r\n", INVALID_PUB),
    "pedantic empty token publish": (b"PUB foo..bar 2\r\nhi\r\n", INVALID_PUB),
    "unsub unknown sid": (b"UNSUB 99\r\n", b"PONG\r\n"),
}


@pytest.mark.parametrize("case", list(NON_FATAL))
def test_non_fatal_errors_keep_the_connection(server: ServerProcess, case: str) -> None:
    op, want = NON_FATAL[case]
    with socket.create_connection(addr(server)) as raw:
        raw.settimeout(5)
        raw.recv(4096)
        raw.sendall(b'CONNECT {"verbose":false,"pedantic":true}\r\n' + op + b"PING\r\n")
        data = b""
        while not data.endswith(b"PONG\r\n"):
            data += raw.recv(4096)
        assert data == want
        raw.sendall(b"PING\r\n")
        assert raw.recv(4096) == b"PONG\r\n"


def rss(proc: ServerProcess) -> int:
    assert proc.proc is not None
    return int(psutil.Process(proc.proc.pid).memory_info().rss)


async def test_rss_bounded_under_100mb_of_garbage(server: ServerProcess) -> None:
    await assert_server_works(server)
    base = rss(server)
    junk = os.urandom(1 << 20)
    peak = base
    # 50 MB of random bytes, reconnecting whenever the server hangs up on us.
    sent = 0
    while sent < 50 * (1 << 20):
        with socket.create_connection(addr(server)) as raw:
            raw.settimeout(5)
            raw.recv(4096)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                raw.sendall(junk)
        sent += len(junk)
        peak = max(peak, rss(server))
    # 50 MB more as well-formed PUBs with garbage payloads nobody subscribes to.
    with socket.create_connection(addr(server)) as raw:
        raw.settimeout(10)
        raw.recv(4096)
        raw.sendall(CONNECT)
        frame = b"PUB void 1000000\r\n" + junk[:1000000] + b"\r\n"
        start = time.monotonic()
        for _ in range(50):
            raw.sendall(frame)
            peak = max(peak, rss(server))
        raw.sendall(b"PING\r\n")
        data = b""
        while not data.endswith(b"PONG\r\n"):
            data += raw.recv(4096)
        assert time.monotonic() - start < 60
    peak = max(peak, rss(server))
    assert peak - base < 64 * (1 << 20), f"RSS grew by {(peak - base) >> 20} MiB"
    await assert_server_works(server)

"""Byte-exact protocol exchanges over raw sockets, identical on Orlop and nats-server."""

from __future__ import annotations

import socket

import pytest

from orlop.testing import ServerProcess

NR = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'
NR_NO_ECHO = NR.replace(b"}", b',"echo":false}')
PLAIN = b'CONNECT {"verbose":false,"pedantic":false}\r\n'
STATUS_503 = b"HMSG _INBOX.x.1 2 35 35\r\nNATS/1.0 503\r\nNats-Subject: req\r\n\r\n\r\n"

CASES = {
    "no responders": (
        NR + b"SUB _INBOX.x.* 2\r\nPUB req _INBOX.x.1 2\r\nhi\r\nPING\r\n",
        STATUS_503 + b"PONG\r\n",
    ),
    "no responders without reply sub": (NR + b"PUB req _INBOX.x.1 2\r\nhi\r\nPING\r\n", b"PONG\r\n"),
    "no responders not to a queue sub": (
        NR + b"SUB _INBOX.x.* q 2\r\nPUB req _INBOX.x.1 2\r\nhi\r\nPING\r\n",
        b"PONG\r\n",
    ),
    "echo off: own sub is no responder": (
        NR_NO_ECHO + b"SUB req 1\r\nSUB _INBOX.x.* 2\r\nPUB req _INBOX.x.1 2\r\nhi\r\nPING\r\n",
        STATUS_503 + b"PONG\r\n",
    ),
    "hpub request": (
        NR + b"SUB _INBOX.x.* 2\r\nHPUB req _INBOX.x.1 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n",
        STATUS_503 + b"PONG\r\n",
    ),
    "verbose hpub": (
        b'CONNECT {"verbose":true,"pedantic":false,"headers":true}\r\n'
        b"SUB a 1\r\nHPUB a 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n",
        b"+OK\r\n+OK\r\n+OK\r\nHMSG a 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\n",
    ),
    "empty header block is no header": (
        NR + b"SUB a 1\r\nHPUB a 0 2\r\nhi\r\nPING\r\n",
        b"MSG a 1 2\r\nhi\r\nPONG\r\n",
    ),
    "reply subject delivered": (
        PLAIN + b"SUB a q 1\r\nPUB a r.1 1\r\nx\r\nPING\r\n",
        b"MSG a 1 r.1 1\r\nx\r\nPONG\r\n",
    ),
    "tabs between arguments": (
        PLAIN + b"SUB a\tq\t1\r\nPUB a 1\r\nx\r\nPING\r\n",
        b"MSG a 1 1\r\nx\r\nPONG\r\n",
    ),
    "lower-case ops": (
        b'connect {"verbose":false}\r\nsub foo 1\r\npub foo 1\r\na\r\nping\r\n',
        b"MSG foo 1 1\r\na\r\nPONG\r\n",
    ),
    "duplicate sid ignored": (
        PLAIN + b"SUB foo 1\r\nSUB bar 1\r\nPUB bar 1\r\na\r\nPUB foo 1\r\nb\r\nPING\r\n",
        b"MSG foo 1 1\r\nb\r\nPONG\r\n",
    ),
    "unsub max": (
        PLAIN + b"SUB foo 1\r\nUNSUB 1 2\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\nPING\r\n",
        b"MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\nPONG\r\n",
    ),
    "unsub max zero removes": (PLAIN + b"SUB a 1\r\nUNSUB 1 0\r\nPUB a 1\r\nx\r\nPING\r\n", b"PONG\r\n"),
    "echo off": (
        b'CONNECT {"verbose":false,"echo":false}\r\nSUB foo 1\r\nPUB foo 1\r\na\r\nPING\r\n',
        b"PONG\r\n",
    ),
    "publish before connect": (b"PUB foo 2\r\nhi\r\nPING\r\n", b"+OK\r\nPONG\r\n"),
    "ping before connect": (b"PING\r\n", b"PONG\r\n"),
    "second connect": (
        b'CONNECT {"verbose":false}\r\nCONNECT {"verbose":true}\r\nPING\r\n',
        b"+OK\r\nPONG\r\n",
    ),
    "non-pedantic literal wildcard publish": (
        PLAIN + b"SUB foo.> 1\r\nPUB foo.* 2\r\nhi\r\nPING\r\n",
        b"MSG foo.* 1 2\r\nhi\r\nPONG\r\n",
    ),
}


def exchange(proc: ServerProcess, data: bytes) -> bytes:
    host, port = proc.url.removeprefix("nats://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        assert raw.recv(4096).startswith(b"INFO ")
        raw.sendall(data)
        out = b""
        while not out.endswith(b"PONG\r\n"):
            chunk = raw.recv(65536)
            assert chunk, f"closed after {out!r}"
            out += chunk
        return out


@pytest.mark.parametrize("case", list(CASES))
def test_exchange(server: ServerProcess, case: str) -> None:
    data, want = CASES[case]
    assert exchange(server, data) == want

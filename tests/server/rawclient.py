"""A raw NATS client socket for tests that check the exact bytes a server sends."""

from __future__ import annotations

import json
import socket
import time
from typing import Any


def raw_connect(url: str, *, ping: bool = True, **connect: Any) -> socket.socket:
    """Connect to ``url``, read INFO, send CONNECT (verbose and pedantic off) with ``connect``.

    With ``ping`` the PONG is awaited and the socket returned ready; without, what the server
    answers to the CONNECT is left to read.
    """
    host, port = url.split("://", 1)[-1].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    read_until(sock, b"\r\n")  # INFO
    fields = {"verbose": False, "pedantic": False, **connect}
    sock.sendall(f"CONNECT {json.dumps(fields)}\r\n".encode() + (b"PING\r\n" if ping else b""))
    if ping:
        answer = read_until(sock, b"PONG\r\n")
        assert answer.endswith(b"PONG\r\n"), answer
    return sock


def read_until(sock: socket.socket, until: bytes, timeout: float = 5.0) -> bytes:
    """What the server sends until ``until`` (or ``<EOF>`` appended when it closes first)."""
    data = b""
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)
    while until not in data and time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data + b"<EOF>"
        if not chunk:
            return data + b"<EOF>"
        data += chunk
    return data


def until_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection (``<EOF>`` appended)."""
    data = read_until(sock, b"\x00never\x00", timeout)
    return data

"""orlop.gateway.bodies: request bodies reach the app intact without uvicorn's two copies.

A real uvicorn server on 127.0.0.1 with the gateway's protocol and an app that hashes what
it receives; raw sockets send bodies the ways clients do: Content-Length in many small
writes, chunked transfer encoding, ``Expect: 100-continue``, two requests pipelined on one
connection, and a client that goes away mid-body.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from orlop.gateway.bodies import BodyPieces, http_protocol


def test_pieces_are_kept_by_reference() -> None:
    body = BodyPieces()
    assert len(body) == 0 and bytes(body) == b""
    piece = os.urandom(70_000)
    body += piece
    assert len(body) == 70_000 and bytes(body) is piece  # one piece: handed over, not copied
    body += b"xyz"
    body += b"!"
    assert len(body) == 70_004 and bytes(body) == piece + b"xyz!"
    assert bytes(BodyPieces(b"seed")) == b"seed"
    small = BodyPieces(b"ab")
    small += b"cd"
    assert bytes(small) == b"abcd" and type(bytes(small)) is bytes


def test_tiny_pieces_cost_no_more_than_their_bytes() -> None:
    """A chunked body of 2-byte chunks: httptools calls on_body once per chunk."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        body = BodyPieces()
        for i in range(40_000):
            body += b"%02d" % (i % 100)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(body) == 80_000 and bytes(body)[:6] == b"000102"
    assert held < 3 * 80_000, held  # one object per piece held ~20 times the bytes


def test_the_gateway_runs_httptools_with_body_pieces() -> None:
    # The uvicorn make test installs hands the app bytes() of a bytearray body: BodyPieces
    # stands in for it. (uvicorn 0.35 and older handed the body over as it was: there the
    # gateway runs uvicorn's own protocol, see orlop.gateway.bodies.)
    protocol = http_protocol()
    assert isinstance(protocol, type) and issubclass(protocol, HttpToolsProtocol)
    assert protocol is not HttpToolsProtocol


class _Hasher:
    """An ASGI app answering ``<sha256 hex> <bytes> <messages>`` of each request body."""

    def __init__(self) -> None:
        self.disconnects = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        sha, size, messages = hashlib.sha256(), 0, 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnects += 1
                return
            assert type(message["body"]) is bytes  # what the ASGI spec promises
            sha.update(message["body"])
            size += len(message["body"])
            messages += 1
            if not message.get("more_body"):
                break
        answer = f"{sha.hexdigest()} {size} {messages}".encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % len(answer))],
            }
        )
        await send({"type": "http.response.body", "body": answer})


@pytest.fixture
async def served() -> AsyncIterator[tuple[int, _Hasher]]:
    app = _Hasher()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="on", http=http_protocol())
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1], app
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if status == 100:
        return await _response(reader)
    length = int(
        next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")).split(b":")[
            1
        ]
    )
    return status, await reader.readexactly(length)


def _expect(body: bytes) -> bytes:
    return f"{hashlib.sha256(body).hexdigest()} {len(body)}".encode()


async def test_a_body_sent_in_small_writes(served: tuple[int, _Hasher]) -> None:
    port, _ = served
    body = os.urandom(3 * 1024 * 1024 + 17)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body))
    for at in range(0, len(body), 5000):  # pieces smaller than uvicorn's 64 KiB high water
        writer.write(body[at : at + 5000])
        if at % 200_000 == 0:
            await writer.drain()
            await asyncio.sleep(0)
    status, answer = await _response(reader)
    writer.close()
    assert status == 200 and answer.startswith(_expect(body))


async def test_chunked_continue_and_pipelined(served: tuple[int, _Hasher]) -> None:
    port, _ = served
    first, second = os.urandom(400_000), os.urandom(90_000)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"PUT /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
    for at in range(0, len(first), 65_536):
        part = first[at : at + 65_536]
        writer.write(b"%x\r\n%s\r\n" % (len(part), part))
    writer.write(b"0\r\n\r\n")
    writer.write(b"PUT /b HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(second), second))
    assert (await _response(reader))[1].startswith(_expect(first))
    assert (await _response(reader))[1].startswith(_expect(second))
    writer.close()


async def test_a_client_gone_mid_body_is_a_disconnect(served: tuple[int, _Hasher]) -> None:
    port, app = served
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n" + os.urandom(300_000))
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    for _ in range(100):
        if app.disconnects:
            break
        await asyncio.sleep(0.02)
    assert app.disconnects == 1

"""A fast publisher and a subscriber that reads slowly: nothing is lost, nobody is cut,
and the server does not balloon. Both servers (nats-server stalls the producer too)."""

from __future__ import annotations

import asyncio
import socket
import time

import nats
import psutil

from orlop.testing import ServerProcess

MB = 1 << 20


def addr(proc: ServerProcess) -> tuple[str, int]:
    host, port = proc.url.removeprefix("nats://").rsplit(":", 1)
    return host, int(port)


def slow_reader(proc: ServerProcess, want: int, peak: list[int]) -> int:
    """Subscribe on a raw socket, then read ``want`` payload bytes at about 40 MB/s."""
    assert proc.proc is not None
    server = psutil.Process(proc.proc.pid)
    with socket.create_connection(addr(proc)) as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        raw.settimeout(20)
        raw.recv(4096)
        raw.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB flow 1\r\nPING\r\n')
        assert raw.recv(4096) == b"PONG\r\n"
        got = 0
        raw.sendall(b"PING\r\n")  # a marker for the publisher: subscribed
        while got < want:
            chunk = raw.recv(256 * 1024)
            if not chunk:
                break
            got += len(chunk)
            time.sleep(0.005)
            peak[0] = max(peak[0], server.memory_info().rss)
        return got


async def test_slow_reader_gets_everything(server: ServerProcess) -> None:
    assert server.proc is not None
    count, size = 600, 64 * 1024  # ~39 MB, below the 64 MB max_pending of both servers
    frame = len(f"MSG flow 1 {size}\r\n") + size + 2
    base = psutil.Process(server.proc.pid).memory_info().rss
    peak = [base]
    reader = asyncio.create_task(asyncio.to_thread(slow_reader, server, count * frame + 6, peak))
    nc = await nats.connect(server.url, pending_size=8 * MB)
    try:
        await asyncio.sleep(0.5)
        payload = b"p" * size
        for _ in range(count):
            await nc.publish("flow", payload)
        await nc.flush(timeout=30)
        got = await asyncio.wait_for(reader, 60)
    finally:
        await nc.close()
    assert got >= count * frame  # every message arrived: the subscriber was not cut
    assert peak[0] - base < 96 * MB

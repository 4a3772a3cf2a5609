"""Graceful shutdown on SIGTERM/SIGINT and immediate death on SIGKILL, on Orlop and nats-server.

What a user relies on: everything the server accepted before the signal (a publisher's
flush returned) reaches the subscriber before its connection closes, and the process
exits 0. SIGKILL needs no cooperation: the port is free at once.
"""

from __future__ import annotations

import asyncio
import signal

import nats
import pytest
from nats.aio.msg import Msg

from orlop.testing import KINDS, ServerProcess, refuses_connections

Factory = type[ServerProcess]

COUNT = 20_000
PAYLOAD = b"x" * 512  # 10 MB in all: still in flight to the subscriber when the signal lands


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("kind", KINDS)
async def test_subscriber_gets_everything_published_before_the_signal(
    kind: str, sig: signal.Signals, server_factory: Factory
) -> None:
    proc = server_factory(kind=kind, jetstream=False).start()
    assert proc.proc is not None
    received: list[int] = []
    closed = asyncio.Event()

    async def on_msg(msg: Msg) -> None:
        received.append(len(msg.data))

    async def on_closed() -> None:
        closed.set()

    sub_nc = await nats.connect(
        proc.url, allow_reconnect=False, closed_cb=on_closed, pending_size=64 * 1024 * 1024
    )
    await sub_nc.subscribe("shutdown.data", cb=on_msg, pending_msgs_limit=COUNT * 2, pending_bytes_limit=-1)
    await sub_nc.flush()
    pub_nc = await nats.connect(proc.url, allow_reconnect=False)
    try:
        for _ in range(COUNT):
            await pub_nc.publish("shutdown.data", PAYLOAD)
        await pub_nc.flush(timeout=30)  # the server has every message once the PONG is back
        proc.proc.send_signal(sig)
        assert await asyncio.to_thread(proc.proc.wait, 20) == 0
        await asyncio.wait_for(closed.wait(), 20)
    finally:
        await pub_nc.close()
        await sub_nc.close()
    assert len(received) == COUNT
    assert set(received) == {len(PAYLOAD)}
    assert refuses_connections(proc.url)


@pytest.mark.parametrize("kind", KINDS)
async def test_sigkill_is_immediate(kind: str, server_factory: Factory) -> None:
    proc = server_factory(kind=kind, jetstream=True).start()
    assert proc.proc is not None
    nc = await nats.connect(proc.url, allow_reconnect=False)
    try:
        await nc.publish("x", b"1")
        await nc.flush()
        proc.proc.send_signal(signal.SIGKILL)
        assert await asyncio.to_thread(proc.proc.wait, 5) == -signal.SIGKILL
        assert refuses_connections(proc.url)
    finally:
        await nc.close()

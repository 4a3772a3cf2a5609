"""Work-queue and interest retention: acknowledged messages leave the stream (both servers)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats

from orlop.testing import ServerProcess


async def api(nc: Any, subject: str, body: Any = b"") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, raw, timeout=5)).data)
    return result


async def messages(nc: Any, stream: str, expected: int) -> int:
    """The stream's message count, waiting briefly for acks to settle."""
    count = -1
    for _ in range(50):
        count = int((await api(nc, f"STREAM.INFO.{stream}"))["state"]["messages"])
        if count == expected:
            break
        await asyncio.sleep(0.05)
    return count


async def durable(nc: Any, stream: str, name: str, **cfg: Any) -> None:
    body = {
        "stream_name": stream,
        "config": {"name": name, "durable_name": name, "ack_policy": "explicit", **cfg},
    }
    resp = await api(nc, f"CONSUMER.CREATE.{stream}.{name}", body)
    assert "error" not in resp, resp


async def test_workqueue_drops_acked(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    try:
        await api(nc, "STREAM.CREATE.W", {"name": "W", "subjects": ["w.*"], "retention": "workqueue"})
        for i in range(3):
            await nc.request("w.a", b"%d" % i, timeout=5)
        await durable(nc, "W", "worker")
        sub = await js.pull_subscribe_bind("worker", "W")
        for m in await sub.fetch(2, timeout=5):
            await m.ack_sync()
        assert await messages(nc, "W", 1) == 1
        state = (await api(nc, "STREAM.INFO.W"))["state"]
        assert (state["first_seq"], state["last_seq"]) == (3, 3)
        upd = await api(nc, "STREAM.UPDATE.W", {"name": "W", "subjects": ["w.*"], "retention": "limits"})
        assert (
            upd["error"]["description"]
            == "stream configuration update can not change retention policy to/from workqueue"
        )
    finally:
        await nc.close()


async def test_interest_needs_every_consumer(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    try:
        await api(nc, "STREAM.CREATE.I", {"name": "I", "subjects": ["i.*"], "retention": "interest"})
        for i in range(3):
            await nc.request("i.a", b"%d" % i, timeout=5)
        assert await messages(nc, "I", 0) == 0  # nobody interested: nothing kept
        await durable(nc, "I", "x")
        await durable(nc, "I", "y")
        for i in range(3):
            ack = json.loads((await nc.request("i.a", b"%d" % i, timeout=5)).data)
            assert ack["seq"] == 4 + i
        sx = await js.pull_subscribe_bind("x", "I")
        sy = await js.pull_subscribe_bind("y", "I")
        for m in await sx.fetch(3, timeout=5):
            await m.ack_sync()
        assert await messages(nc, "I", 3) == 3
        for m in await sy.fetch(2, timeout=5):
            await m.ack_sync()
        assert await messages(nc, "I", 1) == 1
        assert (await api(nc, "STREAM.INFO.I"))["state"]["first_seq"] == 6
        # x has acked everything; once y is gone nobody needs seq 6 any more.
        await api(nc, "CONSUMER.DELETE.I.y")
        assert await messages(nc, "I", 0) == 0
    finally:
        await nc.close()

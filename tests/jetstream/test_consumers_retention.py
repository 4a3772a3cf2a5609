"""Acks drive retention: a workqueue stream forgets acked messages, an interest stream
forgets messages every consumer has acked. Plus the workqueue consumer rules. Both servers.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy

from orlop.testing import ServerProcess


async def api(nc: Any, subject: str, body: Any = b"") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, raw, timeout=5)).data)
    return result


async def test_workqueue_acks_remove_messages(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    try:
        await js.add_stream(name="WQ", subjects=["wq.>"], retention=RetentionPolicy.WORK_QUEUE)
        for i in range(4):
            await js.publish(f"wq.{i % 2}", b"%d" % i)
        await js.add_consumer(
            "WQ", ConsumerConfig(durable_name="A", ack_policy=AckPolicy.EXPLICIT, filter_subject="wq.0")
        )
        resp = await api(
            nc, "CONSUMER.CREATE.WQ.B", {"stream_name": "WQ", "config": {"ack_policy": "explicit"}}
        )
        assert resp["error"]["err_code"] == 10099
        resp = await api(
            nc,
            "CONSUMER.CREATE.WQ.B",
            {"stream_name": "WQ", "config": {"ack_policy": "explicit", "filter_subject": "wq.>"}},
        )
        assert resp["error"]["err_code"] == 10100
        resp = await api(
            nc,
            "CONSUMER.CREATE.WQ.B",
            {
                "stream_name": "WQ",
                "config": {"ack_policy": "none", "filter_subject": "wq.1", "deliver_subject": "x"},
            },
        )
        assert resp["error"]["err_code"] == 10098
        psub = await js.pull_subscribe_bind("A", "WQ")
        msgs = await psub.fetch(2, timeout=5)
        assert [m.data for m in msgs] == [b"0", b"2"]
        await msgs[0].ack_sync()
        info = await js.stream_info("WQ")
        assert info.state.messages == 3
        await msgs[1].ack_sync()
        info = await js.stream_info("WQ")
        assert info.state.messages == 2 and info.state.first_seq == 2
    finally:
        await nc.close()


async def test_interest_stream_keeps_until_all_acked(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    try:
        await js.add_stream(name="IN", subjects=["in"], retention=RetentionPolicy.INTEREST)
        for name in ("A", "B"):
            await js.add_consumer("IN", ConsumerConfig(durable_name=name, ack_policy=AckPolicy.EXPLICIT))
        await js.publish("in", b"x")
        a = await js.pull_subscribe_bind("A", "IN")
        b = await js.pull_subscribe_bind("B", "IN")
        (ma,) = await a.fetch(1, timeout=5)
        (mb,) = await b.fetch(1, timeout=5)
        await ma.ack_sync()
        await asyncio.sleep(0.1)
        assert (await js.stream_info("IN")).state.messages == 1
        await mb.ack_sync()
        await asyncio.sleep(0.1)
        assert (await js.stream_info("IN")).state.messages == 0
    finally:
        await nc.close()

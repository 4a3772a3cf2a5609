"""Durable consumers survive a restart with their position, ack floor and pending acks.

Both servers: after ``server.restart()`` the consumer exists with the same config
and creation time, acknowledged messages are not delivered again, unacknowledged
ones are, and new messages follow.
"""

from __future__ import annotations

import asyncio

import nats
from nats.js.api import AckPolicy, ConsumerConfig

from orlop.testing import ServerProcess


async def test_durable_pull_consumer_survives_restart(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    await js.add_stream(name="D", subjects=["d.>"])
    for i in range(6):
        await js.publish(f"d.{i}", b"%d" % i)
    created = await js.add_consumer(
        "D",
        ConsumerConfig(durable_name="W", ack_policy=AckPolicy.EXPLICIT, ack_wait=1.0, description="worker"),
    )
    psub = await js.pull_subscribe_bind("W", "D")
    msgs = await psub.fetch(4, timeout=5)
    for m in msgs[:3]:
        await m.ack_sync()
    await js.add_consumer("D", ConsumerConfig(name="eph", ack_policy=AckPolicy.NONE))
    await nc.close()

    server.restart()
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    try:
        info = await js.consumer_info("D", "W")
        assert info.created == created.created and info.config.description == "worker"
        assert info.ack_floor.stream_seq == 3 and info.delivered.stream_seq == 4
        assert info.num_ack_pending == 1 and info.num_pending == 2
        eph = await js.consumer_info("D", "eph")  # ephemerals come back too, until reaped
        assert eph.config.inactive_threshold == 5.0
        await js.publish("d.new", b"6")
        psub = await js.pull_subscribe_bind("W", "D")
        got = []
        for _ in range(6):
            try:
                batch = await psub.fetch(4, timeout=1.5)
            except nats.errors.TimeoutError:
                break
            for m in batch:
                got.append(m.data)
                await m.ack_sync()
            if len(got) >= 4:
                break
        assert sorted(got) == [b"3", b"4", b"5", b"6"]
        info = await js.consumer_info("D", "W")
        assert info.num_ack_pending == 0 and info.ack_floor.stream_seq == 7
    finally:
        await nc.close()


async def test_durable_push_consumer_resumes_after_restart(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    await js.add_stream(name="D", subjects=["d.>"])
    for i in range(3):
        await js.publish("d.x", b"%d" % i)
    sub = await js.subscribe("d.>", durable="PD", manual_ack=True)
    for _ in range(3):
        m = await sub.next_msg(timeout=3)
        await m.ack_sync()
    await nc.close()

    server.restart()
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    try:
        await js.publish("d.x", b"3")
        sub = await js.subscribe("d.>", durable="PD", manual_ack=True)
        m = await sub.next_msg(timeout=3)
        assert m.data == b"3" and m.metadata.sequence.stream == 4
        await m.ack_sync()
        await asyncio.sleep(0.2)
        info = await js.consumer_info("D", "PD")
        assert info.delivered.stream_seq == 4 and info.num_ack_pending == 0
    finally:
        await nc.close()

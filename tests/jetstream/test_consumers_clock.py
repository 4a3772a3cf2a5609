"""Redelivery driven by the injected clock (Orlop only: nats-server's clock cannot be moved).

The server runs in-process; its account's JetStream clock is a FakeClock, so ack
deadlines pass when the test advances time and calls ``check_ack_timeouts`` instead
of sleeping through a 30 s ack wait. Clients are real nats-py connections.
"""

from __future__ import annotations

from pathlib import Path

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from orlop.server.embed import start_server
from orlop.store.testing import FakeClock

SEC = 1_000_000_000


async def test_ack_wait_backoff_and_max_deliver_on_fake_clock(tmp_path: Path) -> None:
    server = await start_server(store_dir=str(tmp_path), port=-1, http_port=0)
    clock = FakeClock()
    ajs = server.jetstream.accounts["$G"]
    ajs.clock = clock
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="F", subjects=["f"])
        await js.publish("f", b"one")
        cfg = ConsumerConfig(
            durable_name="C", ack_policy=AckPolicy.EXPLICIT, max_deliver=3, backoff=[30.0, 60.0]
        )
        await js.add_consumer("F", cfg)
        consumer = ajs.streams["F"].consumers["C"]
        psub = await js.pull_subscribe_bind("C", "F")

        (m,) = await psub.fetch(1, timeout=2)
        assert m.metadata.num_delivered == 1
        clock.advance(29 * SEC)
        assert consumer.check_ack_timeouts() == 0
        clock.advance(2 * SEC)
        assert consumer.check_ack_timeouts() == 1
        (m,) = await psub.fetch(1, timeout=2)
        assert m.metadata.num_delivered == 2  # second delivery waits backoff[1] = 60 s
        clock.advance(31 * SEC)
        assert consumer.check_ack_timeouts() == 0
        await m.in_progress()
        await nc.flush()
        clock.advance(59 * SEC)
        assert consumer.check_ack_timeouts() == 0  # +WPI restarted the 60 s wait
        clock.advance(2 * SEC)
        assert consumer.check_ack_timeouts() == 1
        (m,) = await psub.fetch(1, timeout=2)
        assert m.metadata.num_delivered == 3
        clock.advance(61 * SEC)
        assert consumer.check_ack_timeouts() == 1  # max_deliver reached: given up, not queued
        with pytest.raises(nats.errors.TimeoutError):
            await psub.fetch(1, timeout=0.3)
        info = await js.consumer_info("F", "C")
        assert info.num_ack_pending == 0 and info.ack_floor.stream_seq == 1
    finally:
        await nc.close()
        await server.shutdown()

"""Push consumers: interest gating, deliver policies, acks and redelivery, heartbeats,
flow control, ordered consumers, and reaping of ephemerals. Both servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import Any

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from orlop.testing import ServerProcess


async def api(nc: Any, subject: str, body: Any = b"") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, raw, timeout=5)).data)
    return result


async def collect(nc: Any, subject: str, wait: float, until: int = 0) -> list[Any]:
    """Messages received on ``subject`` within ``wait`` s (or as soon as ``until`` arrived)."""
    got: list[Any] = []
    done = asyncio.Event()

    async def cb(m: Any) -> None:
        got.append(m)
        if until and len(got) >= until:
            done.set()

    sub = await nc.subscribe(subject, cb=cb)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), wait)
    await sub.unsubscribe()
    return got


async def stream(server: ServerProcess, subjects: list[tuple[str, bytes]]) -> tuple[Any, Any]:
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    await js.add_stream(name="K", subjects=["k.>"], storage="memory")
    for subj, data in subjects:
        await js.publish(subj, data)
    return nc, js


def status(m: Any) -> tuple[str, str] | None:
    h = m.headers or {}
    return (h["Status"], h.get("Description", "")) if "Status" in h else None


async def test_created_before_subscriber_waits_for_interest(server: ServerProcess) -> None:
    nc, _ = await stream(server, [("k.a", b"1"), ("k.b", b"2")])
    try:
        await api(
            nc,
            "CONSUMER.CREATE.K",
            {
                "stream_name": "K",
                "config": {
                    "name": "W",
                    "deliver_subject": "dlv",
                    "ack_policy": "none",
                    "idle_heartbeat": 200_000_000,
                    "flow_control": True,
                },
            },
        )
        await asyncio.sleep(0.6)  # nothing may be delivered (or heartbeated) to nobody
        info = await api(nc, "CONSUMER.INFO.K.W")
        assert info["delivered"]["consumer_seq"] == 0 and info["num_pending"] == 2
        assert "push_bound" not in info
        got = await collect(nc, "dlv", 3, until=2)
        assert [(m.subject, m.data) for m in got[:2]] == [("k.a", b"1"), ("k.b", b"2")]
        toks = got[1].reply.split(".")
        assert toks[:4] == ["$JS", "ACK", "K", "W"] and toks[4:7] == ["1", "2", "2"] and toks[8] == "0"
    finally:
        await nc.close()


async def test_deliver_policies_and_num_pending(server: ServerProcess) -> None:
    data = [("k.a", b"a1"), ("k.b", b"b1"), ("k.a", b"a2"), ("k.c", b"c1"), ("k.b", b"b2")]
    nc, _ = await stream(server, data)
    try:
        cases: list[tuple[dict[str, Any], list[bytes]]] = [
            ({"deliver_policy": "all"}, [b"a1", b"b1", b"a2", b"c1", b"b2"]),
            ({"deliver_policy": "last"}, [b"b2"]),
            ({"deliver_policy": "new"}, []),
            ({"deliver_policy": "by_start_sequence", "opt_start_seq": 4}, [b"c1", b"b2"]),
            ({"deliver_policy": "last_per_subject", "filter_subject": "k.>"}, [b"a2", b"c1", b"b2"]),
            ({"deliver_policy": "last_per_subject", "filter_subject": "k.a"}, [b"a2"]),
            ({"deliver_policy": "all", "filter_subjects": ["k.a", "k.c"]}, [b"a1", b"a2", b"c1"]),
        ]
        for i, (cfg, want) in enumerate(cases):
            ds = f"dlv{i}"
            sub = await nc.subscribe(ds)
            ci = await api(
                nc,
                "CONSUMER.CREATE.K",
                {"stream_name": "K", "config": {"deliver_subject": ds, "ack_policy": "none", **cfg}},
            )
            assert ci["num_pending"] == len(want), cfg
            got = []
            for _ in want:
                m = await sub.next_msg(timeout=3)
                got.append(m)
            assert [m.data for m in got] == want, cfg
            if got:
                assert [int(m.reply.split(".")[8]) for m in got] == list(range(len(want) - 1, -1, -1))
            await sub.unsubscribe()
    finally:
        await nc.close()


async def test_by_start_time(server: ServerProcess) -> None:
    nc, js = await stream(server, [("k.a", b"old")])
    try:
        await asyncio.sleep(0.05)
        first = await js.publish("k.a", b"new")
        stamp = (await api(nc, "STREAM.MSG.GET.K", {"seq": first.seq}))["message"]["time"]
        ds = "dlvt"
        sub = await nc.subscribe(ds)
        ci = await api(
            nc,
            "CONSUMER.CREATE.K",
            {
                "stream_name": "K",
                "config": {"deliver_subject": ds, "deliver_policy": "by_start_time", "opt_start_time": stamp},
            },
        )
        assert ci["num_pending"] == 1
        assert (await sub.next_msg(timeout=3)).data == b"new"
    finally:
        await nc.close()


async def test_push_explicit_ack_redelivery(server: ServerProcess) -> None:
    nc, js = await stream(server, [("k.a", b"x"), ("k.b", b"y")])
    try:
        got: list[Any] = []

        async def cb(m: Any) -> None:
            got.append(m)
            if m.data == b"y":
                await m.ack()

        await js.subscribe(
            "k.>", durable="R", cb=cb, manual_ack=True, config=ConsumerConfig(ack_wait=0.5, max_deliver=3)
        )
        await asyncio.sleep(2.2)
        xs = [m for m in got if m.data == b"x"]
        assert [m.metadata.num_delivered for m in xs] == [1, 2, 3]
        assert len([m for m in got if m.data == b"y"]) == 1
        info = await js.consumer_info("K", "R")
        assert info.num_ack_pending == 0 and info.delivered.stream_seq == 2
    finally:
        await nc.close()


async def test_idle_heartbeats_and_flow_control_wire(server: ServerProcess) -> None:
    nc, js = await stream(server, [])
    try:
        ds = "hbfc"
        got = await asyncio.gather(
            collect(nc, ds, 0.9),
            api(
                nc,
                "CONSUMER.CREATE.K",
                {
                    "stream_name": "K",
                    "config": {
                        "name": "H",
                        "deliver_subject": ds,
                        "ack_policy": "none",
                        "idle_heartbeat": 200_000_000,
                        "flow_control": True,
                    },
                },
            ),
        )
        hbs = got[0]
        assert len(hbs) >= 2 and all(status(m) == ("100", "Idle Heartbeat") for m in hbs)
        assert hbs[0].headers["Nats-Last-Consumer"] == "0" and hbs[0].headers["Nats-Last-Stream"] == "0"
        assert not hbs[0].data and not hbs[0].reply

        payload = b"z" * 100_000
        for _ in range(30):  # 3 MB: more than half the initial 2 MiB window
            await js.publish("k.big", payload)
        msgs = await collect(nc, ds, 2, until=31)
        fcs = [m for m in msgs if status(m) == ("100", "FlowControl Request")]
        assert fcs, [status(m) for m in msgs]
        assert fcs[0].reply.startswith("$JS.FC.K.H.") and not fcs[0].data
        data = [m for m in msgs if status(m) is None]
        assert len(data) >= 11  # delivery ran past 1 MiB before asking
    finally:
        await nc.close()


async def test_ordered_consumer_with_nats_py(server: ServerProcess) -> None:
    nc, js = await stream(server, [(f"k.{i % 3}", b"%d" % i) for i in range(50)])
    try:
        sub = await js.subscribe("k.>", ordered_consumer=True, idle_heartbeat=0.5)
        seen = [(await sub.next_msg(timeout=3)).data for _ in range(50)]
        assert seen == [b"%d" % i for i in range(50)]
        await js.publish("k.9", b"after")
        assert (await sub.next_msg(timeout=3)).data == b"after"
        await sub.unsubscribe()
    finally:
        await nc.close()


async def test_ephemeral_push_reaped_without_interest(server: ServerProcess) -> None:
    nc, js = await stream(server, [("k.a", b"1")])
    try:
        sub = await js.subscribe("k.>", config=ConsumerConfig(inactive_threshold=0.5))
        name = (await sub.consumer_info()).name
        await asyncio.sleep(0.8)
        assert (await js.consumer_info("K", name)).push_bound is True  # interest keeps it alive
        await sub.unsubscribe()
        await asyncio.sleep(1.5)
        with pytest.raises(nats.js.errors.NotFoundError):
            await js.consumer_info("K", name)
    finally:
        await nc.close()


async def test_ack_none_and_ack_floor(server: ServerProcess) -> None:
    nc, js = await stream(server, [("k.a", b"1"), ("k.a", b"2")])
    try:
        sub = await js.subscribe(
            "k.>",
            durable="N",
            config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL),
        )
        for _ in range(2):
            await sub.next_msg(timeout=3)
        info = await js.consumer_info("K", "N")
        assert info.ack_floor.stream_seq == 2 and info.ack_floor.consumer_seq == 2
        assert info.num_ack_pending == 0
    finally:
        await nc.close()


async def test_replay_original_keeps_spacing(server: ServerProcess) -> None:
    nc, js = await stream(server, [])
    try:
        for i in range(3):
            await js.publish("k.r", b"%d" % i)
            await asyncio.sleep(0.3)
        sub = await nc.subscribe("replay")
        await api(
            nc,
            "CONSUMER.CREATE.K",
            {
                "stream_name": "K",
                "config": {"deliver_subject": "replay", "ack_policy": "none", "replay_policy": "original"},
            },
        )
        arrivals = []
        for _ in range(3):
            await sub.next_msg(timeout=3)
            arrivals.append(asyncio.get_running_loop().time())
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        assert all(0.2 < g < 0.6 for g in gaps), gaps
    finally:
        await nc.close()


async def test_ordered_consumer_recovers_after_its_consumer_vanishes(server: ServerProcess) -> None:
    nc, js = await stream(server, [("k.a", b"%d" % i) for i in range(5)])
    try:
        sub = await js.subscribe("k.>", ordered_consumer=True, idle_heartbeat=0.3)
        first = [(await sub.next_msg(timeout=3)).data for _ in range(5)]
        names = (await api(nc, "CONSUMER.NAMES.K"))["consumers"]
        assert len(names) == 1
        await api(nc, f"CONSUMER.DELETE.K.{names[0]}")
        for i in range(5, 8):
            await js.publish("k.a", b"%d" % i)
        rest = [(await sub.next_msg(timeout=5)).data for _ in range(3)]
        assert first + rest == [b"%d" % i for i in range(8)]
        now = (await api(nc, "CONSUMER.NAMES.K"))["consumers"]
        assert len(now) == 1 and now != names
        info = await api(nc, f"CONSUMER.INFO.K.{now[0]}")
        assert info["config"]["deliver_policy"] == "by_start_sequence"
        assert info["config"]["opt_start_seq"] == 6
    finally:
        await nc.close()

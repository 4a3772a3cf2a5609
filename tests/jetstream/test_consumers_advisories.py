"""Consumer advisories and ack metrics ($JS.EVENT.ADVISORY.CONSUMER.>, $JS.EVENT.METRIC.CONSUMER.ACK.>),
and max_deliver reached through naks, on both servers.

What dead-letter handling and monitoring build on: a message delivered max_deliver times
is not delivered again and MAX_DELIVERIES says which one; naks and terms are advised with
their sequences; ``sample_freq`` publishes ack metrics; consumers created and deleted
(by the API or with their stream) are advised.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import time
from typing import Any

import nats
import pytest

from orlop.testing import ServerProcess

ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER."


async def _api(nc: Any, subject: str, body: Any = b"") -> dict[str, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    reply: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, data, timeout=5)).data)
    return reply


async def _collect(sub: Any, wanted: set[str], timeout: float = 15) -> dict[str, list[dict[str, Any]]]:
    """Events by subject until every ``wanted`` subject was seen (advisories are asynchronous)."""
    got: dict[str, list[dict[str, Any]]] = {}
    deadline = asyncio.get_running_loop().time() + timeout
    while not wanted <= set(got) and asyncio.get_running_loop().time() < deadline:
        try:
            msg = await sub.next_msg(timeout=0.2)
        except nats.errors.TimeoutError:
            continue
        got.setdefault(msg.subject, []).append(json.loads(msg.data))
    return got


async def test_consumer_advisories_and_max_deliveries_through_naks(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="CADV", subjects=["cadv.>"])
        events = await nc.subscribe(ADVISORY + ">")
        metrics = await nc.subscribe("$JS.EVENT.METRIC.CONSUMER.ACK.>")
        await nc.flush()
        for i in range(3):
            await js.publish(f"cadv.{i}", b"x")
        config = {"durable_name": "WORK", "ack_policy": "explicit", "max_deliver": 2, "sample_freq": "100%"}
        created = await _api(nc, "CONSUMER.CREATE.CADV.WORK", {"stream_name": "CADV", "config": config})
        assert created["config"]["sample_freq"] == "100%"
        pull = await js.pull_subscribe_bind("WORK", "CADV")
        first = await pull.fetch(3, timeout=5)
        assert [m.metadata.sequence.stream for m in first] == [1, 2, 3]
        await first[0].ack()
        await first[1].nak()
        await nc.publish(first[2].reply, b"+TERM not for us")
        again = await pull.fetch(1, timeout=5)
        assert (again[0].metadata.sequence.stream, again[0].metadata.num_delivered) == (2, 2)
        await again[0].nak()  # its last delivery: given up, not redelivered
        with pytest.raises(nats.errors.TimeoutError):
            await pull.fetch(1, timeout=1)
        info = await js.consumer_info("CADV", "WORK")
        assert (info.num_ack_pending, info.num_redelivered) == (0, 1)
        await js.delete_consumer("CADV", "WORK")

        wanted = {f"{ADVISORY}{kind}.CADV.WORK" for kind in ("CREATED", "MSG_NAKED", "MSG_TERMINATED")}
        wanted |= {f"{ADVISORY}MAX_DELIVERIES.CADV.WORK", f"{ADVISORY}DELETED.CADV.WORK"}
        got = await _collect(events, wanted)
        assert set(got) == wanted
        create = got[f"{ADVISORY}CREATED.CADV.WORK"][0]
        assert create["type"] == "io.nats.jetstream.advisory.v1.consumer_action"
        assert (create["stream"], create["consumer"], create["action"]) == ("CADV", "WORK", "create")
        assert got[f"{ADVISORY}DELETED.CADV.WORK"][0]["action"] == "delete"
        naks = [
            (e["stream_seq"], e["consumer_seq"], e["deliveries"])
            for e in got[f"{ADVISORY}MSG_NAKED.CADV.WORK"]
        ]
        assert naks == [(2, 2, 1), (2, 4, 2)]
        term = got[f"{ADVISORY}MSG_TERMINATED.CADV.WORK"][0]
        assert term["type"] == "io.nats.jetstream.advisory.v1.terminated"
        assert (term["stream_seq"], term["consumer_seq"], term["deliveries"], term["reason"]) == (
            3,
            3,
            1,
            "not for us",
        )
        (given_up,) = got[f"{ADVISORY}MAX_DELIVERIES.CADV.WORK"]
        assert given_up["type"] == "io.nats.jetstream.advisory.v1.max_deliver"
        assert (given_up["stream_seq"], given_up["deliveries"]) == (2, 2)

        acked = await _collect(metrics, {"$JS.EVENT.METRIC.CONSUMER.ACK.CADV.WORK"})
        (metric,) = acked["$JS.EVENT.METRIC.CONSUMER.ACK.CADV.WORK"]
        assert metric["type"] == "io.nats.jetstream.metric.v1.consumer_ack"
        assert (metric["stream_seq"], metric["consumer_seq"], metric["deliveries"]) == (1, 1, 1)
        assert metric["ack_time"] > 0

        # Deleting a stream deletes its consumers, each advised.
        await js.add_consumer("CADV", durable_name="OTHER", ack_policy="explicit")
        await js.delete_stream("CADV")
        got = await _collect(events, {f"{ADVISORY}DELETED.CADV.OTHER"})
        assert got[f"{ADVISORY}DELETED.CADV.OTHER"][0]["action"] == "delete"
    finally:
        await nc.close()


async def test_max_deliveries_by_ack_timeout(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="SLOW", subjects=["slow"])
        events = await nc.subscribe(ADVISORY + "MAX_DELIVERIES.>")
        await nc.flush()
        await js.publish("slow", b"x")
        config = {"durable_name": "W", "ack_policy": "explicit", "max_deliver": 2, "ack_wait": 500_000_000}
        await _api(nc, "CONSUMER.CREATE.SLOW.W", {"stream_name": "SLOW", "config": config})
        pull = await js.pull_subscribe_bind("W", "SLOW")
        seen = [m.metadata.num_delivered for m in await pull.fetch(1, timeout=5)]
        seen += [m.metadata.num_delivered for m in await pull.fetch(1, timeout=5)]  # after 0.5 s
        assert seen == [1, 2]
        # Given up when its ack wait ends (nats-server notices while a pull request waits).
        with pytest.raises(nats.errors.TimeoutError):
            await pull.fetch(1, timeout=1.5)
        got = await _collect(events, {f"{ADVISORY}MAX_DELIVERIES.SLOW.W"})
        (given_up,) = got[f"{ADVISORY}MAX_DELIVERIES.SLOW.W"]
        assert (given_up["stream"], given_up["consumer"], given_up["stream_seq"], given_up["deliveries"]) == (
            "SLOW",
            "W",
            1,
            2,
        )
    finally:
        await nc.close()


async def test_sample_freq_is_checked(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await nc.jetstream().add_stream(name="SAMP", subjects=["samp"])
        for freq, err in (
            ("often", 'strconv.Atoi: parsing "often": invalid syntax'),
            ("5%%", 'strconv.Atoi: parsing "5%": invalid syntax'),
            ("-5", "<nil>"),
        ):
            reply = await _api(
                nc, "CONSUMER.CREATE.SAMP", {"stream_name": "SAMP", "config": {"sample_freq": freq}}
            )
            assert reply["error"] == {
                "code": 400,
                "err_code": 10095,
                "description": f"failed to parse consumer sampling configuration: {err}",
            }, freq
        ok = await _api(nc, "CONSUMER.CREATE.SAMP", {"stream_name": "SAMP", "config": {"sample_freq": "50"}})
        assert ok["config"]["sample_freq"] == "50"
    finally:
        await nc.close()


def _rfc3339(stamp: float) -> str:
    return datetime.datetime.fromtimestamp(stamp, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def test_pause_advisories(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="PAUSE", subjects=["pause"])
        events = await nc.subscribe(ADVISORY + "PAUSE.>")
        await nc.flush()
        # Created paused: said at once, and again when the pause ends on its own.
        soon = time.time() + 4  # long enough for the update below to land inside it
        config = {"durable_name": "P", "ack_policy": "explicit", "pause_until": _rfc3339(soon)}
        created = await _api(nc, "CONSUMER.CREATE.PAUSE.P", {"stream_name": "PAUSE", "config": config})
        assert "error" not in created, created
        first = json.loads((await events.next_msg(timeout=5)).data)
        assert first["type"] == "io.nats.jetstream.advisory.v1.consumer_pause"
        assert (first["stream"], first["consumer"], first["paused"]) == ("PAUSE", "P", True)
        assert first["pause_until"].startswith(_rfc3339(soon)[:19])
        # A create or update does not move the pause (only CONSUMER.PAUSE does).
        moved = {**config, "pause_until": _rfc3339(time.time() + 600)}
        again = await _api(nc, "CONSUMER.CREATE.PAUSE.P", {"stream_name": "PAUSE", "config": moved})
        assert again["config"]["pause_until"][:19] == _rfc3339(soon)[:19]
        repeat = json.loads((await events.next_msg(timeout=5)).data)  # still paused: said again
        assert (repeat["paused"], repeat["pause_until"][:19]) == (True, _rfc3339(soon)[:19])
        ended = json.loads((await events.next_msg(timeout=10)).data)
        assert time.time() >= soon - 0.2  # not before the pause ended
        assert (ended["paused"], ended["pause_until"][:19]) == (False, _rfc3339(soon)[:19])
        # Paused through the API, then resumed: one advisory each.
        later = _rfc3339(time.time() + 60)
        paused = await _api(nc, "CONSUMER.PAUSE.PAUSE.P", {"pause_until": later})
        assert paused["paused"] is True
        event = json.loads((await events.next_msg(timeout=5)).data)
        assert (event["paused"], event["pause_until"][:19]) == (True, later[:19])
        resumed = await _api(nc, "CONSUMER.PAUSE.PAUSE.P", b"")
        assert resumed["paused"] is False
        event = json.loads((await events.next_msg(timeout=5)).data)
        assert (event["paused"], event["pause_until"]) == (False, "0001-01-01T00:00:00Z")
        # A time already past: not paused, but kept and echoed (and advised once).
        past = _rfc3339(time.time() - 60)
        answer = await _api(nc, "CONSUMER.PAUSE.PAUSE.P", {"pause_until": past})
        assert (answer["paused"], answer["pause_until"][:19]) == (False, past[:19])
        info = await _api(nc, "CONSUMER.INFO.PAUSE.P")
        assert info["config"]["pause_until"][:19] == past[:19] and not info.get("paused")
        event = json.loads((await events.next_msg(timeout=5)).data)
        assert (event["paused"], event["pause_until"][:19]) == (False, past[:19])
        await _api(nc, "CONSUMER.PAUSE.PAUSE.P", {"pause_until": past})  # no change: no advisory
        with pytest.raises(nats.errors.TimeoutError):  # and nothing more
            await events.next_msg(timeout=1)
    finally:
        await nc.close()

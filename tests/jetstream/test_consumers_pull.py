"""Pull consumers: fetch, raw MSG.NEXT statuses, acks, naks, redelivery, max_deliver, max_ack_pending.

Both servers; the status lines and headers asserted here are nats-server's.
Short ack waits (0.5 s) keep redelivery tests quick.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from orlop.testing import ServerProcess


async def api(nc: Any, subject: str, body: Any = b"") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, raw, timeout=5)).data)
    return result


async def make(server: ServerProcess, n: int = 5, **cfg: Any) -> tuple[Any, Any]:
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    await js.add_stream(name="P", subjects=["p.>"], storage="memory")
    for i in range(n):
        await js.publish(f"p.{i}", b"m%d" % i, headers={"k": str(i)})
    body = {"ack_policy": "explicit", **cfg}
    resp = await api(nc, "CONSUMER.CREATE.P.C", {"stream_name": "P", "config": body})
    assert "error" not in resp, resp
    return nc, js


async def raw_next(nc: Any, body: Any, wait: float) -> list[Any]:
    """Send one MSG.NEXT request and collect everything answered on its inbox for ``wait`` seconds."""
    inbox = nc.new_inbox()
    got: list[Any] = []

    async def collect(m: Any) -> None:
        got.append(m)

    sub = await nc.subscribe(inbox, cb=collect)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    await nc.publish("$JS.API.CONSUMER.MSG.NEXT.P.C", raw, reply=inbox)
    await asyncio.sleep(wait)
    await sub.unsubscribe()
    return got


def status(m: Any) -> tuple[str, str] | None:
    h = m.headers or {}
    return (h["Status"], h.get("Description", "")) if "Status" in h else None


async def test_fetch_batch_subjects_headers_and_ack_reply(server: ServerProcess) -> None:
    nc, js = await make(server)
    try:
        psub = await js.pull_subscribe_bind("C", "P")
        msgs = await psub.fetch(3, timeout=5)
        assert [m.subject for m in msgs] == ["p.0", "p.1", "p.2"]
        assert [m.data for m in msgs] == [b"m0", b"m1", b"m2"]
        assert msgs[1].headers == {"k": "1"}
        toks = msgs[2].reply.split(".")
        assert toks[:4] == ["$JS", "ACK", "P", "C"] and len(toks) == 9
        assert (toks[4], toks[5], toks[6], toks[8]) == ("1", "3", "3", "2")
        md = msgs[2].metadata
        assert md.num_pending == 2 and md.sequence.stream == 3 and md.num_delivered == 1
        rest = await psub.fetch(10, timeout=2)
        assert [m.data for m in rest] == [b"m3", b"m4"]
        info = await js.consumer_info("P", "C")
        assert info.num_ack_pending == 5 and info.num_pending == 0
        assert info.delivered.consumer_seq == 5 and info.delivered.stream_seq == 5
        for m in msgs + rest:
            await m.ack_sync()
        info = await js.consumer_info("P", "C")
        assert info.num_ack_pending == 0
        assert info.ack_floor.consumer_seq == 5 and info.ack_floor.stream_seq == 5
        with pytest.raises(nats.errors.TimeoutError):
            await psub.fetch(1, timeout=0.5)
    finally:
        await nc.close()


async def test_raw_statuses(server: ServerProcess) -> None:
    nc, js = await make(server, n=3)
    try:
        got = await raw_next(nc, {"batch": 10, "no_wait": True}, 0.5)
        assert [m.subject for m in got[:3]] == ["p.0", "p.1", "p.2"]
        assert status(got[3]) == ("404", "No Messages") and len(got) == 4
        await js.publish("p.3", b"m3")
        got = await raw_next(nc, {"batch": 10, "no_wait": True, "expires": 400_000_000}, 0.7)
        assert [m.subject for m in got[:1]] == ["p.3"] and status(got[1]) == ("404", "No Messages")
        got = await raw_next(nc, {"batch": 10, "no_wait": True}, 0.3)
        assert [status(m) for m in got] == [("404", "No Messages")]
        got = await raw_next(nc, {"batch": 2, "expires": 300_000_000}, 0.8)
        assert [status(m) for m in got] == [("408", "Request Timeout")]
        assert got[0].headers["Nats-Pending-Messages"] == "2"
        got = await raw_next(nc, {"batch": 1, "idle_heartbeat": 200_000_000}, 0.3)
        assert [status(m) for m in got] == [("400", "Bad Request - heartbeat value too large")]
        got = await raw_next(nc, {"batch": 1, "expires": 1_000_000_000, "idle_heartbeat": 200_000_000}, 0.7)
        assert len(got) >= 2 and all(status(m) == ("100", "Idle Heartbeat") for m in got)
        assert got[0].headers["Nats-Last-Consumer"] == "4" and got[0].headers["Nats-Last-Stream"] == "4"
    finally:
        await nc.close()


async def test_max_bytes_and_consumer_deleted(server: ServerProcess) -> None:
    nc, _ = await make(server, n=2)
    try:
        got = await raw_next(nc, {"batch": 5, "max_bytes": 3}, 0.3)
        assert [status(m) for m in got] == [("409", "Message Size Exceeds MaxBytes")]
        # What the request had left: clients take it off their pending counts (ADR-37).
        assert got[0].headers["Nats-Pending-Messages"] == "5"
        assert got[0].headers["Nats-Pending-Bytes"] == "3"
        got = await raw_next(nc, b"2", 0.3)
        assert [m.data for m in got] == [b"m0", b"m1"]
        inbox = nc.new_inbox()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def first(m: Any) -> None:
            if not fut.done():
                fut.set_result(m)

        sub = await nc.subscribe(inbox, cb=first)
        await nc.publish("$JS.API.CONSUMER.MSG.NEXT.P.C", b'{"batch":1,"expires":5000000000}', reply=inbox)
        await nc.flush()
        await asyncio.sleep(0.1)
        await api(nc, "CONSUMER.DELETE.P.C")
        m = await asyncio.wait_for(fut, 3)
        assert status(m) == ("409", "Consumer Deleted")
        await sub.unsubscribe()
    finally:
        await nc.close()


async def test_nak_term_in_progress_and_redelivery(server: ServerProcess) -> None:
    nc, js = await make(server, n=3, ack_wait=500_000_000)
    try:
        psub = await js.pull_subscribe_bind("C", "P")
        m0, m1, m2 = await psub.fetch(3, timeout=5)
        await m0.nak()
        again = (await psub.fetch(1, timeout=5))[0]
        assert again.data == b"m0" and again.metadata.num_delivered == 2
        assert again.metadata.sequence.consumer == 4
        await again.ack()
        await m1.term()
        for _ in range(3):
            await asyncio.sleep(0.2)
            await m2.in_progress()
        info = await js.consumer_info("P", "C")
        assert info.num_ack_pending == 1 and info.num_redelivered == 0
        late = (await psub.fetch(1, timeout=5))[0]
        assert late.data == b"m2" and late.metadata.num_delivered == 2
        info = await js.consumer_info("P", "C")
        assert info.num_redelivered == 1
        await late.ack()
        with pytest.raises(nats.errors.TimeoutError):
            await psub.fetch(1, timeout=1)
    finally:
        await nc.close()


async def test_nak_with_delay(server: ServerProcess) -> None:
    nc, js = await make(server, n=1, ack_wait=30_000_000_000)
    try:
        psub = await js.pull_subscribe_bind("C", "P")
        (m,) = await psub.fetch(1, timeout=5)
        await m.nak(delay=0.6)
        with pytest.raises(nats.errors.TimeoutError):
            await psub.fetch(1, timeout=0.3)
        (again,) = await psub.fetch(1, timeout=3)
        assert again.data == b"m0" and again.metadata.num_delivered == 2
    finally:
        await nc.close()


async def test_max_deliver_stops_redelivery(server: ServerProcess) -> None:
    nc, js = await make(server, n=1, ack_wait=400_000_000, max_deliver=2)
    try:
        psub = await js.pull_subscribe_bind("C", "P")
        deliveries = []
        for _ in range(2):
            (m,) = await psub.fetch(1, timeout=3)
            deliveries.append(m.metadata.num_delivered)
        assert deliveries == [1, 2]
        with pytest.raises(nats.errors.TimeoutError):
            await psub.fetch(1, timeout=1.2)
    finally:
        await nc.close()


async def test_max_ack_pending_and_ack_all(server: ServerProcess) -> None:
    nc, js = await make(server, n=5, max_ack_pending=2, ack_policy="all")
    try:
        first = await raw_next(nc, {"batch": 5, "expires": 300_000_000}, 0.6)
        assert [m.data for m in first[:2]] == [b"m0", b"m1"]
        assert [status(m) for m in first[2:]] == [("408", "Request Timeout")]
        await first[1].ack_sync()
        info = await js.consumer_info("P", "C")
        assert info.num_ack_pending == 0 and info.ack_floor.stream_seq == 2
        more = await raw_next(nc, {"batch": 5, "expires": 300_000_000}, 0.6)
        assert [m.data for m in more[:2]] == [b"m2", b"m3"]
    finally:
        await nc.close()


async def test_pull_waits_for_new_messages(server: ServerProcess) -> None:
    nc, js = await make(server, n=0)
    try:
        task = asyncio.create_task(raw_next(nc, {"batch": 2, "expires": 3_000_000_000}, 1.0))
        await asyncio.sleep(0.3)
        await js.publish("p.x", b"late1")
        await js.publish("p.y", b"late2")
        msgs = await task
        assert [m.data for m in msgs] == [b"late1", b"late2"]
        assert msgs[1].metadata.num_pending == 0 and msgs[1].metadata.sequence.consumer == 2
    finally:
        await nc.close()


async def test_ephemeral_pull_reaped_after_inactivity(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    try:
        await js.add_stream(name="P", subjects=["p.>"], storage="memory")
        cfg = ConsumerConfig(name="E", ack_policy=AckPolicy.NONE, inactive_threshold=0.5)
        await js.add_consumer("P", cfg)
        assert (await js.consumer_info("P", "E")).name == "E"
        await asyncio.sleep(1.5)
        with pytest.raises(nats.js.errors.NotFoundError):
            await js.consumer_info("P", "E")
    finally:
        await nc.close()


async def test_headers_only(server: ServerProcess) -> None:
    nc, js = await make(server, n=2, headers_only=True, ack_policy="none")
    try:
        psub = await js.pull_subscribe_bind("C", "P")
        msgs = await psub.fetch(2, timeout=5)
        assert [m.data for m in msgs] == [b"", b""]
        assert msgs[0].headers == {"k": "0", "Nats-Msg-Size": "2"}
    finally:
        await nc.close()


async def test_ack_next_delivers_to_the_ack_reply(server: ServerProcess) -> None:
    nc, js = await make(server, n=3)
    try:
        (first,) = await raw_next(nc, {"batch": 1}, 0.3)
        assert first.data == b"m0"
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        await nc.publish(first.reply, b'+NXT {"batch":2}', reply=inbox)
        got = [await sub.next_msg(timeout=3) for _ in range(2)]
        assert [m.data for m in got] == [b"m1", b"m2"]
        info = await js.consumer_info("P", "C")
        assert info.ack_floor.stream_seq == 1 and info.num_ack_pending == 2
    finally:
        await nc.close()


async def test_no_wait_blocked_by_max_ack_pending_waits(server: ServerProcess) -> None:
    nc, _ = await make(server, n=4, max_ack_pending=2)
    try:
        got = await raw_next(nc, {"batch": 3, "no_wait": True}, 0.4)
        assert [m.data for m in got] == [b"m0", b"m1"]  # no 404: more messages exist, acks are due
    finally:
        await nc.close()


async def test_pause_and_resume(server: ServerProcess) -> None:
    import datetime

    nc, js = await make(server, n=2)
    try:
        until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1.5)
        resp = await js.pause_consumer("P", "C", until.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        assert resp.paused is True
        info = await api(nc, "CONSUMER.INFO.P.C")
        assert info["paused"] is True and 0 < info["pause_remaining"] <= 1_500_000_000
        assert "pause_until" in info["config"]
        got = await raw_next(nc, {"batch": 1, "expires": 500_000_000}, 0.7)
        assert [status(m) for m in got] == [("408", "Request Timeout")]
        got = await raw_next(nc, {"batch": 1, "expires": 3_000_000_000}, 1.5)
        assert [m.data for m in got] == [b"m0"]  # delivered once the pause ended
        resp = await js.resume_consumer("P", "C")
        assert resp.paused is False
    finally:
        await nc.close()


async def test_reset_resumes_above_ack_floor(server: ServerProcess) -> None:
    nc, js = await make(server, n=4)
    try:
        psub = await js.pull_subscribe_bind("C", "P")
        msgs = await psub.fetch(3, timeout=5)
        await msgs[0].ack_sync()
        await msgs[1].ack_sync()
        reset = await api(nc, "CONSUMER.RESET.P.C")
        assert reset["type"] == "io.nats.jetstream.api.v1.consumer_reset_response"
        assert reset["reset_seq"] == 3 and reset["num_ack_pending"] == 0
        assert reset["ack_floor"]["stream_seq"] == 2 and reset["num_pending"] == 2
        again = await psub.fetch(2, timeout=5)
        assert [m.data for m in again] == [b"m2", b"m3"]
        reset = await api(nc, "CONSUMER.RESET.P.C", {"seq": 2})
        assert reset["reset_seq"] == 2
        (m,) = await psub.fetch(1, timeout=5)
        assert m.data == b"m1"
    finally:
        await nc.close()

"""Message counters (ADR-49): ``allow_msg_counter`` streams, ``Nats-Incr`` and the ``val`` PubAck.

Runs against Orlop and nats-server with the same requests; PubAcks and stored bodies are
compared byte for byte (they carry no timestamps).
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import nats
import pytest

from orlop.testing import ServerProcess


async def api(nc: Any, subject: str, body: Any = b"") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, raw, timeout=5)).data)
    return result


async def pub(nc: Any, subject: str, data: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    msg = await nc.request(subject, data, timeout=5, headers=headers)
    raw: bytes = msg.data
    return raw


def err(code: int, err_code: int, text: str, stream: str = "C") -> bytes:
    body = {"error": {"code": code, "err_code": err_code, "description": text}, "stream": stream, "seq": 0}
    return json.dumps(body, separators=(",", ":")).encode()


async def last_body(nc: Any, stream: str, subject: str) -> tuple[bytes, str]:
    got = await api(nc, f"STREAM.MSG.GET.{stream}", {"last_by_subj": subject})
    m = got["message"]
    return base64.b64decode(m.get("data", "")), base64.b64decode(m.get("hdrs", "")).decode()


async def test_counter_config_rules(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        base = {"name": "C", "subjects": ["c.>"], "allow_msg_counter": True}
        for extra, text in [
            ({"discard": "new"}, "counter stream cannot use discard new"),
            ({"allow_msg_ttl": True}, "counter stream cannot use message TTLs"),
            ({"retention": "workqueue"}, "counter stream can only use limits retention"),
        ]:
            got = await api(nc, "STREAM.CREATE.C", {**base, **extra})
            assert got["error"] == {"code": 500, "err_code": 10052, "description": text}
        created = await api(nc, "STREAM.CREATE.C", base)
        assert created["config"]["allow_msg_counter"] is True
        assert created["config"]["metadata"]["_nats.req.level"] == "2"
        keys = list(created["config"])
        assert keys.index("allow_msg_ttl") < keys.index("allow_msg_counter") < keys.index("metadata")
        upd = await api(nc, "STREAM.UPDATE.C", {**base, "allow_msg_counter": False})
        assert (
            upd["error"]["description"]
            == "stream configuration update can not change message counter setting"
        )
        await api(nc, "STREAM.CREATE.P", {"name": "P", "subjects": ["p.>"]})
        upd = await api(nc, "STREAM.UPDATE.P", {"name": "P", "subjects": ["p.>"], "allow_msg_counter": True})
        assert (
            upd["error"]["description"]
            == "stream configuration update can not change message counter setting"
        )
    finally:
        await nc.close()


async def test_counter_increments_and_errors(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.C", {"name": "C", "subjects": ["c.>"], "allow_msg_counter": True})
        assert await pub(nc, "c.a", headers={"Nats-Incr": "1"}) == b'{"stream":"C","seq":1,"val":"1"}'
        assert await pub(nc, "c.a", headers={"Nats-Incr": "+5"}) == b'{"stream":"C","seq":2,"val":"6"}'
        assert await pub(nc, "c.a", headers={"Nats-Incr": "-10"}) == b'{"stream":"C","seq":3,"val":"-4"}'
        assert await pub(nc, "c.a", headers={"Nats-Incr": "0"}) == b'{"stream":"C","seq":4,"val":"-4"}'
        big = "123456789012345678901234567890"
        assert (
            await pub(nc, "c.b", headers={"Nats-Incr": big})
            == b'{"stream":"C","seq":5,"val":"%s"}' % big.encode()
        )
        body, hdrs = await last_body(nc, "C", "c.a")
        assert body == b'{"val":"-4"}' and "Nats-Incr: 0" in hdrs
        # Every refusal, in nats-server's words.
        invalid = err(400, 10171, "message counter increment is invalid")
        for value in ("1.5", "0x10", "abc", "1_0"):
            assert await pub(nc, "c.a", headers={"Nats-Incr": value}) == invalid, value
        missing = err(400, 10169, "message counter increment is missing")
        assert await pub(nc, "c.a") == missing
        assert await pub(nc, "c.a", headers={"X-Other": "1"}) == missing
        assert await pub(nc, "c.a", headers={"Nats-Incr": ""}) == missing
        assert await pub(nc, "c.a", b"x", {"Nats-Incr": "1"}) == err(
            400, 10170, "message counter has payload"
        )
        for key, value in [
            ("Nats-Rollup", "sub"),
            ("Nats-Expected-Last-Sequence", "5"),
            ("Nats-Expected-Stream", "C"),
            ("Nats-Expected-Last-Subject-Sequence", "4"),
        ]:
            assert await pub(nc, "c.a", headers={"Nats-Incr": "1", key: value}) == invalid, key
        assert await pub(nc, "c.a", headers={"Nats-Incr": "1", "Nats-TTL": "5s"}) == err(
            400, 10166, "per-message TTL is disabled"
        )
        # Msg-id dedup: the duplicate's ack has no val.
        assert (
            await pub(nc, "c.d", headers={"Nats-Incr": "2", "Nats-Msg-Id": "q1"})
            == b'{"stream":"C","seq":6,"val":"2"}'
        )
        assert (
            await pub(nc, "c.d", headers={"Nats-Incr": "2", "Nats-Msg-Id": "q1"})
            == b'{"stream":"C","seq":6,"duplicate": true}'
        )
        # A stream without counters refuses Nats-Incr (an invalid value is checked first).
        await api(nc, "STREAM.CREATE.P", {"name": "P", "subjects": ["p.>"]})
        assert await pub(nc, "p.a", headers={"Nats-Incr": "1"}) == err(
            400, 10168, "message counters is disabled", "P"
        )
        assert await pub(nc, "p.a", headers={"Nats-Incr": "x"}) == err(
            400, 10171, "message counter increment is invalid", "P"
        )
        info = await api(nc, "STREAM.INFO.C")
        assert info["state"]["messages"] == 6
        # A purge of the subject resets its count; history is kept otherwise.
        await api(nc, "STREAM.PURGE.C", {"filter": "c.a"})
        assert await pub(nc, "c.a", headers={"Nats-Incr": "3"}) == b'{"stream":"C","seq":7,"val":"3"}'
    finally:
        await nc.close()


async def test_totals_are_big_integers(server: ServerProcess) -> None:
    """Totals do not overflow 64 bits: they are arbitrary-precision decimals."""
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.C", {"name": "C", "subjects": ["c.>"], "allow_msg_counter": True})
        assert await pub(nc, "c.x", headers={"Nats-Incr": "1"}) == b'{"stream":"C","seq":1,"val":"1"}'
        many = "9" * 60
        ack = json.loads(await pub(nc, "c.x", headers={"Nats-Incr": many}))
        assert ack["val"] == str(int(many) + 1)
        ack = json.loads(await pub(nc, "c.x", headers={"Nats-Incr": "-" + "9" * 61}))
        assert ack["val"] == str(int(many) + 1 - int("9" * 61))
    finally:
        await nc.close()


@pytest.mark.parametrize("tasks,each", [(32, 20)])
async def test_concurrent_incrementers_add_up(server: ServerProcess, tasks: int, each: int) -> None:
    """32 connections increment one subject at once: the total is exact."""
    conns = [await nats.connect(server.url) for _ in range(tasks)]
    try:
        await api(conns[0], "STREAM.CREATE.C", {"name": "C", "subjects": ["c.>"], "allow_msg_counter": True})

        async def work(nc: Any) -> None:
            for _ in range(each):
                ack = json.loads(await pub(nc, "c.hits", headers={"Nats-Incr": "1"}))
                assert "val" in ack

        await asyncio.gather(*(work(nc) for nc in conns))
        body, _ = await last_body(conns[0], "C", "c.hits")
        assert body == b'{"val":"%d"}' % (tasks * each)
        info = await api(conns[0], "STREAM.INFO.C")
        assert info["state"]["messages"] == tasks * each
    finally:
        for nc in conns:
            await nc.close()


async def test_nats_py_counter_api(server: ServerProcess) -> None:
    """nats-py's PubAck reads the counter value."""
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.C", {"name": "C", "subjects": ["c.>"], "allow_msg_counter": True})
        js = nc.jetstream()
        await js.publish("c.n", b"", headers={"Nats-Incr": "41"})
        ack = await js.publish("c.n", b"", headers={"Nats-Incr": "1"})
        assert ack.seq == 2 and ack.stream == "C"
        assert ack.val == "42"
        si = await js.stream_info("C")
        assert si.config.allow_msg_counter is True
    finally:
        await nc.close()

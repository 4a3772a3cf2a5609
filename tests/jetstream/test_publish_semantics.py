"""Publishing into streams: PubAcks, dedup, expected-* headers, rollups, limits, TTL headers.

Runs against Orlop and nats-server; PubAck bodies are compared byte for byte
where nats-server's are stable (they carry no timestamps).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import nats
import pytest
from nats.js.errors import APIError

from orlop.testing import ServerProcess


async def api(nc: Any, subject: str, body: Any = b"") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, raw, timeout=5)).data)
    return result


async def pub(nc: Any, subject: str, data: bytes = b"x", headers: dict[str, str] | None = None) -> bytes:
    msg = await nc.request(subject, data, timeout=5, headers=headers)
    raw: bytes = msg.data
    return raw


def ack_error(stream: str, code: int, err_code: int, description: str) -> dict[str, Any]:
    return {
        "error": {"code": code, "err_code": err_code, "description": description},
        "stream": stream,
        "seq": 0,
    }


async def test_puback_and_msg_id_dedup(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.P", {"name": "P", "subjects": ["p.>"]})
        assert await pub(nc, "p.a") == b'{"stream":"P","seq":1}'
        assert await pub(nc, "p.b", b"y", {"Nats-Msg-Id": "m1"}) == b'{"stream":"P","seq":2}'
        assert (
            await pub(nc, "p.b", b"y", {"Nats-Msg-Id": "m1"}) == b'{"stream":"P","seq":2,"duplicate": true}'
        )
        assert await pub(nc, "p.c", b"z", {"Nats-Msg-Id": "m2"}) == b'{"stream":"P","seq":3}'
        # nats-py's API view of the same.
        js = nc.jetstream()
        ack = await js.publish("p.d", b"w", headers={"Nats-Msg-Id": "m2"})
        assert ack.seq == 3 and ack.duplicate is True and ack.stream == "P"
        info = await api(nc, "STREAM.INFO.P")
        assert info["state"]["messages"] == 3
    finally:
        await nc.close()


async def test_publish_without_reply_is_stored(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.Q", {"name": "Q", "subjects": ["q"]})
        for i in range(5):
            await nc.publish("q", str(i).encode())
        await nc.flush()
        # nats-server stores from its own queue, after the flush: poll briefly.
        deadline = time.monotonic() + 5
        # Until the first one is stored the answer is 10037 "no message found".
        got = await api(nc, "STREAM.MSG.GET.Q", {"last_by_subj": "q"})
        while got.get("message", {}).get("seq", 0) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            got = await api(nc, "STREAM.MSG.GET.Q", {"last_by_subj": "q"})
        assert "message" in got, got
        assert got["message"]["seq"] == 5 and base64.b64decode(got["message"]["data"]) == b"4"
    finally:
        await nc.close()


async def test_expected_headers(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.E", {"name": "E", "subjects": ["e.*"]})
        await pub(nc, "e.a", b"1", {"Nats-Msg-Id": "first"})
        await pub(nc, "e.b", b"2")
        wrong = json.loads(await pub(nc, "e.a", b"x", {"Nats-Expected-Last-Sequence": "1"}))
        assert wrong == ack_error("E", 400, 10071, "wrong last sequence: 2")
        ok = json.loads(await pub(nc, "e.a", b"3", {"Nats-Expected-Last-Sequence": "2"}))
        assert ok == {"stream": "E", "seq": 3}
        subj = json.loads(await pub(nc, "e.b", b"x", {"Nats-Expected-Last-Subject-Sequence": "1"}))
        assert subj == ack_error("E", 400, 10071, "wrong last sequence: 2")
        assert (
            json.loads(await pub(nc, "e.b", b"4", {"Nats-Expected-Last-Subject-Sequence": "2"}))["seq"] == 4
        )
        new_subject = json.loads(await pub(nc, "e.c", b"5", {"Nats-Expected-Last-Subject-Sequence": "0"}))
        assert new_subject == {"stream": "E", "seq": 5}
        stream = json.loads(await pub(nc, "e.a", b"x", {"Nats-Expected-Stream": "OTHER"}))
        assert stream == ack_error("E", 400, 10060, "expected stream does not match")
        last_id = json.loads(await pub(nc, "e.a", b"x", {"Nats-Expected-Last-Msg-Id": "nope"}))
        assert last_id == ack_error("E", 400, 10070, "wrong last msg ID: ")
        await pub(nc, "e.a", b"6", {"Nats-Msg-Id": "sixth"})
        last_id = json.loads(await pub(nc, "e.a", b"x", {"Nats-Expected-Last-Msg-Id": "nope"}))
        assert last_id == ack_error("E", 400, 10070, "wrong last msg ID: sixth")
        assert json.loads(await pub(nc, "e.a", b"7", {"Nats-Expected-Last-Msg-Id": "sixth"}))["seq"] == 7
        js = nc.jetstream()
        with pytest.raises(APIError) as exc:
            await js.publish("e.a", b"x", headers={"Nats-Expected-Last-Sequence": "1"})
        assert exc.value.err_code == 10071
        assert (await api(nc, "STREAM.INFO.E"))["state"]["messages"] == 7
    finally:
        await nc.close()


async def test_rollup(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.R", {"name": "R", "subjects": ["r.*"], "allow_rollup_hdrs": True})
        for i in range(3):
            await pub(nc, "r.a", str(i).encode())
            await pub(nc, "r.b", str(i).encode())
        assert json.loads(await pub(nc, "r.a", b"last", {"Nats-Rollup": "sub"}))["seq"] == 7
        info = await api(nc, "STREAM.INFO.R", {"subjects_filter": ">"})
        assert info["state"]["subjects"] == {"r.a": 1, "r.b": 3}
        got = await api(nc, "STREAM.MSG.GET.R", {"last_by_subj": "r.a"})
        assert got["message"]["seq"] == 7
        assert json.loads(await pub(nc, "r.b", b"all", {"Nats-Rollup": "all"}))["seq"] == 8
        info = await api(nc, "STREAM.INFO.R")
        assert info["state"]["messages"] == 1 and info["state"]["first_seq"] == 8
        bad = json.loads(await pub(nc, "r.b", b"x", {"Nats-Rollup": "bogus"}))
        assert bad == ack_error("R", 500, 10111, 'rollup value invalid: "bogus"')
        await api(nc, "STREAM.CREATE.NR", {"name": "NR", "subjects": ["nr"]})
        denied = json.loads(await pub(nc, "nr", b"x", {"Nats-Rollup": "sub"}))
        assert denied == ack_error("NR", 500, 10111, "rollup not permitted")
    finally:
        await nc.close()


async def test_discard_new_limits(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        cfg = {"name": "L", "subjects": ["l.*"], "max_msgs": 2, "discard": "new", "max_msg_size": 10}
        await api(nc, "STREAM.CREATE.L", cfg)
        await pub(nc, "l.a", b"1")
        await pub(nc, "l.a", b"2")
        full = json.loads(await pub(nc, "l.a", b"3"))
        assert full == ack_error("L", 503, 10077, "maximum messages exceeded")
        big = json.loads(await pub(nc, "l.a", b"0123456789AB"))
        assert big == ack_error("L", 400, 10054, "message size exceeds maximum allowed")
        per = {
            "name": "PS",
            "subjects": ["ps.*"],
            "max_msgs_per_subject": 1,
            "discard": "new",
            "discard_new_per_subject": True,
        }
        await api(nc, "STREAM.CREATE.PS", per)
        await pub(nc, "ps.a", b"1")
        refused = json.loads(await pub(nc, "ps.a", b"2"))
        assert refused == ack_error("PS", 503, 10077, "maximum messages per subject exceeded")
        assert json.loads(await pub(nc, "ps.b", b"1"))["seq"] == 2
        await api(
            nc, "STREAM.CREATE.MB", {"name": "MB", "subjects": ["mb"], "max_bytes": 300, "discard": "new"}
        )
        results = [json.loads(await pub(nc, "mb", b"x" * 100)) for _ in range(4)]
        assert results[0] == {"stream": "MB", "seq": 1}
        assert results[-1] == ack_error("MB", 503, 10077, "maximum bytes exceeded")
    finally:
        await nc.close()


async def test_discard_old_keeps_newest(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.O", {"name": "O", "subjects": ["o"], "max_msgs": 3})
        for i in range(10):
            await pub(nc, "o", str(i).encode())
        state = (await api(nc, "STREAM.INFO.O"))["state"]
        assert (state["messages"], state["first_seq"], state["last_seq"]) == (3, 8, 10)
    finally:
        await nc.close()


async def test_ttl_header_rules(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.NT", {"name": "NT", "subjects": ["nt"]})
        off = json.loads(await pub(nc, "nt", b"x", {"Nats-TTL": "1s"}))
        assert off == ack_error("NT", 400, 10166, "per-message TTL is disabled")
        await api(nc, "STREAM.CREATE.T", {"name": "T", "subjects": ["t.*"], "allow_msg_ttl": True})
        for bad in ("0.5s", "abc", "-3"):
            resp = json.loads(await pub(nc, "t.a", b"x", {"Nats-TTL": bad}))
            assert resp == ack_error("T", 400, 10165, "invalid per-message TTL"), bad
        for good in ("never", "1h", "90", "1m30s"):
            assert "seq" in json.loads(await pub(nc, "t.a", b"x", {"Nats-TTL": good})), good
        got = await api(nc, "STREAM.MSG.GET.T", {"seq": 1})
        assert got["message"]["seq"] == 1
    finally:
        await nc.close()


async def test_headers_stored_verbatim(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.H", {"name": "H", "subjects": ["h"], "allow_direct": True})
        hdrs = {"Foo": "bar", "Nats-Msg-Id": "id-1", "Nats-Expected-Stream": "H"}
        await pub(nc, "h", b"payload", hdrs)
        msg = await nc.request("$JS.API.DIRECT.GET.H", b'{"seq":1}', timeout=5)
        assert msg.data == b"payload"
        assert msg.headers is not None
        for k, v in hdrs.items():
            assert msg.headers[k] == v
        assert msg.headers["Nats-Stream"] == "H" and msg.headers["Nats-Sequence"] == "1"
    finally:
        await nc.close()


async def test_no_ack_stream_stores_without_answering(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.NA", {"name": "NA", "subjects": ["na"], "no_ack": True})
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        await nc.publish("na", b"quiet", reply=inbox)
        with pytest.raises(nats.errors.TimeoutError):
            await sub.next_msg(timeout=0.5)
        assert (await api(nc, "STREAM.INFO.NA"))["state"]["messages"] == 1
    finally:
        await nc.close()

"""STREAM.MSG.GET and DIRECT.GET (single, subject-appended, batch, multi_last) on both servers."""

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


async def seeded(server: ServerProcess) -> Any:
    """A connection with stream S on s.> holding a0 b0 a1 b1 a2 b2 (seq 1-6) and s.h (seq 7, headers)."""
    nc = await nats.connect(server.url)
    await api(nc, "STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"], "allow_direct": True})
    for i in range(3):
        await nc.request("s.a", b"a%d" % i, timeout=5)
        await nc.request("s.b", b"b%d" % i, timeout=5)
    await nc.request("s.h", b"h", timeout=5, headers={"Foo": "bar"})
    return nc


async def test_msg_get_variants(server: ServerProcess) -> None:
    nc = await seeded(server)
    try:
        m = (await api(nc, "STREAM.MSG.GET.S", {"seq": 1}))["message"]
        assert (m["subject"], m["seq"], base64.b64decode(m["data"])) == ("s.a", 1, b"a0")
        assert "hdrs" not in m and m["time"].endswith("Z")
        h = (await api(nc, "STREAM.MSG.GET.S", {"seq": 7}))["message"]
        assert base64.b64decode(h["hdrs"]) == b"NATS/1.0\r\nFoo: bar\r\n\r\n"
        last = (await api(nc, "STREAM.MSG.GET.S", {"last_by_subj": "s.a"}))["message"]
        assert last["seq"] == 5
        wild = (await api(nc, "STREAM.MSG.GET.S", {"last_by_subj": "s.*"}))["message"]
        assert wild["seq"] == 7
        nxt = (await api(nc, "STREAM.MSG.GET.S", {"next_by_subj": "s.b", "seq": 3}))["message"]
        assert nxt["seq"] == 4
    finally:
        await nc.close()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"seq": 99}, (404, 10037, "no message found")),
        ({"last_by_subj": "s.zz"}, (404, 10037, "no message found")),
        (b"", (400, 10003, "bad request")),
        ({"seq": 1, "last_by_subj": "s.a"}, (400, 10003, "bad request")),
        ({"seq": 1, "batch": 2}, (400, 10003, "bad request")),
        ({"bogus": 1}, (400, 10025, 'invalid JSON: json: unknown field "bogus"')),
    ],
)
async def test_msg_get_errors(server: ServerProcess, body: Any, expected: tuple[int, int, str]) -> None:
    nc = await seeded(server)
    try:
        resp = await api(nc, "STREAM.MSG.GET.S", body)
        e = resp["error"]
        assert (e["code"], e["err_code"], e["description"]) == expected
        assert resp["type"] == "io.nats.jetstream.api.v1.stream_msg_get_response"
    finally:
        await nc.close()


async def test_direct_get_single_and_subject_form(server: ServerProcess) -> None:
    nc = await seeded(server)
    try:
        m = await nc.request("$JS.API.DIRECT.GET.S", b'{"seq":7}', timeout=5)
        assert m.data == b"h"
        assert m.headers is not None
        assert m.headers["Foo"] == "bar" and m.headers["Nats-Stream"] == "S"
        assert m.headers["Nats-Subject"] == "s.h" and m.headers["Nats-Sequence"] == "7"
        assert m.headers["Nats-Time-Stamp"].endswith("Z")
        last = await nc.request("$JS.API.DIRECT.GET.S.s.b", b"", timeout=5)
        assert last.data == b"b2" and last.headers is not None and last.headers["Nats-Sequence"] == "6"
        wild = await nc.request("$JS.API.DIRECT.GET.S.s.*", b"", timeout=5)
        assert wild.headers is not None and wild.headers["Nats-Sequence"] == "7"
    finally:
        await nc.close()


@pytest.mark.parametrize(
    ("subject", "body", "status", "description"),
    [
        ("$JS.API.DIRECT.GET.S", b'{"seq":99}', "404", "Message Not Found"),
        ("$JS.API.DIRECT.GET.S.s.zz", b"", "404", "Message Not Found"),
        ("$JS.API.DIRECT.GET.S", b"", "408", "Empty Request"),
        ("$JS.API.DIRECT.GET.S", b"{bad", "408", "Malformed Request"),
        ("$JS.API.DIRECT.GET.S", b'{"seq":1,"last_by_subj":"s.a"}', "408", "Bad Request"),
        ("$JS.API.DIRECT.GET.S.s.a", b'{"seq":1}', "408", "Bad Request"),
    ],
)
async def test_direct_get_status_replies(
    server: ServerProcess, subject: str, body: bytes, status: str, description: str
) -> None:
    nc = await seeded(server)
    try:
        m = await nc.request(subject, body, timeout=5)
        assert m.data == b""
        assert m.headers is not None
        assert m.headers["Status"] == status and m.headers["Description"] == description
    finally:
        await nc.close()


async def collect(nc: Any, body: dict[str, Any]) -> list[Any]:
    """Send a batched direct get and read replies until a 204/404 status."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish("$JS.API.DIRECT.GET.S", json.dumps(body).encode(), reply=inbox)
    out = []
    while True:
        m = await asyncio.wait_for(sub.next_msg(), 5)
        out.append(m)
        if m.headers and m.headers.get("Status") in ("204", "404", "408"):
            break
    await sub.unsubscribe()
    return out


async def test_direct_get_batch(server: ServerProcess) -> None:
    nc = await seeded(server)
    try:
        msgs = await collect(nc, {"seq": 1, "batch": 3})
        assert [m.data for m in msgs[:3]] == [b"a0", b"b0", b"a1"]
        assert [m.headers["Nats-Num-Pending"] for m in msgs[:3]] == ["6", "5", "4"]
        assert [m.headers["Nats-Last-Sequence"] for m in msgs[:3]] == ["0", "1", "2"]
        eob = msgs[3].headers
        assert (eob["Status"], eob["Description"]) == ("204", "EOB")
        assert (eob["Nats-Num-Pending"], eob["Nats-Last-Sequence"]) == ("4", "3")
        filtered = await collect(nc, {"seq": 2, "batch": 10, "next_by_subj": "s.a"})
        assert [m.data for m in filtered[:-1]] == [b"a1", b"a2"]
        assert filtered[-1].headers["Nats-Num-Pending"] == "0"
        missing = await collect(nc, {"seq": 100, "batch": 3})
        assert missing[0].headers["Status"] == "404"
    finally:
        await nc.close()


async def test_direct_get_multi_last(server: ServerProcess) -> None:
    nc = await seeded(server)
    try:
        msgs = await collect(nc, {"multi_last": ["s.a", "s.b"]})
        assert [m.data for m in msgs[:-1]] == [b"a2", b"b2"]
        assert [m.headers["Nats-Sequence"] for m in msgs[:-1]] == ["5", "6"]
        eob = msgs[-1].headers
        assert eob["Status"] == "204" and eob["Nats-UpTo-Sequence"] == "7"
        wild = await collect(nc, {"multi_last": ["s.>"], "batch": 2})
        assert [m.headers["Nats-Subject"] for m in wild[:-1]] == ["s.a", "s.b"]
        assert wild[-1].headers["Nats-Num-Pending"] == "1"
        past = await collect(nc, {"multi_last": ["s.a"], "up_to_seq": 3})
        assert past[0].data == b"a1" and past[-1].headers["Nats-UpTo-Sequence"] == "3"
        none = await collect(nc, {"multi_last": ["s.zz"]})
        assert (none[0].headers["Status"], none[0].headers["Description"]) == ("404", "No Results")
    finally:
        await nc.close()


async def test_nats_py_get_msg_direct_and_api(server: ServerProcess) -> None:
    nc = await seeded(server)
    js = nc.jetstream()
    try:
        via_api = await js.get_msg("S", seq=7)
        assert via_api.data == b"h" and via_api.headers == {"Foo": "bar"}
        direct = await js.get_msg("S", subject="s.a", direct=True)
        assert direct.data == b"a2" and direct.seq == 5
        last = await js.get_last_msg("S", "s.b")
        assert last.seq == 6
    finally:
        await nc.close()

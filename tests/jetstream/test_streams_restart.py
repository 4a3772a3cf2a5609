"""Streams, messages and configs survive a server restart (graceful and SIGKILL).

Runs against both servers; the file layout is each server's own business, the
client-visible result must match.
"""

from __future__ import annotations

import json
from typing import Any

import nats

from orlop.testing import ServerProcess


async def api(nc: Any, subject: str, body: Any = b"") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, raw, timeout=5)).data)
    return result


async def test_restart_keeps_streams_and_messages(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    cfg = {"name": "KEEP", "subjects": ["keep.*"], "max_msgs_per_subject": 3, "description": "kept"}
    created = await api(nc, "STREAM.CREATE.KEEP", cfg)
    await api(nc, "STREAM.CREATE.MEM", {"name": "MEM", "subjects": ["mem"], "storage": "memory"})
    for i in range(10):
        await nc.request(f"keep.{i % 2}", b"payload-%d" % i, timeout=5, headers={"Nats-Msg-Id": f"id{i}"})
    await nc.request("mem", b"m", timeout=5)
    await api(nc, "STREAM.MSG.DELETE.KEEP", {"seq": 9})
    await nc.close()

    server.restart()
    nc = await nats.connect(server.url)
    try:
        info = await api(nc, "STREAM.INFO.KEEP", {"subjects_filter": ">"})
        assert info["config"]["description"] == "kept" and info["config"]["max_msgs_per_subject"] == 3
        assert info["created"] == created["created"]
        st = info["state"]
        assert (st["messages"], st["first_seq"], st["last_seq"]) == (5, 5, 10)
        assert st["subjects"] == {"keep.0": 2, "keep.1": 3}
        m = await api(nc, "STREAM.MSG.GET.KEEP", {"seq": 10})
        assert m["message"]["subject"] == "keep.1"
        # Dedup survives too (within the window), and sequences continue.
        dup = await nc.request("keep.1", b"again", timeout=5, headers={"Nats-Msg-Id": "id9"})
        assert json.loads(dup.data) == {"stream": "KEEP", "seq": 10, "duplicate": True}
        new = await nc.request("keep.1", b"new", timeout=5)
        assert json.loads(new.data)["seq"] == 11
        names = await api(nc, "STREAM.NAMES")
        assert names["streams"] == ["KEEP"]  # memory streams do not survive a restart
    finally:
        await nc.close()


async def test_kill_keeps_acknowledged_messages(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    await api(nc, "STREAM.CREATE.K", {"name": "K", "subjects": ["k"]})
    for i in range(50):
        ack = json.loads((await nc.request("k", b"%d" % i, timeout=5)).data)
        assert ack["seq"] == i + 1
    await nc.close()
    server.restart(kill=True)
    nc = await nats.connect(server.url)
    try:
        st = (await api(nc, "STREAM.INFO.K"))["state"]
        assert (st["messages"], st["last_seq"]) == (50, 50)
        last = await api(nc, "STREAM.MSG.GET.K", {"seq": 50})
        assert last["message"]["data"] == "NDk="  # b"49"
    finally:
        await nc.close()

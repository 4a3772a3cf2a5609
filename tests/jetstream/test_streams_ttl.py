"""Message expiry: per-message TTL (ADR-43), subject delete markers and max_age.

One short real-time test per behaviour runs against both servers; the rest
drive Orlop's injected clock in-process, so nothing sleeps waiting for expiry.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import nats

from orlop.server.embed import start_server
from orlop.server.jetstream import JetStreamService
from orlop.testing import ServerProcess


async def api(nc: Any, subject: str, body: Any = b"") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, raw, timeout=5)).data)
    return result


async def wait_for(predicate: Any, timeout: float = 6.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_ttl_expires(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.T", {"name": "T", "subjects": ["t.*"], "allow_msg_ttl": True})
        await nc.request("t.keep", b"k", timeout=5)
        await nc.request("t.gone", b"g", timeout=5, headers={"Nats-TTL": "1s"})
        await nc.request("t.never", b"n", timeout=5, headers={"Nats-TTL": "never"})

        async def expired() -> bool:
            return "error" in await api(nc, "STREAM.MSG.GET.T", {"seq": 2})

        assert await wait_for(expired)
        state = (await api(nc, "STREAM.INFO.T", {"subjects_filter": ">"}))["state"]
        assert state["subjects"] == {"t.keep": 1, "t.never": 1}
    finally:
        await nc.close()


async def test_ttl_expiry_leaves_marker(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        # nats-server holds TTL'd messages at least subject_delete_marker_ttl; 3s keeps both quick.
        cfg = {"name": "T", "subjects": ["t.*"], "subject_delete_marker_ttl": 3_000_000_000}
        resp = await api(nc, "STREAM.CREATE.T", cfg)
        assert resp["config"]["allow_msg_ttl"] is True and resp["config"]["allow_rollup_hdrs"] is True
        await nc.request("t.keep", b"k", timeout=5)
        await nc.request("t.gone", b"g", timeout=5, headers={"Nats-TTL": "1s"})

        async def expired() -> bool:
            got = await api(nc, "STREAM.MSG.GET.T", {"seq": 2})
            return "error" in got

        assert await wait_for(expired)
        marker = await api(nc, "STREAM.MSG.GET.T", {"last_by_subj": "t.gone"})
        assert marker["message"]["seq"] == 3 and "data" not in marker["message"]
        hdrs = base64.b64decode(marker["message"]["hdrs"])
        assert hdrs == b"NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: 3s\r\nNats-Rollup: sub\r\n\r\n"
        state = (await api(nc, "STREAM.INFO.T", {"subjects_filter": ">"}))["state"]
        assert state["subjects"] == {"t.keep": 1, "t.gone": 1}
    finally:
        await nc.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time_ns()

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1_000_000_000)


async def start_with_clock(tmp_path: Path, clock: FakeClock) -> tuple[Any, JetStreamService]:
    srv = await start_server(store_dir=str(tmp_path), jetstream=False)
    svc = JetStreamService(srv, clock=clock)
    await svc.start()
    return srv, svc


async def test_fake_clock_max_age_and_ttl(tmp_path: Path) -> None:
    clock = FakeClock()
    srv, svc = await start_with_clock(tmp_path, clock)
    nc = await nats.connect(srv.url)
    try:
        await api(nc, "STREAM.CREATE.A", {"name": "A", "subjects": ["a.*"], "max_age": 60_000_000_000,
                                          "allow_msg_ttl": True})  # fmt: skip
        await nc.request("a.old", b"1", timeout=5)
        await nc.request("a.ttl", b"2", timeout=5, headers={"Nats-TTL": "10s"})
        await nc.request("a.never", b"3", timeout=5, headers={"Nats-TTL": "never"})
        clock.advance(11)
        assert svc.expire_all() == 1
        state = (await api(nc, "STREAM.INFO.A", {"subjects_filter": ">"}))["state"]
        assert state["subjects"] == {"a.old": 1, "a.never": 1}
        clock.advance(60)
        svc.expire_all()
        state = (await api(nc, "STREAM.INFO.A", {"subjects_filter": ">"}))["state"]
        assert state["subjects"] == {"a.never": 1} and state["first_seq"] == 3
        # Dedup window follows the same clock.
        await api(nc, "STREAM.CREATE.D", {"name": "D", "subjects": ["d"], "duplicate_window": 5_000_000_000})
        first = json.loads((await nc.request("d", b"x", timeout=5, headers={"Nats-Msg-Id": "i"})).data)
        dup = json.loads((await nc.request("d", b"x", timeout=5, headers={"Nats-Msg-Id": "i"})).data)
        assert dup == {"stream": "D", "seq": first["seq"], "duplicate": True}
        clock.advance(6)
        again = json.loads((await nc.request("d", b"x", timeout=5, headers={"Nats-Msg-Id": "i"})).data)
        assert again == {"stream": "D", "seq": 2}
    finally:
        await nc.close()
        await svc.shutdown()
        await srv.shutdown()


async def test_fake_clock_markers_expire_without_new_markers_across_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    srv, svc = await start_with_clock(tmp_path, clock)
    nc = await nats.connect(srv.url)
    try:
        cfg = {"name": "M", "subjects": ["m.*"], "subject_delete_marker_ttl": 5_000_000_000}
        await api(nc, "STREAM.CREATE.M", cfg)
        await nc.request("m.k", b"v", timeout=5, headers={"Nats-TTL": "10s"})
        clock.advance(11)
        svc.expire_all()
        marker = await api(nc, "STREAM.MSG.GET.M", {"last_by_subj": "m.k"})
        assert marker["message"]["seq"] == 2
        # Restart JetStream on the same directory: the marker is recognised again.
        await svc.shutdown()
        svc = JetStreamService(srv, clock=clock)
        await svc.start()
        clock.advance(6)
        svc.expire_all()
        state = (await api(nc, "STREAM.INFO.M"))["state"]
        assert (state["messages"], state["last_seq"]) == (0, 2)
    finally:
        await nc.close()
        await svc.shutdown()
        await srv.shutdown()

"""Message schedules (ADR-51): ``allow_msg_schedules`` streams and the ``Nats-Schedule*`` headers.

Runs against Orlop and nats-server with the same requests (the last test drives Orlop's
injected clock in-process, so it fires schedules without waiting). Error PubAcks and the
produced messages' headers are compared as text; ``Nats-Schedule-Next`` timestamps
are compared by format only (they depend on when the test runs). Firing happens in
real time here (nats-server has no other clock), so each wait is a short poll.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest

from orlop.server.embed import start_server
from orlop.server.jetstream import JetStreamService
from orlop.testing import ServerProcess


async def api(nc: Any, subject: str, body: Any = b"") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, raw, timeout=5)).data)
    return result


async def pub(
    nc: Any, subject: str, data: bytes = b"", headers: dict[str, str] | None = None
) -> dict[str, Any]:
    msg = await nc.request(subject, data, timeout=5, headers=headers)
    result: dict[str, Any] = json.loads(msg.data)
    return result


async def last(nc: Any, subject: str, stream: str = "S") -> tuple[int, str, bytes] | None:
    """(seq, headers, body) of the last message on ``subject``, None when there is none."""
    got = await api(nc, f"STREAM.MSG.GET.{stream}", {"last_by_subj": subject})
    if "error" in got:
        return None
    m = got["message"]
    return m["seq"], base64.b64decode(m.get("hdrs", "")).decode(), base64.b64decode(m.get("data", ""))


async def subjects(nc: Any, stream: str = "S") -> dict[str, int]:
    state = (await api(nc, f"STREAM.INFO.{stream}", {"subjects_filter": ">"}))["state"]
    found: dict[str, int] = state.get("subjects", {})
    return found


async def poll(predicate: Callable[[], Awaitable[bool]], timeout: float = 2.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.05)
    return await predicate()


def at(delta_s: float) -> str:
    """``@at`` an RFC3339 time ``delta_s`` from now (whole seconds, UTC)."""
    return "@at " + (datetime.now(UTC) + timedelta(seconds=delta_s)).strftime("%Y-%m-%dT%H:%M:%SZ")


SCHED = {"name": "S", "subjects": ["s.>"], "allow_msg_schedules": True}
NEXT_UTC = re.compile(r"Nats-Schedule-Next: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\r\n")


async def test_config_forces_rollups_and_refuses_conflicts(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        got = await api(nc, "STREAM.CREATE.S", {**SCHED, "allow_rollup_hdrs": False, "deny_purge": True})
        cfg = got["config"]
        assert (cfg["allow_msg_schedules"], cfg["allow_rollup_hdrs"], cfg["deny_purge"]) == (
            True,
            True,
            False,
        )
        assert cfg["metadata"]["_nats.req.level"] == "2"
        upd = await api(nc, "STREAM.UPDATE.S", {**SCHED, "allow_msg_schedules": False})
        assert upd["error"] == {
            "code": 500,
            "err_code": 10052,
            "description": "message schedules can not be disabled",
        }
        for extra, text in [
            ({"pedantic": True}, "message scheduling cannot be set if roll-ups are disabled"),
            ({"discard": "new"}, "message scheduling cannot use discard new"),
            ({"allow_msg_counter": True}, "counter stream cannot use message schedules"),
        ]:
            got = await api(
                nc, "STREAM.CREATE.T", {"name": "T", "subjects": ["t"], "allow_msg_schedules": True, **extra}
            )
            assert got["error"] == {"code": 500, "err_code": 10052, "description": text}, extra
        # Schedules can be turned on by an update.
        await api(nc, "STREAM.CREATE.U", {"name": "U", "subjects": ["u.>"]})
        upd = await api(
            nc, "STREAM.UPDATE.U", {"name": "U", "subjects": ["u.>"], "allow_msg_schedules": True}
        )
        assert upd["config"]["allow_msg_schedules"] is True and upd["config"]["allow_rollup_hdrs"] is True
        ack = await pub(nc, "u.sched", b"", {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "u.t"})
        assert ack == {"stream": "U", "seq": 1}
    finally:
        await nc.close()


T = {"Nats-Schedule-Target": "s.tgt"}
EVERY = {"Nats-Schedule": "@every 1h", **T}
PUBLISH_ERRORS: list[tuple[str, dict[str, str], int]] = [
    ("s.a", {"Nats-Schedule-Time-Zone": "Mars/Base"}, 10223),
    ("s.a", {"Nats-Schedule-Time-Zone": ""}, 10223),
    ("s.a", {"Nats-Schedule": "0 0 * * * *", "Nats-Schedule-Time-Zone": "+01:00", **T}, 10223),
    ("s.a", {"Nats-Schedule": "@at nope", **T}, 10189),
    ("s.a", {"Nats-Schedule": "@at 2026-02-30T00:00:00Z", **T}, 10189),
    ("s.a", {"Nats-Schedule": "@every 500ms", **T}, 10189),
    ("s.a", {"Nats-Schedule": "@every soon", **T}, 10189),
    ("s.a", {"Nats-Schedule": "* * * * *", **T}, 10189),
    ("s.a", {"Nats-Schedule": "0 60 * * * *", **T}, 10189),
    ("s.a", {"Nats-Schedule": "0 0 0 30 2 *", **T}, 10189),
    ("s.a", {"Nats-Schedule": "@weekly-ish", **T}, 10189),
    ("s.a", {"Nats-Schedule": "@every 1s", "Nats-Schedule-Time-Zone": "UTC", **T}, 10189),
    ("s.a", {**EVERY, "Nats-Schedule-TTL": "abc"}, 10191),
    ("s.a", {**EVERY, "Nats-Schedule-Rollup": "all"}, 10192),
    ("s.a", {**EVERY, "Nats-Schedule-TTL": "5m"}, 10166),
    ("s.a", {"Nats-Schedule": "@every 1h"}, 10190),
    ("s.a", {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "s.*"}, 10190),
    ("s.a", {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "s.a"}, 10190),
    ("s.a", {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "other.x"}, 10190),
    ("s.a", {**EVERY, "Nats-Schedule-Source": "s.tgt"}, 10203),
    ("s.a", {**EVERY, "Nats-Schedule-Source": "s.a"}, 10203),
    ("s.a", {**EVERY, "Nats-Schedule-Source": "s.>"}, 10203),
    ("s.a", {**EVERY, "Nats-Schedule-Source": "other.x"}, 10203),
    ("s.a", {**EVERY, "Nats-Rollup": "all"}, 10192),
    ("s.a", {"Nats-Schedule-Next": "soon", "Nats-Scheduler": "s.x"}, 10212),
    ("s.a", {"Nats-Schedule-Next": "purge"}, 10212),
    ("s.a", {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "s.a"}, 10212),
    ("s.a", {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "s.plain"}, 10212),
    ("s.a", {"Nats-Scheduler": "s.x"}, 10212),
    ("p.a", {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "p.t"}, 10188),
    ("p.a", {"Nats-Schedule": "@every 1ms", "Nats-Schedule-Target": "p.t"}, 10188),
    ("p.a", {"Nats-Schedule-Time-Zone": "Mars/Base"}, 10188),
    ("p.a", {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "p.x"}, 10188),
    ("p.a", {"Nats-Schedule-Next": "soon", "Nats-Scheduler": "p.x"}, 10212),
    ("p.a", {"Nats-Scheduler": "p.x"}, 10212),
]
TEXTS = {
    10166: "per-message TTL is disabled",
    10188: "message schedules is disabled",
    10189: "message schedules pattern is invalid",
    10190: "message schedules target is invalid",
    10191: "message schedules invalid per-message TTL",
    10192: "message schedules invalid rollup",
    10203: "message schedules source is invalid",
    10212: "message schedules invalid scheduler",
    10223: "message schedules time zone is invalid",
}


async def test_publish_errors(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.S", SCHED)
        await api(nc, "STREAM.CREATE.P", {"name": "P", "subjects": ["p.>"]})
        await pub(nc, "s.plain", b"not a schedule")
        for subject, hdrs, code in PUBLISH_ERRORS:
            got = await pub(nc, subject, b"x", hdrs)
            assert "error" in got, (subject, hdrs, got)
            assert got["error"]["err_code"] == code, (subject, hdrs, got)
            assert got["stream"] == subject[0].upper() and got["seq"] == 0
            assert got["error"] == {"code": 400, "err_code": code, "description": TEXTS[code]}
        # Accepted: a cancel of a subject that holds nothing, an empty pattern, a valid lone time zone.
        ok = await pub(nc, "s.cancel", b"", {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "s.none"})
        assert ok == {"stream": "S", "seq": 2}
        ok = await pub(nc, "s.empty", b"", {"Nats-Schedule": "", **T})
        assert ok == {"stream": "S", "seq": 3}
        ok = await pub(nc, "s.tz", b"", {"Nats-Schedule-Time-Zone": "Europe/Paris"})
        assert ok == {"stream": "S", "seq": 4}
        stored = await last(nc, "s.empty")
        assert stored is not None and "Nats-Rollup" not in stored[1]
        assert await subjects(nc) == {"s.plain": 1, "s.cancel": 1, "s.empty": 1, "s.tz": 1}
    finally:
        await nc.close()


async def test_at_in_the_past_fires_once(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.S", {**SCHED, "allow_msg_ttl": True})
        hdrs = {
            "Nats-Schedule": "@at 2020-01-01T00:00:00Z",
            "Nats-Schedule-Target": "s.tgt",
            "X-App": "1",
            "Nats-Msg-Id": "m1",
            "Nats-Schedule-TTL": "5m",
            "Nats-Schedule-Rollup": "sub",
        }
        assert await pub(nc, "s.sched.one", b"hello", hdrs) == {"stream": "S", "seq": 1}
        stored = await last(nc, "s.sched.one")
        assert stored is not None and stored[1].endswith(
            "Nats-Schedule-Rollup: sub\r\nNats-Rollup: sub\r\n\r\n"
        )

        async def fired() -> bool:
            return await last(nc, "s.tgt") is not None

        assert await poll(fired)
        produced = await last(nc, "s.tgt")
        assert produced == (
            2,
            "NATS/1.0\r\nX-App: 1\r\nNats-Scheduler: s.sched.one\r\nNats-Schedule-Next: purge\r\n"
            "Nats-TTL: 5m\r\nNats-Rollup: sub\r\n\r\n",
            b"hello",
        )
        assert await subjects(nc) == {"s.tgt": 1}  # the @at schedule is purged after firing
        await asyncio.sleep(0.5)
        assert (await api(nc, "STREAM.INFO.S"))["state"]["last_seq"] == 2
    finally:
        await nc.close()


async def test_every_repeats_and_is_replaced(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.S", SCHED)
        hdrs = {
            "Nats-Schedule": "@every 1s",
            "Nats-Schedule-Target": "s.tick",
            "Nats-Expected-Last-Sequence": "0",
        }
        assert await pub(nc, "s.sched.every", b"tick", hdrs) == {"stream": "S", "seq": 1}

        async def two() -> bool:
            return (await subjects(nc)).get("s.tick", 0) >= 2

        assert await poll(two, timeout=3.5)
        produced = await last(nc, "s.tick")
        assert produced is not None and produced[2] == b"tick"
        assert produced[1].startswith("NATS/1.0\r\nNats-Scheduler: s.sched.every\r\n")
        assert NEXT_UTC.search(produced[1]) and produced[1].endswith("Z\r\n\r\n")
        # A new schedule on the same subject replaces the old one (rollup), a plain message ends it.
        await pub(
            nc, "s.sched.every", b"tock", {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "s.tick"}
        )
        assert (await subjects(nc))["s.sched.every"] == 1
        await pub(
            nc, "s.sched.other", b"x", {"Nats-Schedule": "@every 1s", "Nats-Schedule-Target": "s.other"}
        )
        await pub(nc, "s.sched.other", b"plain")
        before = (await subjects(nc)).get("s.tick", 0)
        await asyncio.sleep(1.5)
        found = await subjects(nc)
        assert found.get("s.tick", 0) == before and "s.other" not in found
    finally:
        await nc.close()


async def test_cron_with_time_zone(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.S", SCHED)
        hdrs = {
            "Nats-Schedule": "* * * * * *",
            "Nats-Schedule-Time-Zone": "Asia/Kolkata",
            "Nats-Schedule-Target": "s.c",
        }
        assert await pub(nc, "s.sched.cron", b"c", hdrs) == {"stream": "S", "seq": 1}

        async def fired() -> bool:
            return await last(nc, "s.c") is not None

        assert await poll(fired)
        produced = await last(nc, "s.c")
        assert produced is not None and produced[2] == b"c"
        assert re.fullmatch(
            r"NATS/1\.0\r\nNats-Scheduler: s\.sched\.cron\r\n"
            r"Nats-Schedule-Next: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30\r\n\r\n",
            produced[1],
        )
        cancel = {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "s.sched.cron"}
        assert (await pub(nc, "s.stop", b"", cancel))["stream"] == "S"
    finally:
        await nc.close()


@pytest.mark.parametrize("with_source", [True, False])
async def test_source_content(server: ServerProcess, with_source: bool) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.S", SCHED)
        if with_source:
            await pub(nc, "s.src", b"old")
            await pub(
                nc, "s.src", b"latest", {"X-Src": "yes", "Nats-Msg-Id": "src-2", "Nats-Expected-Stream": "S"}
            )
        hdrs = {"Nats-Schedule": "@at 2020-01-01T00:00:00Z", "Nats-Schedule-Target": "s.out"}
        await pub(nc, "s.sched", b"own", {**hdrs, "Nats-Schedule-Source": "s.src", "X-Own": "1"})

        async def fired() -> bool:
            return await last(nc, "s.out") is not None

        assert await poll(fired)
        produced = await last(nc, "s.out")
        assert produced is not None
        if with_source:
            assert produced[1:] == (
                "NATS/1.0\r\nX-Src: yes\r\nNats-Scheduler: s.sched\r\nNats-Schedule-Next: purge\r\n\r\n",
                b"latest",
            )
        else:
            assert produced[1:] == (
                "NATS/1.0\r\nX-Own: 1\r\nNats-Scheduler: s.sched\r\nNats-Schedule-Next: purge\r\n\r\n",
                b"own",
            )
    finally:
        await nc.close()


async def test_cancel_and_delete_stop_schedules(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.S", SCHED)
        await pub(nc, "s.sched.a", b"a", {"Nats-Schedule": "@every 1s", "Nats-Schedule-Target": "s.out.a"})
        await pub(nc, "s.sched.b", b"b", {"Nats-Schedule": "@every 1s", "Nats-Schedule-Target": "s.out.b"})
        cancel = {"Nats-Schedule-Next": "purge", "Nats-Scheduler": "s.sched.a", "X-Why": "done"}
        assert await pub(nc, "s.cancel", b"", cancel) == {"stream": "S", "seq": 3}
        assert (await api(nc, "STREAM.MSG.DELETE.S", {"seq": 2}))["success"] is True
        await asyncio.sleep(1.6)
        assert await subjects(nc) == {"s.cancel": 1}
        stored = await last(nc, "s.cancel")
        assert stored is not None
        assert (
            stored[1]
            == "NATS/1.0\r\nNats-Schedule-Next: purge\r\nNats-Scheduler: s.sched.a\r\nX-Why: done\r\n\r\n"
        )
    finally:
        await nc.close()


async def test_restart_fires_overdue_at(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    await api(nc, "STREAM.CREATE.S", SCHED)
    await pub(nc, "s.later", b"after restart", {"Nats-Schedule": at(3), "Nats-Schedule-Target": "s.done"})
    await pub(nc, "s.hourly", b"h", {"Nats-Schedule": "@every 1h", "Nats-Schedule-Target": "s.h"})
    await pub(nc, "s.often", b"o", {"Nats-Schedule": "@every 2s", "Nats-Schedule-Target": "s.tick"})
    await nc.close()
    server.stop()
    await asyncio.sleep(3)
    server.start()
    nc = await nats.connect(server.url)
    try:

        async def fired() -> bool:
            found = await subjects(nc)
            return "s.done" in found and "s.tick" in found

        # Both were due during the downtime: each fires once right after the start.
        assert await poll(fired, timeout=3.0)
        assert await subjects(nc) == {"s.hourly": 1, "s.often": 1, "s.done": 1, "s.tick": 1}
        produced = await last(nc, "s.done")
        assert produced is not None and produced[1:] == (
            "NATS/1.0\r\nNats-Scheduler: s.later\r\nNats-Schedule-Next: purge\r\n\r\n",
            b"after restart",
        )
    finally:
        await nc.close()


class FakeClock:
    def __init__(self, start: str) -> None:
        self.now = int(datetime.fromisoformat(start).timestamp()) * 1_000_000_000 + 200_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1_000_000_000)


async def test_fake_clock_fires_and_recovers_without_sleeping(tmp_path: Path) -> None:
    """Orlop only: the injected clock drives firing (``fire_schedules``) and the rebuilt table."""
    clock = FakeClock("2026-12-03T10:00:00+00:00")  # plus 0.2 s
    srv = await start_server(store_dir=str(tmp_path), jetstream=False)
    svc = JetStreamService(srv, clock=clock)
    await svc.start()
    nc = await nats.connect(srv.url)
    try:
        await api(nc, "STREAM.CREATE.S", SCHED)
        await pub(nc, "s.every", b"e", {"Nats-Schedule": "@every 10s", "Nats-Schedule-Target": "s.e"})
        at_hdrs = {"Nats-Schedule": "@at 2026-12-03T10:01:00Z", "Nats-Schedule-Target": "s.a"}
        await pub(nc, "s.at", b"a", at_hdrs)
        paris = {"Nats-Schedule-Time-Zone": "Europe/Paris", "Nats-Schedule-Target": "s.c"}
        await pub(nc, "s.cron", b"c", {"Nats-Schedule": "0 30 * * * *", **paris})
        assert svc.fire_schedules() == 0
        clock.advance(10)
        assert svc.fire_schedules() == 1
        produced = await last(nc, "s.e")
        assert produced == (
            4,
            "NATS/1.0\r\nNats-Scheduler: s.every\r\nNats-Schedule-Next: 2026-12-03T10:00:20Z\r\n\r\n",
            b"e",
        )
        # An hour later all three are due: each fires once, in stream order; @every skips ahead.
        clock.advance(3600)
        assert svc.fire_schedules() == 3
        nexts = [(await last(nc, s)) for s in ("s.e", "s.a", "s.c")]
        assert [(n[0], n[1].split("Nats-Schedule-Next: ")[1]) for n in nexts if n] == [
            (5, "2026-12-03T11:00:20Z\r\n\r\n"),
            (6, "purge\r\n\r\n"),
            (7, "2026-12-03T12:30:00+01:00\r\n\r\n"),
        ]
        assert await subjects(nc) == {"s.every": 1, "s.cron": 1, "s.e": 2, "s.a": 1, "s.c": 1}
        assert svc.fire_schedules() == 0
        # Restart JetStream on the same directory: the table comes back from the messages.
        await svc.shutdown()
        svc = JetStreamService(srv, clock=clock)
        await svc.start()
        assert svc.fire_schedules() == 0
        clock.advance(10)
        assert svc.fire_schedules() == 1  # @every, from the Nats-Schedule-Next it last wrote
        produced = await last(nc, "s.e")
        assert produced is not None and produced[1].endswith("Next: 2026-12-03T11:00:30Z\r\n\r\n")
        clock.advance(1800)
        assert svc.fire_schedules() == 2  # @every once more and the cron at 12:30 Paris time
        assert (await subjects(nc))["s.c"] == 2
    finally:
        await nc.close()
        await svc.shutdown()
        await srv.shutdown()

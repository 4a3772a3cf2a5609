"""Priority groups on pull consumers (ADR-42): config checks, request statuses, delivery.

Both servers, raw requests through nats-py; the texts and orders asserted are
nats-server's. Pull requests that must wait are queued first (CONSUMER.INFO's
``num_waiting`` says when the server holds them), then messages are published,
each request answering on its own inbox. Waits poll for what is expected; none
asserts how long something took. The last test is Orlop-only: the pin timer on
the injected clock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats
import pytest

from orlop.server.embed import start_server
from orlop.store.testing import FakeClock
from orlop.testing import ServerProcess

SEC = 1_000_000_000
ZERO_TS = "0001-01-01T00:00:00Z"
PINNED = {"priority_policy": "pinned_client", "priority_groups": ["g"]}


async def api(nc: Any, subject: str, body: Any = b"") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, raw, timeout=5)).data)
    return result


async def setup(nc: Any, n: int = 0, name: str = "C", **cfg: Any) -> dict[str, Any]:
    """Stream S (memory) with ``n`` messages m0.., and pull consumer ``name`` (explicit acks)."""
    await api(nc, "STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"], "storage": "memory"})
    for i in range(n):
        await nc.request("s.x", b"m%d" % i, timeout=5)
    return await create(nc, name, ack_policy="explicit", **cfg)


async def create(nc: Any, name: str, pedantic: bool = False, **cfg: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"stream_name": "S", "config": {"durable_name": name, **cfg}}
    if pedantic:
        body["pedantic"] = True
    return await api(nc, f"CONSUMER.CREATE.S.{name}", body)


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``cond`` until it holds (fails the test after ``timeout`` seconds)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.01)


async def waiting(nc: Any, n: int, consumer: str = "C") -> None:
    """Wait until the server holds ``n`` pull requests of ``consumer``."""
    for _ in range(500):
        if (await api(nc, f"CONSUMER.INFO.S.{consumer}"))["num_waiting"] == n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"num_waiting never reached {n}")


class Puller:
    """Pull requests of one consumer, each on its own inbox; ``got[name]`` lists what came back."""

    def __init__(self, nc: Any, consumer: str = "C") -> None:
        self.nc = nc
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.S.{consumer}"
        self.got: dict[str, list[Any]] = {}

    async def pull(self, name: str, body: Any) -> None:
        inbox = self.nc.new_inbox()
        self.got[name] = []

        async def collect(m: Any) -> None:
            self.got[name].append(m)

        await self.nc.subscribe(inbox, cb=collect)
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        await self.nc.publish(self.subject, raw, reply=inbox)
        await self.nc.flush()

    def seen(self, name: str) -> list[Any]:
        """Message bodies (as text) and statuses (``"<code> <description>"``) of ``name``."""
        return [show(m) for m in self.got[name]]

    def pins(self, name: str) -> list[str]:
        return [m.headers.get("Nats-Pin-Id", "") for m in self.got[name] if "Status" not in (m.headers or {})]


def show(m: Any) -> str:
    h = m.headers or {}
    if "Status" in h:
        return f"{h['Status']} {h.get('Description', '')}".strip()
    return str(m.data.decode())


async def next_status(nc: Any, body: Any, consumer: str = "C") -> str:
    """The first answer to one MSG.NEXT request, as :func:`show` writes it."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, max_msgs=1)  # a delivered message keeps its own subject
    await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.S.{consumer}", raw, reply=inbox)
    try:
        return show(await sub.next_msg(timeout=5))
    finally:
        await sub.unsubscribe()


# --- §8.1: config -----------------------------------------------------------------------------

CONFIG_ERRORS: list[tuple[dict[str, Any], int, str]] = [
    ({"priority_policy": "bogus"}, 10025, 'invalid JSON: unknown priority policy: "bogus"'),
    ({"priority_policy": 5}, 10025, "invalid JSON: unknown priority policy: 5"),
    ({"priority_policy": None}, 10025, "invalid JSON: unknown priority policy: null"),
    ({"priority_policy": ""}, 10025, 'invalid JSON: unknown priority policy: ""'),
    (
        {"priority_policy": "overflow"},
        10159,
        "Setting PriorityPolicy requires at least one PriorityGroup to be set",
    ),
    (
        {"priority_policy": "overflow", "priority_groups": []},
        10159,
        "Setting PriorityPolicy requires at least one PriorityGroup to be set",
    ),
    (
        {"priority_policy": "overflow", "deliver_subject": "dx"},
        10178,
        "priority groups can not be used with push consumers",
    ),
    (
        {"priority_policy": "overflow", "priority_groups": ["g"], "deliver_subject": "dx", "max_waiting": 3},
        10080,
        "consumer in push mode can not set max waiting",
    ),
    (
        {"priority_policy": "overflow", "priority_groups": ["a", ""]},
        10161,
        "Group name cannot be an empty string",
    ),
    (
        {"priority_policy": "pinned_client", "priority_groups": ["a.b"]},
        10162,
        "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters",
    ),
    (
        {"priority_policy": "prioritized", "priority_groups": ["abcdefghijklmnopq"]},
        10162,
        "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters",
    ),
    ({"priority_groups": ["g"]}, 10196, "consumer can not have priority groups when policy is none"),
    (
        {"priority_policy": "none", "priority_groups": ["g"], "priority_timeout": 5},
        10196,
        "consumer can not have priority groups when policy is none",
    ),
    ({"priority_timeout": 5}, 10197, "PinnedTTL cannot be set when PriorityPolicy is none"),
]


async def test_config_errors(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await setup(nc)
        for i, (cfg, code, text) in enumerate(CONFIG_ERRORS):
            resp = await create(nc, f"E{i}", **cfg)
            assert resp.get("error", {}).get("err_code") == code, (cfg, resp)
            assert resp["error"]["description"] == text, (cfg, resp)
        pinned = {**PINNED, "priority_timeout": -5}
        resp = await create(nc, "PED", pedantic=True, **pinned)
        assert resp["error"] == {
            "code": 400,
            "err_code": 10157,
            "description": "pedantic mode: priority_timeout must not be negative",
        }
    finally:
        await nc.close()


async def test_config_defaults_level_and_info(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await setup(nc)
        resp = await create(nc, "PIN", **PINNED)
        cfg = resp["config"]
        assert cfg["priority_groups"] == ["g"] and cfg["priority_policy"] == "pinned_client"
        assert cfg["priority_timeout"] == 120 * SEC and cfg["metadata"]["_nats.req.level"] == "1"
        keys = list(cfg)
        assert keys[-3:] == ["priority_groups", "priority_policy", "priority_timeout"]
        assert list(resp)[-2:] == ["ts", "priority_groups"]
        assert resp["priority_groups"] == [{"group": "g", "pinned_ts": ZERO_TS}]

        resp = await create(nc, "NEG", **{**PINNED, "priority_timeout": -5})
        assert resp["config"]["priority_timeout"] == 120 * SEC
        resp = await create(
            nc, "PRI", priority_policy="prioritized", priority_groups=["g"], priority_timeout=7
        )
        assert resp["config"]["priority_timeout"] == 7
        resp = await create(
            nc, "TWO", priority_policy="overflow", priority_groups=["a", "b"], ack_policy="none"
        )
        assert resp["config"]["priority_groups"] == ["a", "b"] and "priority_timeout" not in resp["config"]
        assert resp["config"]["metadata"]["_nats.req.level"] == "1"
        assert resp["priority_groups"] == [{"group": "a", "pinned_ts": ZERO_TS}]

        resp = await create(nc, "NONE", priority_policy="none", priority_groups=[])
        assert "priority_policy" not in resp["config"] and "priority_groups" not in resp["config"]
        assert "priority_groups" not in resp and resp["config"]["metadata"]["_nats.req.level"] == "0"
        resp = await create(nc, "NEGNONE", priority_timeout=-5)  # judged before the defaults
        assert "priority_timeout" not in resp["config"]
        assert resp["config"]["metadata"]["_nats.req.level"] == "1"

        # priority settings may change on update
        resp = await create(
            nc, "TWO", priority_policy="pinned_client", priority_groups=["h"], ack_policy="none"
        )
        assert "error" not in resp, resp
        assert resp["config"]["priority_timeout"] == 120 * SEC
        assert resp["priority_groups"] == [{"group": "h", "pinned_ts": ZERO_TS}]
        info = await api(nc, "CONSUMER.INFO.S.TWO")
        assert info["priority_groups"] == [{"group": "h", "pinned_ts": ZERO_TS}]
        # pausing and resuming recomputes the level from the stored config: still 1
        await api(nc, "CONSUMER.PAUSE.S.PRI", {"pause_until": "2099-01-01T00:00:00Z"})
        await api(nc, "CONSUMER.PAUSE.S.PRI", {})
        info = await api(nc, "CONSUMER.INFO.S.PRI")
        assert info["config"]["metadata"]["_nats.req.level"] == "1"
        listed = {c["name"]: c for c in (await api(nc, "CONSUMER.LIST.S"))["consumers"]}
        assert listed["PRI"]["priority_groups"] == [{"group": "g", "pinned_ts": ZERO_TS}]
        assert "priority_groups" not in listed["NONE"]
    finally:
        await nc.close()


# --- §8.2: pull request fields ------------------------------------------------------------------

E = 30_000_000  # a short expires: requests that pass every check end with 408
NOT_OVERFLOW = "400 Bad Request - Not a Overflow Priority consumer"
NOT_PINNED = "400 Bad Request - Not a Pinned Client Priority consumer"
BAD_PRIORITY = "400 Bad Request - Priority must be between 0 and 9"
MISSING = "400 Bad Request - Priority Group missing"
INVALID = "400 Bad Request - Invalid Priority Group"
TIMEOUT = "408 Request Timeout"

REQUEST_CASES: list[tuple[dict[str, Any], tuple[str, str, str, str]]] = [
    # request: answers of consumers N (none), O (overflow), P (pinned_client), R (prioritized)
    ({"min_pending": 1}, (NOT_OVERFLOW, MISSING, NOT_OVERFLOW, NOT_OVERFLOW)),
    ({"min_ack_pending": 1}, (NOT_OVERFLOW, MISSING, NOT_OVERFLOW, NOT_OVERFLOW)),
    ({"min_pending": -1}, (NOT_OVERFLOW, MISSING, NOT_OVERFLOW, NOT_OVERFLOW)),
    ({"id": "x"}, (NOT_PINNED, NOT_PINNED, MISSING, NOT_PINNED)),
    ({"priority": 10}, (BAD_PRIORITY,) * 4),
    ({"priority": -1, "group": "g"}, (BAD_PRIORITY,) * 4),
    ({"min_pending": 1, "id": "x", "priority": 10}, (NOT_OVERFLOW, NOT_PINNED, NOT_OVERFLOW, NOT_OVERFLOW)),
    ({"id": "x", "priority": 10}, (NOT_PINNED, NOT_PINNED, BAD_PRIORITY, NOT_PINNED)),
    ({}, (TIMEOUT, MISSING, MISSING, MISSING)),
    ({"group": ""}, (TIMEOUT, MISSING, MISSING, MISSING)),
    ({"group": "zz"}, (TIMEOUT, INVALID, INVALID, INVALID)),
    ({"priority": 3}, (TIMEOUT, MISSING, MISSING, MISSING)),
    ({"group": "g", "priority": 9, "failover": "x"}, (TIMEOUT,) * 4),
    ({"batch": 9, "priority": 10}, ("409 Exceeded MaxRequestBatch of 5",) * 4),
    (
        {"group": 5},
        ("400 Bad Request - json: cannot unmarshal number into Go struct field .group of type string",) * 4,
    ),
    (
        {"group": "g", "priority": "1"},
        ("400 Bad Request - json: cannot unmarshal string into Go struct field .priority of type int",) * 4,
    ),
]


async def test_request_error_statuses(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await setup(nc, name="N", max_batch=5)
        await create(
            nc, "O", ack_policy="explicit", max_batch=5, priority_policy="overflow", priority_groups=["g"]
        )
        await create(nc, "P", ack_policy="explicit", max_batch=5, **PINNED)
        await create(
            nc, "R", ack_policy="explicit", max_batch=5, priority_policy="prioritized", priority_groups=["g"]
        )
        for body, answers in REQUEST_CASES:
            for consumer, want in zip("NOPR", answers, strict=True):
                got = await next_status(nc, {"expires": E, **body}, consumer)
                assert got == want, (consumer, body, got)
        # Go's type errors, the first in the body's order, literals as written
        bad = "400 Bad Request - json: cannot unmarshal"
        got = await next_status(nc, b'{"batch":1e3}', "N")
        assert got == f"{bad} number 1e3 into Go struct field .batch of type int"
        got = await next_status(nc, b'{"max_bytes":true,"batch":"x"}', "N")
        assert got == f"{bad} bool into Go struct field .max_bytes of type int"
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox, max_msgs=1)
        hdr = {"Nats-Required-Api-Level": "99"}  # ADR-44, checked before anything else
        await nc.publish("$JS.API.CONSUMER.MSG.NEXT.S.O", b'{"group":"g"}', reply=inbox, headers=hdr)
        assert show(await sub.next_msg(timeout=5)) == "412 Required Api Level"
        # non-JSON bodies skip every priority check and are served without a group
        await nc.request("s.x", b"m0", timeout=5)
        await nc.request("s.x", b"m1", timeout=5)
        assert await next_status(nc, b"1", "O") == "m0"
        assert await next_status(nc, b"", "O") == "m1"
    finally:
        await nc.close()


# --- §8.3: overflow ---------------------------------------------------------------------------------


async def test_overflow_min_pending_and_min_ack_pending(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    p = Puller(nc)
    try:
        await setup(nc, n=5, priority_policy="overflow", priority_groups=["g"])
        short = 600_000_000
        await p.pull("mp10", {"group": "g", "batch": 10, "expires": short, "min_pending": 10})
        await p.pull("mp5", {"group": "g", "batch": 2, "expires": short, "min_pending": 5})
        await until(lambda: p.seen("mp5")[:1] == ["m0"])  # 5 pending counts the message at hand
        await p.pull("mp4", {"group": "g", "batch": 1, "expires": 5 * SEC, "min_pending": 4})
        await until(lambda: p.seen("mp4") == ["m1"])
        await p.pull("map3", {"group": "g", "batch": 1, "expires": 5 * SEC, "min_ack_pending": 3})
        await p.pull("map2", {"group": "g", "batch": 1, "expires": 5 * SEC, "min_ack_pending": 2})
        await until(lambda: p.seen("map2") == ["m2"] and p.seen("map3") == ["m3"])
        await p.pull("plain", {"group": "g", "batch": 1, "expires": 5 * SEC})
        await until(lambda: p.seen("plain") == ["m4"])
        await until(lambda: len(p.got["mp10"]) == 1 and len(p.got["mp5"]) == 2)
        assert p.seen("mp10") == [TIMEOUT] and p.seen("mp5") == ["m0", TIMEOUT]
        assert p.got["mp10"][0].headers["Nats-Pending-Messages"] == "10"
        assert p.got["mp5"][1].headers["Nats-Pending-Messages"] == "1"
        # a no_wait request that may not take anything ends with 404 (end of what it may get)
        await nc.request("s.x", b"m5", timeout=5)
        body = {"group": "g", "batch": 1, "no_wait": True, "min_pending": 10}
        assert await next_status(nc, body) == "404 No Messages"
        assert await next_status(nc, {"group": "g", "batch": 1, "min_ack_pending": 1}) == "m5"
        await nc.request("s.x", b"m6", timeout=5)
        assert await next_status(nc, {"group": "g", "batch": 1, "min_pending": -1}) == "m6"  # no limit
    finally:
        await nc.close()


# --- §8.3: pinned_client -----------------------------------------------------------------------------


def advisory_collector(got: list[dict[str, Any]]) -> Callable[[Any], Any]:
    async def collect(m: Any) -> None:
        body = json.loads(m.data)
        body["subject"] = m.subject
        got.append(body)

    return collect


async def test_pinned_client(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    p = Puller(nc)
    adv: list[dict[str, Any]] = []
    try:
        await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.PINNED.>", cb=advisory_collector(adv))
        await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.UNPINNED.>", cb=advisory_collector(adv))
        await setup(nc, **PINNED)
        long = 10 * SEC
        await p.pull("A", {"group": "g", "batch": 10, "expires": long})
        await p.pull("B", {"group": "g", "batch": 10, "expires": long})
        await waiting(nc, 2)
        for i in range(2):
            await nc.request("s.x", b"m%d" % i, timeout=5)
        await until(lambda: p.seen("A") == ["m0", "m1"])
        info = await api(nc, "CONSUMER.INFO.S.C")
        (state,) = info["priority_groups"]
        pin = state["pinned_client_id"]
        assert len(pin) == 22 and state["group"] == "g" and state["pinned_ts"] != ZERO_TS
        assert p.pins("A") == [pin, pin] and p.seen("B") == []  # B waits as standby
        await until(lambda: len(adv) == 1)
        assert adv[0] == {
            "type": "io.nats.jetstream.advisory.v1.consumer_group_pinned",
            "id": adv[0]["id"],
            "timestamp": adv[0]["timestamp"],
            "account": "$G",
            "stream": "S",
            "consumer": "C",
            "group": "g",
            "pinned_id": pin,
            "subject": "$JS.EVENT.ADVISORY.CONSUMER.PINNED.S.C",
        }
        assert list(adv[0])[:3] == ["type", "id", "timestamp"]

        # another id is refused at once; the pin's own id waits and is served
        assert (
            await next_status(nc, {"group": "g", "id": "bogus", "expires": long})
            == "423 Nats-Pin-Id mismatch"
        )
        await p.pull("D", {"group": "g", "batch": 1, "expires": long, "id": pin})
        await waiting(nc, 3)
        await nc.request("s.x", b"m2", timeout=5)
        await until(lambda: p.seen("A") == ["m0", "m1", "m2"])  # A is the pinned request, ahead of D
        assert p.seen("D") == [] and p.seen("B") == []

        # UNPIN: D still holds the old pin (423 with pending counts), standby B is pinned next
        assert await api(nc, "CONSUMER.UNPIN.S.C", {"group": "g"}) == {
            "type": "io.nats.jetstream.api.v1.consumer_unpin_response"
        }
        info = await api(nc, "CONSUMER.INFO.S.C")
        assert info["priority_groups"] == [{"group": "g", "pinned_ts": ZERO_TS}]
        await nc.request("s.x", b"m3", timeout=5)
        await until(lambda: p.seen("B") == ["m3"] and p.seen("D") == ["423 Nats-Wrong-Pin-Id"])
        d = p.got["D"][0].headers
        assert d["Nats-Pending-Messages"] == "1" and d["Nats-Pending-Bytes"] == "0"
        new_pin = (await api(nc, "CONSUMER.INFO.S.C"))["priority_groups"][0]["pinned_client_id"]
        assert new_pin != pin and p.pins("B") == [new_pin]
        # A carries the old pin now: answered 423 at the next message, which B takes
        await nc.request("s.x", b"m4", timeout=5)
        await until(lambda: p.seen("B") == ["m3", "m4"] and p.seen("A")[-1:] == ["423 Nats-Wrong-Pin-Id"])
        assert p.got["A"][-1].headers["Nats-Pending-Messages"] == "7"
        await until(lambda: len(adv) == 3)
        assert [(a["type"].rsplit(".", 1)[1], a.get("reason"), a.get("pinned_id")) for a in adv] == [
            ("consumer_group_pinned", None, pin),
            ("consumer_group_unpinned", "admin", None),
            ("consumer_group_pinned", None, new_pin),
        ]
        assert adv[1]["subject"] == "$JS.EVENT.ADVISORY.CONSUMER.UNPINNED.S.C"
        assert list(adv[1])[3:-1] == ["account", "stream", "consumer", "group", "reason"]
        # unpinning with nothing pinned also succeeds (and still tells)
        await api(nc, "CONSUMER.UNPIN.S.C", {"group": "g"})
        resp = await api(nc, "CONSUMER.UNPIN.S.C", {"group": "g"})
        assert "error" not in resp
        await until(lambda: len(adv) == 5)
    finally:
        await nc.close()


UNPIN_ERRORS: list[tuple[str, Any, int, str]] = [
    ("S.C", b"", 10025, "invalid JSON: unexpected end of JSON input"),
    ("S.C", b"{", 10025, "invalid JSON: unexpected end of JSON input"),
    ("S.C", {}, 10025, "invalid JSON: consumer group not specified"),
    ("S.C", b"null", 10025, "invalid JSON: consumer group not specified"),
    ("S.C", {"group": ""}, 10025, "invalid JSON: consumer group not specified"),
    (
        "S.C",
        {"group": 5},
        10025,
        "invalid JSON: json: cannot unmarshal number into Go struct field JSApiConsumerUnpinRequest.group"
        " of type string",
    ),
    (
        "S.C",
        b"[]",
        10025,
        "invalid JSON: json: cannot unmarshal array into Go value of type server.JSApiConsumerUnpinRequest",
    ),
    (
        "S.C",
        {"group": "a.b"},
        10162,
        "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters",
    ),
    (
        "X.C",
        {"group": "a.b"},
        10162,
        "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters",
    ),
    ("X.C", b"", 10025, "invalid JSON: unexpected end of JSON input"),
    ("X.C", {"group": "g"}, 10059, "stream not found"),
    ("S.X", {"group": "g"}, 10014, "consumer not found"),
    ("S.C", {"group": "h"}, 10160, "Provided priority group does not exist for this consumer"),
    ("S.N", {"group": "g"}, 10160, "Provided priority group does not exist for this consumer"),
]


async def test_unpin_errors(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await setup(nc, **PINNED)
        await create(nc, "N")
        for target, body, code, text in UNPIN_ERRORS:
            resp = await api(nc, f"CONSUMER.UNPIN.{target}", body)
            assert resp["type"] == "io.nats.jetstream.api.v1.consumer_unpin_response"
            assert (resp["error"]["err_code"], resp["error"]["description"]) == (code, text), (target, body)
        resp = await api(nc, "CONSUMER.UNPIN.S.C", {"group": "g", "unknown": 1})  # not a strict decode
        assert "error" not in resp
        hdr = {"Nats-Required-Api-Level": "99"}
        msg = await nc.request("$JS.API.CONSUMER.UNPIN.S.C", b'{"group":"g"}', headers=hdr, timeout=5)
        assert json.loads(msg.data)["error"]["err_code"] == 10185
    finally:
        await nc.close()


async def test_pin_timeout(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    p = Puller(nc)
    adv: list[dict[str, Any]] = []
    try:
        await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.UNPINNED.>", cb=advisory_collector(adv))
        resp = await setup(nc, n=1, priority_timeout=SEC, **PINNED)
        assert resp["config"]["priority_timeout"] == SEC
        await p.pull("A", {"group": "g", "batch": 10, "expires": 8 * SEC})
        await until(lambda: p.seen("A") == ["m0"])
        first = p.pins("A")[0]
        await p.pull("B", {"group": "g", "batch": 10, "expires": 8 * SEC})
        await until(lambda: len(adv) == 1, timeout=6)  # no pull with the pin id within 1 s
        assert adv[0]["reason"] == "timeout" and adv[0]["group"] == "g"
        info = await api(nc, "CONSUMER.INFO.S.C")
        assert info["priority_groups"] == [{"group": "g", "pinned_ts": ZERO_TS}]
        await nc.request("s.x", b"m1", timeout=5)
        await nc.request("s.x", b"m2", timeout=5)
        await until(lambda: p.seen("B") == ["m1", "m2"] and p.seen("A") == ["m0", "423 Nats-Wrong-Pin-Id"])
        assert p.pins("B")[0] != first and p.pins("B")[0] == p.pins("B")[1]
    finally:
        await nc.close()


# --- §8.3: prioritized ---------------------------------------------------------------------------------


async def test_prioritized_order(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    p = Puller(nc)
    try:
        await setup(nc, priority_policy="prioritized", priority_groups=["g"])
        long = 10 * SEC
        await p.pull("p5", {"group": "g", "batch": 2, "expires": long, "priority": 5})
        await p.pull("p1a", {"group": "g", "batch": 2, "expires": long, "priority": 1})
        await p.pull("raw", b"2")  # no priority group: after every JSON request
        await p.pull("p1b", {"group": "g", "batch": 2, "expires": long, "priority": 1})
        await p.pull("p0", {"group": "g", "batch": 2, "expires": long})  # priority 0 when absent
        await waiting(nc, 5)
        for i in range(10):
            await nc.request("s.x", b"m%d" % i, timeout=5)
        await until(lambda: sum(len(v) for v in p.got.values()) == 10)
        assert p.seen("p0") == ["m0", "m1"]
        assert p.seen("p1a") == ["m2", "m4"] and p.seen("p1b") == ["m3", "m5"]  # round robin in a level
        assert p.seen("p5") == ["m6", "m7"] and p.seen("raw") == ["m8", "m9"]
        # messages first: a request takes what is there at once
        await nc.request("s.x", b"m10", timeout=5)
        await nc.request("s.x", b"m11", timeout=5)
        await p.pull("late5", {"group": "g", "batch": 1, "expires": long, "priority": 5})
        await until(lambda: p.seen("late5") == ["m10"])
        assert await next_status(nc, {"group": "g", "batch": 1, "expires": long}) == "m11"
    finally:
        await nc.close()


# --- Orlop only: the pin timer on the injected clock --------------------------------------------------


async def test_pin_timer_on_fake_clock(tmp_path: Path) -> None:
    server = await start_server(store_dir=str(tmp_path), port=-1, http_port=0)
    clock = FakeClock()
    ajs = server.jetstream.accounts["$G"]
    ajs.clock = clock
    nc = await nats.connect(server.url)
    p = Puller(nc)
    adv: list[dict[str, Any]] = []
    try:
        await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.UNPINNED.>", cb=advisory_collector(adv))
        await setup(nc, n=1, priority_timeout=60 * SEC, **PINNED)
        prio = ajs.streams["S"].consumers["C"].prio
        assert prio is not None
        await p.pull("A", {"group": "g", "batch": 1, "expires": 30 * SEC})
        await until(lambda: p.seen("A") == ["m0"])
        pin = p.pins("A")[0]
        info = await api(nc, "CONSUMER.INFO.S.C")
        assert info["priority_groups"][0]["pinned_ts"] == "2023-11-14T22:13:20Z"  # the fake clock's start
        clock.advance(59 * SEC)
        assert not prio.check_pin_timeout()
        await p.pull("A2", {"group": "g", "batch": 1, "expires": 30 * SEC, "id": pin})  # restarts the timer
        await waiting(nc, 1)
        clock.advance(59 * SEC)
        assert not prio.check_pin_timeout()
        clock.advance(2 * SEC)
        assert prio.check_pin_timeout()
        assert not prio.check_pin_timeout()  # only once
        await until(lambda: len(adv) == 1)
        assert adv[0]["reason"] == "timeout"
        await nc.request("s.x", b"m1", timeout=5)
        await until(lambda: p.seen("A2") == ["423 Nats-Wrong-Pin-Id"])
        info = await api(nc, "CONSUMER.INFO.S.C")
        assert info["priority_groups"] == [{"group": "g", "pinned_ts": "0001-01-01T00:00:00Z"}]
    finally:
        await nc.close()
        await server.shutdown()


def test_group_names() -> None:
    from orlop.jsapi.consumer_config import is_valid_group_name

    assert is_valid_group_name("aZ09/_=-") and is_valid_group_name("x" * 16)
    for bad in ("", "x" * 17, "a.b", "a b", "a*", "g\n"):
        assert not is_valid_group_name(bad), bad


@pytest.mark.parametrize("body", [b'{"group":"g","priority":1.5}', b'{"min_pending":"1"}'])
def test_request_type_errors(body: bytes) -> None:
    from orlop.server.jetstream.consumer_pull import parse_request

    with pytest.raises(ValueError, match="json: cannot unmarshal"):
        parse_request(body)

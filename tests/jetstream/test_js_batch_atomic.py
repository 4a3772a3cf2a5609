"""Atomic batch publish (ADR-50): all-or-nothing batches with Nats-Batch-Id / -Sequence / -Commit.

Every test runs the same nats-py code against Orlop and nats-server (both started with a
1 s batch idle timeout, so the timeout test does not wait nats-server's default 10 s),
comparing PubAcks byte for byte. The crash test is Orlop-only where it needs a kill at an
exact point inside a commit (a fault-injection variable), and runs on both servers where
the kill can be timed from outside.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
from pathlib import Path
from typing import Any

import nats
import pytest
from tests.jetstream.batchhelpers import ack_error, api, start_with_limits

from orlop.testing import KINDS, ServerProcess


@pytest.fixture(params=KINDS)
def bserver(
    request: pytest.FixtureRequest, server_factory: type[ServerProcess], tmp_path: Path
) -> ServerProcess:
    return start_with_limits(server_factory, request.param, tmp_path, timeout="1s")


def bh(batch: str, seq: int | str, commit: str | None = None, **extra: str) -> dict[str, str]:
    h = {"Nats-Batch-Id": batch, "Nats-Batch-Sequence": str(seq)}
    if commit is not None:
        h["Nats-Batch-Commit"] = commit
    h.update({k.replace("_", "-"): v for k, v in extra.items()})
    return h


async def req(nc: Any, subject: str, headers: dict[str, str], data: bytes = b"x") -> bytes:
    msg = await nc.request(subject, data, timeout=5, headers=headers)
    raw: bytes = msg.data
    return raw


async def stored(nc: Any, stream: str, seq: int) -> tuple[str, bytes, str]:
    got = await api(nc, f"STREAM.MSG.GET.{stream}", {"seq": seq})
    m = got["message"]
    return m["subject"], base64.b64decode(m.get("data", "")), base64.b64decode(m.get("hdrs", "")).decode()


async def create(nc: Any, name: str = "AB", **extra: Any) -> dict[str, Any]:
    return await api(nc, f"STREAM.CREATE.{name}", {"name": name, "subjects": [f"{name.lower()}.>"], **extra})


async def test_config_and_level(bserver: ServerProcess) -> None:
    nc = await nats.connect(bserver.url)
    try:
        got = await create(nc, allow_atomic=True)
        assert got["config"]["allow_atomic"] is True
        assert got["config"]["metadata"]["_nats.req.level"] == "2"
        # Toggled off and on by updates.
        upd = await api(nc, "STREAM.UPDATE.AB", {"name": "AB", "subjects": ["ab.>"]})
        assert "allow_atomic" not in upd["config"]
        upd = await api(nc, "STREAM.UPDATE.AB", {"name": "AB", "subjects": ["ab.>"], "allow_atomic": True})
        assert upd["config"]["allow_atomic"] is True
        bad = await api(nc, "STREAM.CREATE.X", {"name": "X", "allow_atomic": "yes"})
        assert bad["error"]["err_code"] == 10025
    finally:
        await nc.close()


async def test_batch_commits_all_together(bserver: ServerProcess) -> None:
    nc = await nats.connect(bserver.url)
    try:
        await create(nc, allow_atomic=True)
        await nc.publish("ab.other", b"before")
        # Messages before the commit get an empty reply (or none when published without one).
        assert await req(nc, "ab.1", bh("b1", 1), b"one") == b""
        await nc.publish("ab.2", b"two", headers=bh("b1", 2))
        info = await api(nc, "STREAM.INFO.AB")
        assert info["state"]["messages"] == 1  # only "before": nothing of the batch yet
        ack = await req(nc, "ab.3", bh("b1", 3, "1"), b"three")
        assert ack == b'{"stream":"AB","seq":4,"batch":"b1","count":3}'
        subjects = [(await stored(nc, "AB", s))[:2] for s in (2, 3, 4)]
        assert subjects == [("ab.1", b"one"), ("ab.2", b"two"), ("ab.3", b"three")]
        _, _, hdrs = await stored(nc, "AB", 4)
        assert (
            hdrs == "NATS/1.0\r\nNats-Batch-Id: b1\r\nNats-Batch-Sequence: 3\r\nNats-Batch-Commit: 1\r\n\r\n"
        )
        # A one-message batch.
        assert await req(nc, "ab.x", bh("b2", 1, "1")) == b'{"stream":"AB","seq":5,"batch":"b2","count":1}'
        # EOB: commit without storing the last message; the one before gets the commit header.
        assert await req(nc, "ab.e", bh("b3", 1)) == b""
        assert await req(nc, "ab.e", bh("b3", 2)) == b""
        assert await req(nc, "ab.e", bh("b3", 3, "eob")) == b'{"stream":"AB","seq":7,"batch":"b3","count":2}'
        _, _, hdrs = await stored(nc, "AB", 7)
        assert hdrs.endswith("Nats-Batch-Sequence: 2\r\nNats-Batch-Commit: 1\r\n\r\n")
        assert (await api(nc, "STREAM.INFO.AB"))["state"]["messages"] == 7
    finally:
        await nc.close()


async def test_batch_messages_are_republished_with_their_last_sequence(bserver: ServerProcess) -> None:
    """ADR-28 republish of a committed batch: each message names its subject's previous seq,
    the batch's own earlier messages included."""
    nc = await nats.connect(bserver.url)
    try:
        await create(nc, allow_atomic=True, republish={"src": "ab.>", "dest": "out.>"})
        got: asyncio.Queue[Any] = asyncio.Queue()
        await nc.subscribe("out.>", cb=got.put)
        await nc.publish("ab.a", b"before")
        await nc.publish("ab.a", b"1", headers=bh("r", 1))
        await nc.publish("ab.b", b"2", headers=bh("r", 2))
        ack = await req(nc, "ab.a", bh("r", 3, "1"), b"3")
        assert ack == b'{"stream":"AB","seq":4,"batch":"r","count":3}'
        seen = []
        for _ in range(4):
            m = await asyncio.wait_for(got.get(), 5)
            seen.append((m.subject, m.headers["Nats-Sequence"], m.headers["Nats-Last-Sequence"], m.data))
        assert seen == [
            ("out.a", "1", "0", b"before"),
            ("out.a", "2", "1", b"1"),
            ("out.b", "3", "0", b"2"),
            ("out.a", "4", "2", b"3"),
        ]
    finally:
        await nc.close()


async def test_batch_errors(bserver: ServerProcess) -> None:
    nc = await nats.connect(bserver.url)
    try:
        await create(nc, "PLAIN")
        await create(nc, allow_atomic=True)
        assert await req(nc, "plain.1", bh("p", 1, "1")) == ack_error(
            "PLAIN", 400, 10174, "atomic publish is disabled"
        )
        assert await req(nc, "ab.1", bh("x" * 65, 1)) == ack_error(
            "AB", 400, 10179, "atomic publish batch ID is invalid"
        )
        assert await req(nc, "ab.1", bh("x" * 64, 1)) == b""
        missing = ack_error("AB", 400, 10175, "atomic publish sequence is missing")
        assert await req(nc, "ab.1", {"Nats-Batch-Id": "m"}) == missing
        assert await req(nc, "ab.1", bh("m", "abc")) == missing
        incomplete = ack_error("AB", 400, 10176, "atomic publish batch is incomplete")
        assert await req(nc, "ab.1", bh("unknown", 2)) == incomplete
        assert await req(nc, "ab.1", bh("big", 1001)) == ack_error(
            "AB", 400, 10199, "atomic publish batch is too large: 1000"
        )
        assert await req(nc, "ab.1", bh("big", 1001, "eob")) == incomplete
        assert await req(nc, "ab.1", bh("one-eob", 1, "eob")) == incomplete
        # An invalid commit value drops the batch.
        assert await req(nc, "ab.1", bh("c", 1)) == b""
        assert await req(nc, "ab.1", bh("c", 2, "yes")) == ack_error(
            "AB", 400, 10200, "atomic publish batch commit is invalid"
        )
        assert await req(nc, "ab.1", bh("c", 3, "1")) == incomplete
        # A gap drops the batch; so does a repeated sequence.
        assert await req(nc, "ab.1", bh("g", 1)) == b""
        assert await req(nc, "ab.1", bh("g", 3)) == incomplete
        assert await req(nc, "ab.1", bh("g", 4, "1")) == incomplete
        # An API level the server does not have.
        assert await req(nc, "ab.1", bh("lvl", 1, **{"Nats_Required_Api_Level": "99"})) == ack_error(
            "AB", 412, 10185, "JetStream minimum api level required"
        )
        assert (await api(nc, "STREAM.INFO.AB"))["state"]["messages"] == 0
    finally:
        await nc.close()


async def test_header_checks_at_commit(bserver: ServerProcess) -> None:
    """Each staged message is checked at commit against the stream and the batch; one failure
    refuses the whole batch and stores nothing."""
    nc = await nats.connect(bserver.url)
    try:
        await create(nc, allow_atomic=True, allow_rollup_hdrs=True)
        await req(nc, "ab.seed", {}, b"s")  # plain: seq 1

        async def batch(bid: str, *extra: dict[str, str]) -> bytes:
            n = len(extra)
            for i, h in enumerate(extra[:-1], start=1):
                assert await req(nc, f"ab.{bid}.{i}", {**bh(bid, i), **h}) == b""
            return await req(nc, f"ab.{bid}.{n}", {**bh(bid, n, "1"), **extra[-1]})

        assert await batch("u1", {}, {"Nats-Expected-Last-Msg-Id": "x"}) == ack_error(
            "AB", 400, 10177, "atomic publish unsupported header used: Nats-Expected-Last-Msg-Id"
        )
        assert await batch("d1", {"Nats-Msg-Id": "same"}, {"Nats-Msg-Id": "same"}) == ack_error(
            "AB", 400, 10201, "atomic publish batch contains duplicate message id"
        )
        assert await batch("e1", {"Nats-Expected-Last-Sequence": "7"}, {}) == ack_error(
            "AB", 400, 10071, "wrong last sequence: 1"
        )
        assert await batch("e2", {}, {"Nats-Expected-Last-Sequence": "2"}) == ack_error(
            "AB", 400, 10164, "wrong last sequence"
        )
        assert await batch("e3", {}, {"Nats-Expected-Last-Sequence": "9"}) == ack_error(
            "AB", 400, 10071, "wrong last sequence: 2"
        )
        assert await batch("r1", {}, {"Nats-Rollup": "all"}) == ack_error(
            "AB", 500, 10111, "batch rollup all invalid"
        )
        assert await batch("t1", {"Nats-TTL": "5s"}, {}) == ack_error(
            "AB", 400, 10166, "per-message TTL is disabled"
        )
        assert (await api(nc, "STREAM.INFO.AB"))["state"]["messages"] == 1
        # The right expected sequence on the first message commits; ids enter the dedup window.
        ack = await batch("ok", {"Nats-Expected-Last-Sequence": "1", "Nats-Msg-Id": "m1"}, {})
        assert ack == b'{"stream":"AB","seq":3,"batch":"ok","count":2}'
        assert await batch("dup", {"Nats-Msg-Id": "m1"}) == ack_error(
            "AB", 400, 10201, "atomic publish batch contains duplicate message id"
        )
    finally:
        await nc.close()


async def test_counter_stream_batch(bserver: ServerProcess) -> None:
    nc = await nats.connect(bserver.url)
    try:
        await create(nc, "C", allow_atomic=True, allow_msg_counter=True)
        assert await req(nc, "c.n", {**bh("k", 1), "Nats-Incr": "2"}, b"") == b""
        assert await req(nc, "c.n", {**bh("k", 2, "1"), "Nats-Incr": "3"}, b"") == (
            b'{"stream":"C","seq":2,"batch":"k","count":2}'
        )
        assert (await stored(nc, "C", 2))[1] == b'{"val":"5"}'
    finally:
        await nc.close()


async def test_idle_timeout_abandons_with_advisory(bserver: ServerProcess) -> None:
    nc = await nats.connect(bserver.url)
    try:
        await create(nc, allow_atomic=True)
        advisories: list[dict[str, Any]] = []

        async def on_adv(msg: Any) -> None:
            advisories.append(json.loads(msg.data))

        await nc.subscribe("$JS.EVENT.ADVISORY.STREAM.BATCH_ABANDONED.AB", cb=on_adv)
        assert await req(nc, "ab.1", bh("slow", 1)) == b""
        await asyncio.sleep(1.6)
        assert await req(nc, "ab.2", bh("slow", 2, "1")) == ack_error(
            "AB", 400, 10176, "atomic publish batch is incomplete"
        )
        assert [(a["type"], a["stream"], a["batch"], a["reason"]) for a in advisories] == [
            ("io.nats.jetstream.advisory.v1.stream_batch_abandoned", "AB", "slow", "timeout")
        ]
        assert list(advisories[0])[:3] == ["type", "id", "timestamp"]
        # A gap is reported as "incomplete".
        assert await req(nc, "ab.1", bh("gap", 1)) == b""
        await req(nc, "ab.1", bh("gap", 5))
        await nc.flush()
        await asyncio.sleep(0.1)
        assert advisories[-1]["reason"] == "incomplete" and advisories[-1]["batch"] == "gap"
    finally:
        await nc.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_limits_from_config(kind: str, server_factory: type[ServerProcess], tmp_path: Path) -> None:
    srv = start_with_limits(
        server_factory,
        kind,
        tmp_path,
        max_msgs=3,
        timeout="1s",
        max_inflight_per_stream=2,
        max_inflight_total=3,
    )
    nc = await nats.connect(srv.url)
    try:
        await create(nc, allow_atomic=True)
        await create(nc, "AC", allow_atomic=True)
        too_large = ack_error("AB", 400, 10199, "atomic publish batch is too large: 3")
        for i in (1, 2, 3):
            assert await req(nc, "ab.1", bh("L", i)) == b""
        assert await req(nc, "ab.1", bh("L", 4)) == too_large
        # An EOB as the fourth message is fine: three are stored.
        for i in (1, 2, 3):
            assert await req(nc, "ab.1", bh("E", i)) == b""
        assert await req(nc, "ab.1", bh("E", 4, "eob")) == b'{"stream":"AB","seq":3,"batch":"E","count":3}'
        # Two in flight per stream, three on the server.
        assert await req(nc, "ab.1", bh("f1", 1)) == b""
        assert await req(nc, "ab.1", bh("f2", 1)) == b""
        inflight = ack_error("AB", 429, 10210, "atomic publish too many inflight")
        assert await req(nc, "ab.1", bh("f3", 1)) == inflight
        assert await req(nc, "ac.1", bh("g1", 1)) == b""
        assert await req(nc, "ac.1", bh("g2", 1)) == ack_error(
            "AC", 429, 10210, "atomic publish too many inflight"
        )
    finally:
        await nc.close()
    import urllib.request

    with urllib.request.urlopen(srv.monitor_url + "/varz", timeout=10) as resp:
        varz = json.loads(resp.read())
    limits = varz["jetstream"]["limits"]
    assert limits["max_batch_inflight_per_stream"] == 2
    assert limits["max_batch_inflight_total"] == 3
    assert limits["max_batch_size"] == 3
    assert limits["max_batch_timeout"] == 1_000_000_000


async def test_nats_py_batch_ack_fields(bserver: ServerProcess) -> None:
    """nats-py reads the batch PubAck into batch_id / batch_size."""
    nc = await nats.connect(bserver.url)
    try:
        await create(nc, allow_atomic=True)
        js = nc.jetstream()
        await nc.publish("ab.a", b"1", headers=bh("np", 1))
        ack = await js.publish("ab.b", b"2", headers=bh("np", 2, "1"))
        assert (ack.seq, ack.batch_id, ack.batch_size) == (2, "np", 2)
    finally:
        await nc.close()


# --- crash atomicity -----------------------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 5, 9])
async def test_commit_cut_by_a_crash_is_all_or_nothing(
    cut: int, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    """Orlop exits (as SIGKILL would leave it) after ``cut`` of 10 records of a commit are on
    disk; after a restart the batch is wholly absent, and the stream takes batches again."""
    env = {"ORLOP_FAULT_BATCH_COMMIT_EXIT_AFTER": str(cut)}
    srv = server_factory(kind="orlop", store_dir=str(tmp_path), env=env).start()
    nc = await nats.connect(srv.url, allow_reconnect=False)
    try:
        await create(nc, allow_atomic=True)
        await req(nc, "ab.seed", {}, b"s")
        for i in range(1, 10):
            await nc.publish(f"ab.{i}", b"m%d" % i, headers=bh("crash", i))
        await nc.publish("ab.10", b"m10", headers=bh("crash", 10, "1"))
        await nc.flush(timeout=1)  # the server exits while answering: no PONG comes
    except Exception:
        pass
    finally:
        await nc.close()
    assert srv.proc is not None
    assert srv.proc.wait(10) == 137
    srv.env = {}
    srv.start()
    nc = await nats.connect(srv.url)
    try:
        info = await api(nc, "STREAM.INFO.AB")
        assert info["state"]["messages"] == 1  # only the seed
        for i in range(1, 4):
            await nc.publish(f"ab.{i}", b"again", headers=bh("after", i))
        ack = await req(nc, "ab.4", bh("after", 4, "1"), b"again")
        assert json.loads(ack)["count"] == 4
        info = await api(nc, "STREAM.INFO.AB")
        assert info["state"]["messages"] == 5
    finally:
        await nc.close()


async def test_kill_before_and_after_commit(server: ServerProcess) -> None:
    """On both servers: a batch staged but not committed is gone after SIGKILL; a committed one
    (its PubAck received) is all there."""
    nc = await nats.connect(server.url, allow_reconnect=False)
    try:
        await create(nc, allow_atomic=True)
        for i in range(1, 6):
            await nc.publish(f"ab.{i}", b"c%d" % i, headers=bh("done", i, "1" if i == 5 else None))
        assert json.loads(await req(nc, "ab.x", bh("done2", 1, "1")))["count"] == 1
        for i in range(1, 6):
            assert await req(nc, f"ab.s{i}", bh("staged", i)) == b""
    finally:
        await nc.close()
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    server.start()
    nc = await nats.connect(server.url)
    try:
        info = await api(nc, "STREAM.INFO.AB")
        assert info["state"]["messages"] == 6
        assert (await req(nc, "ab.s6", bh("staged", 6, "1"))) == ack_error(
            "AB", 400, 10176, "atomic publish batch is incomplete"
        )
    finally:
        await nc.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_batch_kept_busy_outlives_the_idle_timeout(
    kind: str, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    # The timeout is idle time, not the batch's age: 2.4 s of messages 0.6 s apart, 1 s timeout.
    srv = start_with_limits(server_factory, kind, tmp_path, timeout="1s")
    nc = await nats.connect(srv.url)
    try:
        await create(nc, allow_atomic=True)
        for seq in range(1, 5):
            assert await req(nc, "ab.1", bh("busy", seq)) == b""
            await asyncio.sleep(0.6)
        got = json.loads(await req(nc, "ab.1", bh("busy", 5, "1")))
        assert (got["batch"], got["count"]) == ("busy", 5), got
    finally:
        await nc.close()

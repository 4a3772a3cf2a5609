"""The in-process contract (Account.subscribe_internal/publish/has_interest/listeners),
exercised with real nats-py clients against an embedded Orlop server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg

from orlop.server.embed import run_server, start_server
from orlop.server.server import Server


@pytest.fixture
async def srv(tmp_path: Path) -> AsyncIterator[Server]:
    server = await start_server(store_dir=str(tmp_path), jetstream=False)
    try:
        yield server
    finally:
        await server.shutdown()


async def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_internal_sub_receives_client_publish(srv: Server) -> None:
    acc = srv.accounts["$G"]
    got: list[tuple[str, str, bytes, bytes]] = []
    acc.subscribe_internal("svc.*", lambda s, r, h, p: got.append((s, r, h, p)))
    nc = await nats.connect(srv.url)
    try:
        await nc.publish("svc.a", b"one", reply="back", headers={"K": "v"})
        await nc.publish("other", b"two")
        await nc.flush()
        await wait_for(lambda: len(got) == 1)
        subject, reply, hdr, payload = got[0]
        assert (subject, reply, payload) == ("svc.a", "back", b"one")
        assert hdr.startswith(b"NATS/1.0\r\n") and b"K: v\r\n" in hdr
    finally:
        await nc.close()


async def test_internal_responder_is_not_no_responders(srv: Server) -> None:
    acc = srv.accounts["$G"]

    def respond(subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
        assert acc.publish(reply, "", b"", payload.upper()) == 1

    acc.subscribe_internal("$JS.API.INFO", respond)
    nc = await nats.connect(srv.url)
    try:
        msg = await nc.request("$JS.API.INFO", b"hello", timeout=2)
        assert msg.data == b"HELLO"
    finally:
        await nc.close()


async def test_publish_reaches_clients_with_queue_groups(srv: Server) -> None:
    acc = srv.accounts["$G"]
    ncs = [await nats.connect(srv.url) for _ in range(3)]
    got: list[list[bytes]] = [[], [], []]
    try:
        for i, nc in enumerate(ncs):

            async def cb(msg: Msg, i: int = i) -> None:
                got[i].append(msg.data)

            await nc.subscribe("jobs", queue="q", cb=cb)
            await nc.flush()
        plain: list[bytes] = []
        acc.subscribe_internal("jobs", lambda s, r, h, p: plain.append(p))
        counts = [acc.publish("jobs", "", b"", str(n).encode()) for n in range(90)]
        assert counts == [2] * 90  # one queue member + the plain internal sub
        await wait_for(lambda: sum(map(len, got)) == 90)
        assert sorted(int(x) for g in got for x in g) == list(range(90))
        assert len(plain) == 90
    finally:
        for nc in ncs:
            await nc.close()


async def test_headers_to_internal_publish_and_strip(srv: Server) -> None:
    acc = srv.accounts["$G"]
    nc = await nats.connect(srv.url)
    try:
        sub = await nc.subscribe("hdr")
        await nc.flush()
        acc.publish("hdr", "", b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 1\r\n\r\n", b"")
        msg = await sub.next_msg(timeout=2)
        assert msg.headers is not None and msg.headers.get("Status") == "100"
        assert msg.headers.get("Nats-Last-Consumer") == "1"
    finally:
        await nc.close()


async def test_has_interest_and_listeners(srv: Server) -> None:
    acc = srv.accounts["$G"]
    events: list[str] = []
    acc.add_interest_listener(events.append)
    assert not acc.has_interest("deliver.x")
    nc = await nats.connect(srv.url)
    try:
        sub = await nc.subscribe("deliver.*")
        await nc.flush()
        assert acc.has_interest("deliver.x")
        assert events == ["deliver.*"]
        await sub.unsubscribe()
        await nc.flush()
        assert not acc.has_interest("deliver.x")
        assert events == ["deliver.*", "deliver.*"]
        await nc.subscribe("gone.when.closed")
        await nc.flush()
    finally:
        await nc.close()
    await wait_for(lambda: events[-1:] == ["gone.when.closed"] and len(events) == 4)
    assert not acc.has_interest("gone.when.closed")
    internal = acc.subscribe_internal("deliver.y", lambda s, r, h, p: None)
    assert acc.has_interest("deliver.y")
    acc.unsubscribe_internal(internal)
    acc.unsubscribe_internal(internal)
    assert not acc.has_interest("deliver.y")


async def test_reentrant_callbacks(srv: Server) -> None:
    acc = srv.accounts["$G"]
    seen: list[str] = []

    def first(subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
        seen.append(subject)
        acc.subscribe_internal("late", lambda s, r, h, p: seen.append("late:" + p.decode()))
        acc.unsubscribe_internal(sub_first)
        acc.publish("late", "", b"", b"x")

    sub_first = acc.subscribe_internal("start", first)
    assert acc.publish("start", "", b"", b"") == 1
    assert acc.publish("start", "", b"", b"") == 0
    assert seen == ["start", "late:x"]


async def test_accounts_are_isolated(srv: Server) -> None:
    other = srv.lookup_account("B")
    got: list[bytes] = []
    other.subscribe_internal("x", lambda s, r, h, p: got.append(p))
    nc = await nats.connect(srv.url)
    try:
        sub = await nc.subscribe("x")
        await nc.publish("x", b"global")
        assert (await sub.next_msg(timeout=2)).data == b"global"
        assert got == []
        assert other.publish("x", "", b"", b"b-only") == 1
        assert got == [b"b-only"]
        with pytest.raises(nats.errors.TimeoutError):
            await sub.next_msg(timeout=0.2)
    finally:
        await nc.close()


async def test_monitoring_attributes(srv: Server) -> None:
    nc = await nats.connect(srv.url, name="probe")
    try:
        await nc.subscribe("m.1", queue="qq")
        await nc.publish("m.1", b"12345")
        await nc.flush()
        await wait_for(lambda: srv.out_msgs == 1)
        (conn,) = srv.clients.values()
        assert (conn.name, conn.lang) == ("probe", "python3")
        assert conn.account is srv.accounts["$G"]
        assert conn.in_msgs == 1 and conn.in_bytes == 5 and conn.out_msgs == 1 and conn.out_bytes == 5
        assert [(s.subject, s.queue) for s in conn.subscriptions.values()] == [("m.1", "qq")]
        assert conn.pending_bytes >= 0 and conn.last_activity_ns >= conn.start_time_ns
        assert srv.in_msgs == 1 and srv.total_connections == 1 and srv.slow_consumers == 0
        assert srv.accounts["$G"].sublist.count() == 1
        assert len(srv.server_id) == 56 and srv.name == srv.server_id and srv.version == "2.14.0"
    finally:
        await nc.close()


async def test_run_server_yields_url(tmp_path: Path) -> None:
    async with run_server(store_dir=str(tmp_path), jetstream=False, server_name="emb") as url:
        nc = await nats.connect(url)
        assert nc._server_info["server_name"] == "emb"
        assert "jetstream" not in nc._server_info
        await nc.close()
    with pytest.raises(TypeError):
        async with run_server(no_such_option=1):
            pass


async def test_shutdown_closes_clients_and_ports_file(tmp_path: Path) -> None:
    server = await start_server(store_dir=str(tmp_path), jetstream=False, ports_file_dir=str(tmp_path))
    (ports,) = tmp_path.glob("orlop_*.ports")
    assert json.loads(ports.read_text()) == {"nats": [server.url]}
    closed = asyncio.Event()

    async def on_closed() -> None:
        closed.set()

    nc = await nats.connect(server.url, allow_reconnect=False, closed_cb=on_closed)
    assert nc.is_connected
    await server.shutdown()
    await asyncio.wait_for(closed.wait(), 5)
    assert not ports.exists()
    assert server.clients == {}


async def test_run_server_with_jetstream(tmp_path: Path) -> None:
    async with run_server(store_dir=str(tmp_path)) as url:
        nc = await nats.connect(url)
        try:
            assert nc._server_info["jetstream"] is True
            js = nc.jetstream()
            await js.add_stream(name="S", subjects=["s.>"])
            ack = await js.publish("s.1", b"kept")
            assert (ack.stream, ack.seq) == ("S", 1)
        finally:
            await nc.close()
    async with run_server(store_dir=str(tmp_path)) as url:  # the stream survives a restart
        nc = await nats.connect(url)
        try:
            msg = await nc.jetstream().get_msg("S", 1)
            assert msg.data == b"kept"
        finally:
            await nc.close()

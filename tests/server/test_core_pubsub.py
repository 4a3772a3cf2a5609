"""Core NATS behaviour through nats-py, against Orlop and nats-server alike (the ``server`` fixture)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import MaxPayloadError, NoRespondersError, TimeoutError

from orlop.testing import ServerProcess


async def collect(nc: Client, subject: str, queue: str = "") -> tuple[list[Msg], Subscription]:
    got: list[Msg] = []

    async def cb(msg: Msg) -> None:
        got.append(msg)

    sub = await nc.subscribe(subject, queue=queue, cb=cb)
    return got, sub


async def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_info_fields(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        info = nc._server_info
        assert info["proto"] == 1
        assert info["headers"] is True
        assert info["jetstream"] is True
        assert info["max_payload"] == 1048576
        assert isinstance(info["client_id"], int)
        assert info["client_ip"] == "127.0.0.1"
        assert info["server_id"] and info["server_name"]
        major, minor, _ = (int(x) for x in info["version"].split("-")[0].split("."))
        assert (major, minor) >= (2, 10)
        assert "auth_required" not in info
    finally:
        await nc.close()


async def test_pub_sub_and_wildcards(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        exact, _ = await collect(nc, "orders.eu.new")
        star, _ = await collect(nc, "orders.*.new")
        full, _ = await collect(nc, "orders.>")
        for subject in ("orders.eu.new", "orders.us.new", "orders.eu.old", "other"):
            await nc.publish(subject, subject.encode())
        await nc.flush()
        await wait_for(lambda: len(full) == 3)
        assert [m.data for m in exact] == [b"orders.eu.new"]
        assert sorted(m.subject for m in star) == ["orders.eu.new", "orders.us.new"]
        assert sorted(m.data for m in full) == [b"orders.eu.new", b"orders.eu.old", b"orders.us.new"]
    finally:
        await nc.close()


async def test_literal_wildcard_tokens_in_published_subject(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        api, _ = await collect(nc, "$JS.API.DIRECT.GET.OBJ_b.>")
        star, _ = await collect(nc, "x.*")
        lit, _ = await collect(nc, "x.y")
        await nc.publish("$JS.API.DIRECT.GET.OBJ_b.$O.b.M.>", b"1")
        await nc.publish("x.*", b"2")
        await nc.flush()
        await wait_for(lambda: len(api) == 1 and len(star) == 1)
        assert api[0].subject == "$JS.API.DIRECT.GET.OBJ_b.$O.b.M.>"
        assert star[0].subject == "x.*"
        await asyncio.sleep(0.05)
        assert lit == []
    finally:
        await nc.close()


async def test_queue_group_one_member_per_message(server: ServerProcess) -> None:
    ncs = [await nats.connect(server.url) for _ in range(3)]
    try:
        members = [await collect(nc, "work", queue="workers") for nc in ncs]
        plain, _ = await collect(ncs[0], "work")
        for nc in ncs:
            await nc.flush()
        for i in range(300):
            await ncs[0].publish("work", str(i).encode())
        await ncs[0].flush()
        await wait_for(lambda: sum(len(g) for g, _ in members) == 300 and len(plain) == 300)
        seen = sorted(int(m.data) for g, _ in members for m in g)
        assert seen == list(range(300))  # each message to exactly one member
        assert all(len(g) > 30 for g, _ in members)  # spread over every member
    finally:
        for nc in ncs:
            await nc.close()


async def test_request_reply(server: ServerProcess) -> None:
    responder = await nats.connect(server.url)
    requester = await nats.connect(server.url)
    try:

        async def echo(msg: Msg) -> None:
            await msg.respond(b"re:" + msg.data)

        await responder.subscribe("svc.echo", cb=echo)
        await responder.flush()
        replies = await asyncio.gather(*(requester.request("svc.echo", str(i).encode()) for i in range(50)))
        assert [r.data for r in replies] == [f"re:{i}".encode() for i in range(50)]
    finally:
        await requester.close()
        await responder.close()


async def test_no_responders(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        with pytest.raises(NoRespondersError):
            await nc.request("nobody.home", b"?", timeout=2)
    finally:
        await nc.close()


async def test_headers_round_trip(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        got, _ = await collect(nc, "h")
        await nc.publish("h", b"body", headers={"X-One": "1", "X-Two": "two words"})
        await nc.flush()
        await wait_for(lambda: len(got) == 1)
        assert got[0].data == b"body"
        assert got[0].headers == {"X-One": "1", "X-Two": "two words"}
    finally:
        await nc.close()


async def test_headers_stripped_for_client_without_headers(server: ServerProcess) -> None:
    host, port = server.url.removeprefix("nats://").rsplit(":", 1)
    raw = socket.create_connection((host, int(port)), timeout=5)
    nc = await nats.connect(server.url)
    try:
        raw.recv(4096)
        raw.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB h 1\r\nPING\r\n')
        assert raw.recv(4096) == b"PONG\r\n"
        await nc.publish("h", b"body", headers={"K": "v"})
        await nc.flush()
        data = b""
        while not data.endswith(b"body\r\n"):
            data += await asyncio.to_thread(raw.recv, 4096)
        assert data == b"MSG h 1 4\r\nbody\r\n"
    finally:
        raw.close()
        await nc.close()


async def test_unsub_max(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        got, sub = await collect(nc, "limited")
        await sub.unsubscribe(limit=3)
        for i in range(10):
            await nc.publish("limited", str(i).encode())
        await nc.flush()
        await asyncio.sleep(0.1)
        assert [m.data for m in got] == [b"0", b"1", b"2"]
    finally:
        await nc.close()


async def test_echo_off(server: ServerProcess) -> None:
    quiet = await nats.connect(server.url, no_echo=True)
    other = await nats.connect(server.url)
    try:
        mine, _ = await collect(quiet, "e")
        theirs, _ = await collect(other, "e")
        await quiet.flush()
        await other.flush()
        await quiet.publish("e", b"from-quiet")
        await other.publish("e", b"from-other")
        await quiet.flush()
        await other.flush()
        await wait_for(lambda: len(theirs) == 2 and len(mine) == 1)
        assert [m.data for m in mine] == [b"from-other"]
    finally:
        await quiet.close()
        await other.close()


async def test_drain(server: ServerProcess) -> None:
    sub_nc = await nats.connect(server.url)
    pub_nc = await nats.connect(server.url)
    try:
        got: list[bytes] = []

        async def slow(msg: Msg) -> None:
            await asyncio.sleep(0.001)
            got.append(msg.data)

        await sub_nc.subscribe("d", cb=slow)
        await sub_nc.flush()
        # Interest is seen end to end before the timed part (under load nats-server once
        # dropped the first few publishes of another connection right after a flushed SUB).
        for _ in range(500):
            await pub_nc.publish("d", b"ready")
            await pub_nc.flush()
            await asyncio.sleep(0.01)
            if b"ready" in got:
                break
        await asyncio.sleep(0.05)
        got.clear()
        for i in range(200):
            await pub_nc.publish("d", str(i).encode())
        await pub_nc.flush()
        await asyncio.sleep(0.05)
        await sub_nc.drain()
        assert [g for g in got if g != b"ready"] == [str(i).encode() for i in range(200)]
        assert sub_nc.is_closed
    finally:
        await pub_nc.close()


async def test_verbose_ok_and_defaults(server: ServerProcess) -> None:
    host, port = server.url.removeprefix("nats://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        info = raw.recv(4096)
        assert info.startswith(b"INFO {")
        assert json.loads(info[5:].strip())["headers"] is True
        raw.sendall(b"CONNECT {}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n")
        data = b""
        while not data.endswith(b"PONG\r\n"):
            data += raw.recv(4096)
        # CONNECT defaults to verbose: +OK after CONNECT, SUB and PUB (before the delivery).
        assert data == b"+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\nPONG\r\n"


async def test_server_restart_client_reconnects(server: ServerProcess) -> None:
    reconnected = asyncio.Event()

    async def on_reconnect() -> None:
        reconnected.set()

    nc = await nats.connect(
        server.url, reconnected_cb=on_reconnect, max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    try:
        got, _ = await collect(nc, "after")
        await nc.flush()
        await asyncio.to_thread(server.restart)
        await asyncio.wait_for(reconnected.wait(), 20)
        await nc.flush()
        await nc.publish("after", b"still here")
        await nc.flush()
        await wait_for(lambda: len(got) == 1)
        assert got[0].data == b"still here"
    finally:
        await nc.close()


async def test_request_timeout_when_responder_silent(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:

        async def ignore(msg: Msg) -> None:
            return None

        await nc.subscribe("silent", cb=ignore)
        await nc.flush()
        with pytest.raises(TimeoutError):
            await nc.request("silent", b"?", timeout=0.3)
    finally:
        await nc.close()


async def test_max_payload_from_info_is_enforced(server: ServerProcess) -> None:
    # The client learns the limit from INFO and refuses one byte more; exactly the limit
    # is delivered. (The server's own refusal of a larger PUB is in test_badinput_raw.)
    nc = await nats.connect(server.url)
    try:
        limit = nc.max_payload
        assert limit == 1024 * 1024
        got, _ = await collect(nc, "big")
        with pytest.raises(MaxPayloadError):
            await nc.publish("big", b"x" * (limit + 1))
        await nc.publish("big", b"y" * limit)
        await nc.flush()
        await wait_for(lambda: len(got) == 1)
        assert got[0].data == b"y" * limit
        assert nc.is_connected
    finally:
        await nc.close()

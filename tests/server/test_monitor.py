"""The monitoring port, checked the way an operator uses it: HTTP GETs next to a real client.

Every behavioural test runs against Orlop and nats-server (``server`` fixture), so the
field names and the way counters move are nats-server's.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import urllib.error
import urllib.request
from typing import Any

import nats
import pytest
from nats.aio.client import __version__ as NATS_PY_VERSION

from orlop.server.monitor import uptime_string
from orlop.testing import KINDS, ServerProcess

UPTIME = re.compile(r"^(\d+y)?(\d+d)?(\d+h)?(\d+m)?\d+s$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def _get(url: str) -> tuple[int, str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read().decode()
            ctype = resp.headers.get("Content-Type", "")
            return resp.status, ctype, json.loads(body) if "json" in ctype else body
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read().decode()


async def get(server: ServerProcess, path: str) -> tuple[int, str, Any]:
    return await asyncio.to_thread(_get, server.monitor_url + path)


async def get_json(server: ServerProcess, path: str) -> dict[str, Any]:
    status, ctype, body = await get(server, path)
    assert status == 200, (path, status, body)
    assert ctype.startswith("application/json")
    assert isinstance(body, dict)
    return body


# --- pure ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59.9, "59s"),
        (62, "1m2s"),
        (3600, "1h0m0s"),
        (3725, "1h2m5s"),
        (86400 + 61, "1d0h1m1s"),
        (400 * 86400, "1y35d0h0m0s"),
    ],
)
def test_uptime_string_matches_nats_server(seconds: float, text: str) -> None:
    assert uptime_string(seconds) == text


# --- behavioural, both servers -------------------------------------------------------------------


async def test_healthz(server: ServerProcess) -> None:
    assert await get_json(server, "/healthz") == {"status": "ok"}


async def test_unknown_path_is_404(server: ServerProcess) -> None:
    status, _ctype, _body = await get(server, "/no-such-page")
    assert status == 404


async def test_varz_fields_and_counters_move(server: ServerProcess) -> None:
    before = await get_json(server, "/varz")
    for key in (
        "server_id",
        "server_name",
        "version",
        "host",
        "max_connections",
        "ping_interval",
        "max_payload",
        "mem",
        "cores",
        "cpu",
        "subscriptions",
        "slow_consumers",
        "http_port",
    ):
        assert key in before, key
    assert before["proto"] == 1
    assert before["port"] == int(server.url.rsplit(":", 1)[1])
    assert before["http_port"] == -1  # the configured value (-m -1), as nats-server reports it
    assert before["max_payload"] == 1024 * 1024
    assert before["ping_interval"] == 120 * 10**9  # nanoseconds, as nats-server
    assert UPTIME.match(before["uptime"]) and RFC3339.match(before["now"]) and RFC3339.match(before["start"])
    assert before["mem"] > 0 and before["cores"] >= 1
    assert before["jetstream"]["config"]["store_dir"]
    assert before["jetstream"]["config"]["max_memory"] > 0  # derived from the machine, as nats-server

    nc = await nats.connect(server.url)
    try:
        got: list[bytes] = []

        async def on_msg(msg: Any) -> None:
            got.append(msg.data)

        await nc.subscribe("mon.>", cb=on_msg)
        for _ in range(10):
            await nc.publish("mon.x", b"0123456789")
        await nc.flush()
        for _ in range(100):
            if len(got) == 10:
                break
            await asyncio.sleep(0.01)
        after = await get_json(server, "/varz")
        assert after["connections"] == before["connections"] + 1
        assert after["total_connections"] >= before["total_connections"] + 1
        assert after["subscriptions"] >= before["subscriptions"] + 1
    finally:
        await nc.close()
    assert after["in_msgs"] >= before["in_msgs"] + 10
    assert after["in_bytes"] >= before["in_bytes"] + 100
    assert after["out_msgs"] >= before["out_msgs"] + 10
    assert after["out_bytes"] >= before["out_bytes"] + 100


async def test_connz_lists_the_client_with_its_name(server: ServerProcess) -> None:
    nc = await nats.connect(server.url, name="monitor-probe")
    try:
        await nc.subscribe("probe.a")
        await nc.subscribe("probe.b", queue="workers")
        await nc.publish("probe.a", b"hi")
        await nc.flush()
        body = await get_json(server, "/connz?subs=1")
        assert body["num_connections"] == body["total"] == 1
        assert body["offset"] == 0 and body["limit"] == 1024
        (conn,) = body["connections"]
        assert conn["name"] == "monitor-probe"
        assert conn["lang"] == "python3"
        assert conn["version"] == NATS_PY_VERSION
        assert conn["ip"] == "127.0.0.1" and conn["port"] > 0
        assert conn["subscriptions"] == 2
        assert sorted(conn["subscriptions_list"]) == ["probe.a", "probe.b"]
        assert conn["in_msgs"] >= 1 and conn["in_bytes"] >= 2
        assert UPTIME.match(conn["uptime"]) and UPTIME.match(conn["idle"])
        assert RFC3339.match(conn["start"]) and RFC3339.match(conn["last_activity"])

        detail = await get_json(server, "/connz?subs=detail")
        subs = {d["subject"]: d for d in detail["connections"][0]["subscriptions_list_detail"]}
        assert subs["probe.b"]["qgroup"] == "workers"
        assert "qgroup" not in subs["probe.a"]
        assert subs["probe.a"]["cid"] == conn["cid"]

        plain = await get_json(server, "/connz")
        assert "subscriptions_list" not in plain["connections"][0]
    finally:
        await nc.close()


async def test_connz_paging_and_sorting(server: ServerProcess) -> None:
    clients = [await nats.connect(server.url, name=f"c{i}") for i in range(3)]
    try:
        for i, nc in enumerate(clients):
            for _ in range(i + 1):
                await nc.publish("page.x", b"x")
            await nc.flush()
        page = await get_json(server, "/connz?offset=1&limit=1")
        assert (page["total"], page["num_connections"], page["offset"], page["limit"]) == (3, 1, 1, 1)
        everyone = await get_json(server, "/connz")
        cids = [c["cid"] for c in everyone["connections"]]
        assert cids == sorted(cids)
        assert page["connections"][0]["cid"] == cids[1]
        by_msgs = await get_json(server, "/connz?sort=msgs_from")
        assert [c["name"] for c in by_msgs["connections"]] == ["c2", "c1", "c0"]
        one = await get_json(server, f"/connz?cid={cids[2]}")
        assert [c["cid"] for c in one["connections"]] == [cids[2]]
    finally:
        for nc in clients:
            await nc.close()


async def test_subsz_counts_subscriptions(server: ServerProcess) -> None:
    before = await get_json(server, "/subsz")
    for key in (
        "num_subscriptions",
        "num_cache",
        "num_inserts",
        "num_removes",
        "num_matches",
        "cache_hit_rate",
    ):
        assert key in before, key
    nc = await nats.connect(server.url)
    try:
        sub = await nc.subscribe("subsz.one")
        await nc.flush()
        during = await get_json(server, "/subsz")
        assert during["num_subscriptions"] == before["num_subscriptions"] + 1
        assert during["num_inserts"] >= before["num_inserts"] + 1
        await sub.unsubscribe()
        await nc.flush()
        after = await get_json(server, "/subsz")
        assert after["num_subscriptions"] == before["num_subscriptions"]
        assert after["num_removes"] >= before["num_removes"] + 1
    finally:
        await nc.close()


async def test_jsz_reports_streams(server: ServerProcess) -> None:
    empty = await get_json(server, "/jsz")
    assert empty["streams"] == 0 and "config" in empty and "disabled" not in empty
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="MON", subjects=["mon.js.>"])
        await js.publish("mon.js.a", b"12345")
        body = await get_json(server, "/jsz")
    finally:
        await nc.close()
    assert body["streams"] == 1
    assert body["messages"] == 1
    assert body["bytes"] > 0


@pytest.mark.parametrize("kind", KINDS)
async def test_jsz_when_jetstream_is_off(kind: str, server_factory: type[ServerProcess]) -> None:
    proc = server_factory(kind=kind, jetstream=False).start()
    body = await get_json(proc, "/jsz")
    assert body["disabled"] is True
    assert body["streams"] == 0
    varz = await get_json(proc, "/varz")
    assert not varz.get("jetstream", {}).get("config")


# --- Orlop's HTTP handling: robustness (Orlop only: the parser is ours) ---------------------------


def _raw(monitor_url: str, request: bytes) -> bytes:
    host, port = monitor_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_monitor_http_edge_cases(orlop_server: ServerProcess) -> None:
    url = orlop_server.monitor_url
    head = await asyncio.to_thread(_raw, url, b"HEAD /varz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")  # headers, no body
    assert b"Content-Type: application/json" in head
    post = await asyncio.to_thread(_raw, url, b"POST /varz HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert post.startswith(b"HTTP/1.1 405 ")
    junk = await asyncio.to_thread(_raw, url, b"\x00\x01garbage\r\n\r\n")
    assert junk.startswith(b"HTTP/1.1 400 ")
    bad_sort = await asyncio.to_thread(_raw, url, b"GET /connz?sort=nonsense HTTP/1.1\r\n\r\n")
    assert bad_sort.startswith(b"HTTP/1.1 400 ") and b"Invalid sorting option" in bad_sort
    ok = await asyncio.to_thread(_raw, url, b"GET /healthz?x=1 HTTP/1.0\r\n\r\n")
    status, body = ok.split(b"\r\n", 1)[0], ok.split(b"\r\n\r\n", 1)[1]
    assert status == b"HTTP/1.1 200 OK" and json.loads(body) == {"status": "ok"}
    length = int(re.search(rb"Content-Length: (\d+)", ok).group(1))  # type: ignore[union-attr]
    assert length == len(body)

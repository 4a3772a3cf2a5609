"""The version Orlop claims (INFO, /varz, JetStream API level) and the 2.11 features behind it.

nats-server 2.11 is JetStream API level 1: per-message TTL (ADR-43), KV limit
markers (ADR-48) and batched direct get (batch get is covered in
``test_msg_get_direct.py``). Both servers must report at least that, Orlop
exactly that; the TTL features are then exercised through nats-py's own APIs
on both servers. ``max_age`` beats a longer per-message TTL, only ``never``
exempts a message (nats-server's ``expireMsgs``).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Any

import nats
import pytest
from nats.js.api import KeyValueConfig, StreamConfig

from orlop.testing import ServerProcess


def version_tuple(version: str) -> tuple[int, int]:
    major, minor = version.split("-")[0].split(".")[:2]
    return int(major), int(minor)


async def wait_for(predicate: Any, timeout: float = 8.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_version_and_api_level(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        info = nc._server_info
        info_version = info["version"]
        level = (await nc.jetstream().account_info()).api.level
    finally:
        await nc.close()
    with urllib.request.urlopen(server.monitor_url + "/varz", timeout=10) as resp:
        varz = json.loads(resp.read())
    assert varz["version"] == info_version
    assert version_tuple(info_version) >= (2, 11) and level is not None and level >= 1
    # INFO carries api_lvl from nats-server 2.12 on; a 2.11 server sends none.
    if version_tuple(info_version) >= (2, 12):
        assert info["api_lvl"] == level
    else:
        assert "api_lvl" not in info
    if server.kind == "orlop":
        assert info_version == "2.11.0" and level == 1


async def test_nats_py_message_ttl_and_max_age(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="T", subjects=["t.*"], allow_msg_ttl=True, max_age=1.0))
        await js.publish("t.short", b"1", msg_ttl=1)
        await js.publish("t.long", b"2", msg_ttl=3600)
        await js.publish("t.never", b"3", headers={"Nats-TTL": "never"})
        await js.publish("t.plain", b"4")
        assert (await js.stream_info("T")).state.messages == 4

        async def only_never_left() -> bool:
            info = await js.stream_info("T", subjects_filter=">")
            return info.state.subjects == {"t.never": 1}

        assert await wait_for(only_never_left)
        assert (await js.get_last_msg("T", "t.never")).data == b"3"
    finally:
        await nc.close()


async def test_nats_py_kv_limit_markers(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        kv = await js.create_key_value(KeyValueConfig(bucket="M", history=1, limit_marker_ttl=1))
        assert (await kv.status()).marker_ttl == pytest.approx(1.0)
        watcher: Any = await kv.watchall(include_history=True)  # nats-py leaves it untyped
        assert await watcher.updates(timeout=5) is None  # empty bucket: end of initial values
        await kv.create("k", b"v", msg_ttl=1)
        first = await watcher.updates(timeout=5)
        assert first is not None and first.key == "k" and first.value == b"v"
        marker = await watcher.updates(timeout=8)  # the server's MaxAge marker, seen as a purge
        assert marker is not None and marker.key == "k" and marker.operation == "PURGE"
        last = await js.get_last_msg("KV_M", "$KV.M.k")
        assert last.headers is not None and last.headers["Nats-Marker-Reason"] == "MaxAge"
        assert not last.data and (await js.stream_info("KV_M")).state.messages == 1
        await watcher.stop()
    finally:
        await nc.close()

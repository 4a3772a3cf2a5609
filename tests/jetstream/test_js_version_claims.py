"""The version Orlop claims (INFO, /varz, JetStream API level) and the features behind it.

Orlop claims nats-server 2.14.0, JetStream API level 4. A claim is a promise to every
client (nats.js, for one, offers fast-ingest object puts only from INFO's ``api_lvl`` 4),
so :data:`LEVEL_FEATURES` lists what each level up to the claimed one brings, with a small
probe per feature; :func:`test_every_feature_of_the_claimed_levels` runs every probe of
every level up to the claim on both servers, so the claim cannot run ahead of the code: a
feature refused by Orlop fails it. The features' full behaviour is tested in their own
files (test_js_counters, test_js_batch_atomic, test_js_fast_ingest, test_js_schedules,
test_consumers_priority, test_consumers_ack_flow_control).

Level 1 (2.11): per-message TTL (ADR-43), KV limit markers (ADR-48) and batched direct
get (``test_msg_get_direct.py``); the TTL features are exercised through nats-py's own APIs
on both servers. ``max_age`` beats a longer per-message TTL, only ``never`` exempts a
message (nats-server's ``expireMsgs``).
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
        assert info_version == "2.14.0" and level == CLAIMED_LEVEL and info["api_lvl"] == CLAIMED_LEVEL


CLAIMED_LEVEL = 4

StreamProbe = dict[str, Any]
LEVEL_FEATURES: dict[int, dict[str, StreamProbe]] = {
    1: {
        "per-message TTL": {"allow_msg_ttl": True},
        "subject delete markers": {"subject_delete_marker_ttl": 1_000_000_000},
    },
    2: {
        "message counters": {"allow_msg_counter": True},
        "atomic batch publish": {"allow_atomic": True},
        "message schedules": {"allow_msg_schedules": True},
        "async persist mode": {"persist_mode": "async"},
    },
    4: {"fast ingest (batched publish)": {"allow_batched": True}},
}
"""Stream features by the API level that brought them (nats-server's jetstream_versioning.go).
Consumer features of the claimed levels (pause, priority groups, flow-control acks) are
probed by :func:`test_consumer_features_of_the_claimed_levels`."""


async def test_every_feature_of_the_claimed_levels(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        for level, features in LEVEL_FEATURES.items():
            for i, (feature, extra) in enumerate(features.items()):
                name = f"L{level}F{i}"
                body = {"name": name, "subjects": [f"{name.lower()}.>"], **extra}
                raw = await nc.request(f"$JS.API.STREAM.CREATE.{name}", json.dumps(body).encode(), timeout=5)
                got = json.loads(raw.data)
                assert "error" not in got, f"level {level} feature {feature!r} refused: {got['error']}"
                for key, value in extra.items():
                    assert got["config"][key] == value, feature
                assert int(got["config"]["metadata"]["_nats.req.level"]) == level, feature
                if server.kind == "orlop":
                    assert got["config"]["metadata"]["_nats.level"] == str(CLAIMED_LEVEL)
                    assert got["config"]["metadata"]["_nats.ver"] == "2.14.0"
        # And each works: one message through each new publish path.
        incr = await nc.request("l2f0.x", b"", headers={"Nats-Incr": "1"}, timeout=5)
        assert json.loads(incr.data)["val"] == "1"
        batch = {"Nats-Batch-Id": "v", "Nats-Batch-Sequence": "1", "Nats-Batch-Commit": "1"}
        assert json.loads((await nc.request("l2f1.x", b"1", headers=batch, timeout=5)).data)["count"] == 1
        inbox = nc.new_inbox()
        sub = await nc.subscribe(f"{inbox}.fi.>")
        await nc.publish("l4f0.x", b"1", reply=f"{inbox}.fi.10.fail.1.2.$FI")
        assert json.loads((await sub.next_msg(timeout=5)).data)["count"] == 1
    finally:
        await nc.close()


async def test_consumer_features_of_the_claimed_levels(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await nc.request(
            "$JS.API.STREAM.CREATE.CF", json.dumps({"name": "CF", "subjects": ["cf.>"]}).encode()
        )
        probes: list[tuple[int, str, dict[str, Any]]] = [
            (
                1,
                "pause",
                {"durable_name": "P", "pause_until": "2099-01-01T00:00:00Z", "ack_policy": "explicit"},
            ),
            (
                1,
                "priority groups",
                {
                    "durable_name": "G",
                    "priority_policy": "overflow",
                    "priority_groups": ["g"],
                    "ack_policy": "explicit",
                },
            ),
            (
                4,
                "flow-control acks",
                {
                    "durable_name": "F",
                    "deliver_subject": "fcdeliver.f",
                    "ack_policy": "flow_control",
                    "flow_control": True,
                    "idle_heartbeat": 1_000_000_000,
                    "max_ack_pending": 100,
                },
            ),
        ]
        for level, feature, cfg in probes:
            assert level <= CLAIMED_LEVEL
            body = json.dumps({"stream_name": "CF", "config": cfg}).encode()
            got = json.loads(
                (await nc.request(f"$JS.API.CONSUMER.CREATE.CF.{cfg['durable_name']}", body, timeout=5)).data
            )
            assert "error" not in got, f"level {level} consumer feature {feature!r} refused: {got['error']}"
            assert got["config"]["metadata"]["_nats.req.level"] == str(level), feature
    finally:
        await nc.close()


async def test_required_api_level_header(server: ServerProcess) -> None:
    """``Nats-Required-Api-Level`` up to the claimed level is served, above it refused (412/10185)."""
    nc = await nats.connect(server.url)
    try:
        level = (await nc.jetstream().account_info()).api.level
        assert level is not None
        ok = await nc.request("$JS.API.INFO", b"", headers={"Nats-Required-Api-Level": str(level)}, timeout=5)
        assert "error" not in json.loads(ok.data)
        ok = await nc.request(
            "$JS.API.INFO", b"", headers={"Nats-Required-Api-Level": str(CLAIMED_LEVEL)}, timeout=5
        )
        assert "error" not in json.loads(ok.data)
        for wanted in (str(level + 1), "x", " 1_0"):
            bad = await nc.request(
                "$JS.API.INFO", b"", headers={"Nats-Required-Api-Level": wanted}, timeout=5
            )
            assert json.loads(bad.data)["error"] == {
                "code": 412,
                "err_code": 10185,
                "description": "JetStream minimum api level required",
            }, wanted
    finally:
        await nc.close()


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

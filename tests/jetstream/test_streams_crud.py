"""Stream CRUD through the JetStream API, byte-compatible with nats-server 2.15.

Every test runs against Orlop and nats-server (the ``server`` fixture); error
codes and descriptions are compared exactly, because clients compare them.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import nats
import pytest
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from orlop.testing import ServerProcess


async def api(nc: Any, subject: str, body: Any = b"") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    msg = await nc.request("$JS.API." + subject, raw, timeout=5)
    result: dict[str, Any] = json.loads(msg.data)
    return result


def err(resp: dict[str, Any]) -> tuple[int, int, str]:
    e = resp["error"]
    assert set(e) == {"code", "err_code", "description"}
    return e["code"], e["err_code"], e["description"]


async def test_create_echoes_normalised_config(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        resp = await api(nc, "STREAM.CREATE.ORDERS", {"name": "ORDERS", "subjects": ["orders.>"]})
        assert resp["type"] == "io.nats.jetstream.api.v1.stream_create_response"
        cfg = resp["config"]
        assert cfg["subjects"] == ["orders.>"]
        assert cfg["storage"] == "file" and cfg["num_replicas"] == 1 and cfg["retention"] == "limits"
        for key in ("max_msgs", "max_bytes", "max_msgs_per_subject", "max_msg_size", "max_consumers"):
            assert cfg[key] == -1, key
        assert cfg["duplicate_window"] == 120_000_000_000
        assert cfg["discard"] == "old" and cfg["compression"] == "none"
        assert resp["state"]["messages"] == 0 and resp["state"]["first_seq"] == 0
        assert resp["state"]["first_ts"] == "0001-01-01T00:00:00Z"
        assert resp["created"].endswith("Z") and resp["did_create"] is True
        # Idempotent: the same config again succeeds with the same creation time.
        again = await api(nc, "STREAM.CREATE.ORDERS", {"name": "ORDERS", "subjects": ["orders.>"]})
        assert again["created"] == resp["created"]
        other = await api(
            nc, "STREAM.CREATE.ORDERS", {"name": "ORDERS", "subjects": ["orders.>"], "max_msgs": 5}
        )
        assert err(other) == (400, 10058, "stream name already in use with a different configuration")
    finally:
        await nc.close()


async def test_subjects_default_to_name_and_duplicate_window_follows_max_age(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        resp = await api(nc, "STREAM.CREATE.plain", {"name": "plain", "max_age": 1_000_000_000})
        assert resp["config"]["subjects"] == ["plain"]
        assert resp["config"]["duplicate_window"] == 1_000_000_000
        ack = json.loads((await nc.request("plain", b"x", timeout=5)).data)
        assert ack == {"stream": "plain", "seq": 1}
    finally:
        await nc.close()


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("STREAM.CREATE.S6", {"name": "S7"}, (400, 10056, "stream name in subject does not match request")),
        ("STREAM.CREATE.S6", b"", (400, 10056, "stream name in subject does not match request")),
        (
            "STREAM.CREATE.S6",
            {"name": "S6", "deny_purge": True, "allow_rollup_hdrs": True},
            (500, 10052, "roll-ups require the purge permission"),
        ),
        ("STREAM.CREATE.S6", {"name": "S6", "max_age": 1000}, (500, 10052, "max age needs to be >= 100ms")),
        (
            "STREAM.CREATE.S6",
            {"name": "S6", "num_replicas": 3},
            (500, 10074, "replicas > 1 not supported in non-clustered mode"),
        ),
        (
            "STREAM.CREATE.S6",
            {"name": "S6", "replicas": 1},
            (400, 10025, 'invalid JSON: json: unknown field "replicas"'),
        ),
        (
            "STREAM.CREATE.S6",
            b"{bad",
            (
                400,
                10025,
                "invalid JSON: invalid character 'b' looking for beginning of object key string at offset 2",
            ),
        ),
        (
            "STREAM.CREATE.S6",
            {"name": "S6", "max_msgs": "x"},
            (
                400,
                10025,
                "invalid JSON: json: cannot unmarshal string into Go struct field"
                " StreamConfigRequest.max_msgs of type int64",
            ),
        ),
        (
            "STREAM.CREATE.S6",
            {"name": "S6", "storage": "disk"},
            (400, 10025, 'invalid JSON: can not unmarshal "\\"disk\\""'),
        ),
        ("STREAM.CREATE.S6", {"name": "S6", "subjects": ["a..b"]}, (500, 10052, "invalid subject")),
        (
            "STREAM.CREATE.S6",
            {"name": "S6", "subjects": ["a.b", "a.*"]},
            (500, 10052, 'subject "a.b" overlaps with "a.*"'),
        ),
        (
            "STREAM.CREATE.S6",
            {"name": "S6", "subjects": ["$JS.API.>"]},
            (500, 10052, "subjects that overlap with jetstream api require no-ack to be true"),
        ),
        (
            "STREAM.CREATE.S6",
            {"name": "S6", "discard_new_per_subject": True},
            (500, 10052, "discard new per subject requires discard new policy to be set"),
        ),
        (
            "STREAM.UPDATE.S6",
            b"",
            (500, 10052, "stream name is required and can not contain '.', '*', '>', '\\', '/'"),
        ),
    ],
)
async def test_create_errors(
    server: ServerProcess, subject: str, body: Any, expected: tuple[int, int, str]
) -> None:
    nc = await nats.connect(server.url)
    try:
        resp = await api(nc, subject, body)
        assert err(resp) == expected
        assert "config" not in resp
    finally:
        await nc.close()


async def test_overlapping_subjects_refused(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.A", {"name": "A", "subjects": ["a.*"]})
        resp = await api(nc, "STREAM.CREATE.B", {"name": "B", "subjects": ["a.x"]})
        assert err(resp) == (400, 10065, "subjects overlap with an existing stream")
        await api(nc, "STREAM.CREATE.B", {"name": "B", "subjects": ["b.>"]})
        upd = await api(nc, "STREAM.UPDATE.B", {"name": "B", "subjects": ["b.>", "a.>"]})
        assert err(upd) == (400, 10065, "subjects overlap with an existing stream")
    finally:
        await nc.close()


@pytest.mark.parametrize(
    ("subject", "body", "extra"),
    [
        ("STREAM.INFO.nope", b"", {"total": 0, "offset": 0, "limit": 0}),
        ("STREAM.PURGE.nope", b"", {"purged": 0}),
        ("STREAM.MSG.GET.nope", {"seq": 1}, {}),
        ("STREAM.MSG.DELETE.nope", {"seq": 1}, {}),
        ("STREAM.DELETE.nope", b"", {}),
        ("STREAM.UPDATE.nope", {"name": "nope"}, {}),
    ],
)
async def test_missing_stream_is_10059(
    server: ServerProcess, subject: str, body: Any, extra: dict[str, int]
) -> None:
    nc = await nats.connect(server.url)
    try:
        resp = await api(nc, subject, body)
        assert err(resp) == (404, 10059, "stream not found")
        assert {k: v for k, v in resp.items() if k not in ("type", "error")} == extra
    finally:
        await nc.close()


async def test_nats_py_manager_round_trip(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    try:
        info = await js.add_stream(StreamConfig(name="KV_x", subjects=["x.>"], max_msgs_per_subject=5))
        assert info.config.max_msgs_per_subject == 5
        await js.publish("x.a", b"1")
        info = await js.stream_info("KV_x")
        assert info.state.messages == 1 and info.state.last_seq == 1
        cfg = info.config
        cfg.description = "updated"
        cfg.max_msgs = 100
        info = await js.update_stream(cfg)
        assert info.config.description == "updated" and info.config.max_msgs == 100
        with pytest.raises(BadRequestError) as exc:
            await js.add_stream(StreamConfig(name="KV_x", subjects=["x.>"], max_msgs=3))
        assert exc.value.err_code == 10058
        assert await js.delete_stream("KV_x") is True
        with pytest.raises(NotFoundError) as nf:
            await js.stream_info("KV_x")
        assert nf.value.err_code == 10059
    finally:
        await nc.close()


async def test_update_rules(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.U", {"name": "U", "subjects": ["u.*"]})
        resp = await api(nc, "STREAM.UPDATE.U", {"name": "U", "subjects": ["u.*"], "storage": "memory"})
        assert err(resp) == (500, 10052, "stream configuration update can not change storage type")
        resp = await api(nc, "STREAM.UPDATE.U", {"name": "U", "subjects": ["u.*"], "num_replicas": 3})
        assert err(resp)[1] == 10074
        resp = await api(nc, "STREAM.UPDATE.U", {"name": "X"})
        assert err(resp) == (400, 10056, "stream name in subject does not match request")
        resp = await api(nc, "STREAM.UPDATE.U", {"name": "U", "subjects": ["u.*", "v.>"], "max_msgs": 7})
        assert resp["config"]["subjects"] == ["u.*", "v.>"] and resp["config"]["max_msgs"] == 7
        assert "did_create" not in resp
        # The new subject captures messages; TTLs can be enabled but never disabled again.
        ack = json.loads((await nc.request("v.q", b"1", timeout=5)).data)
        assert ack == {"stream": "U", "seq": 1}
        resp = await api(nc, "STREAM.UPDATE.U", {"name": "U", "subjects": ["u.*"], "allow_msg_ttl": True})
        assert resp["config"]["allow_msg_ttl"] is True
        resp = await api(nc, "STREAM.UPDATE.U", {"name": "U", "subjects": ["u.*"]})
        assert err(resp) == (500, 10052, "message TTL status can not be disabled")
    finally:
        await nc.close()


async def test_sealed_stream(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        base = {
            "name": "SEAL",
            "subjects": ["seal.*"],
            "allow_rollup_hdrs": True,
            "max_age": 3_600_000_000_000,
        }
        await api(nc, "STREAM.CREATE.SEAL", base)
        await nc.request("seal.a", b"1", timeout=5)
        resp = await api(nc, "STREAM.UPDATE.SEAL", {**base, "sealed": True})
        cfg = resp["config"]
        assert cfg["sealed"] and cfg["deny_delete"] and cfg["deny_purge"]
        assert cfg["max_age"] == 0 and cfg["discard"] == "new" and cfg["allow_rollup_hdrs"] is False
        ack = json.loads((await nc.request("seal.b", b"2", timeout=5)).data)
        assert ack == {
            "error": {"code": 400, "err_code": 10109, "description": "invalid operation on sealed stream"},
            "stream": "SEAL",
            "seq": 0,
        }
        assert err(await api(nc, "STREAM.PURGE.SEAL"))[1] == 10109
        assert err(await api(nc, "STREAM.MSG.DELETE.SEAL", {"seq": 1}))[1] == 10109
        resp = await api(nc, "STREAM.UPDATE.SEAL", {**cfg, "sealed": False})
        assert err(resp) == (500, 10052, "stream configuration update can not unseal a sealed stream")
        info = await api(nc, "STREAM.INFO.SEAL")
        assert info["state"]["messages"] == 1
    finally:
        await nc.close()


async def test_names_and_list_filters(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        empty = await api(nc, "STREAM.NAMES")
        assert empty["streams"] is None and empty["total"] == 0 and empty["limit"] == 1024
        for name, subj in (("OBJ_a", "$O.a.C.>"), ("OBJ_b", "$O.b.C.>"), ("KV_c", "$KV.c.>")):
            await api(nc, f"STREAM.CREATE.{name}", {"name": name, "subjects": [subj]})
        names = await api(nc, "STREAM.NAMES", {"subject": "$O.*.C.>"})
        assert names["streams"] == ["OBJ_a", "OBJ_b"] and names["total"] == 2
        one = await api(nc, "STREAM.NAMES", {"subject": "$O.b.C.xyz"})
        assert one["streams"] == ["OBJ_b"]
        none = await api(nc, "STREAM.NAMES", {"subject": "nothing.here"})
        assert none["streams"] is None
        paged = await api(nc, "STREAM.NAMES", {"offset": 1})
        assert paged["total"] == 3 and paged["offset"] == 1 and len(paged["streams"]) == 2
        listed = await api(nc, "STREAM.LIST", {"subject": "$KV.c.k"})
        assert listed["limit"] == 256 and [s["config"]["name"] for s in listed["streams"]] == ["KV_c"]
        assert (await api(nc, "STREAM.LIST", {"subject": "zzz"}))["streams"] == []
    finally:
        await nc.close()


async def test_delete_requires_empty_body_and_account_info(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.D", {"name": "D", "max_bytes": 1000})
        resp = await api(nc, "STREAM.DELETE.D", {"x": 1})
        assert err(resp) == (400, 10038, "expected an empty request payload")
        info = await api(nc, "INFO")
        assert info["type"] == "io.nats.jetstream.api.v1.account_info_response"
        assert info["streams"] == 1 and info["reserved_storage"] == 1000
        assert info["limits"]["max_streams"] == -1
        assert info["api"]["errors"] == 1 and info["api"]["total"] == 2
        assert (await api(nc, "STREAM.DELETE.D")) == {
            "type": "io.nats.jetstream.api.v1.stream_delete_response",
            "success": True,
        }
        assert (await api(nc, "INFO"))["streams"] == 0
    finally:
        await nc.close()


async def test_compression_memory_and_metadata(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        body = {
            "name": "Z",
            "subjects": ["z.>"],
            "compression": "s2",
            "metadata": {"owner": "team-a", "app": "orlop"},
            "description": "compressed",
        }
        resp = await api(nc, "STREAM.CREATE.Z", body)
        cfg = resp["config"]
        assert cfg["compression"] == "s2" and cfg["description"] == "compressed"
        assert cfg["metadata"]["owner"] == "team-a" and cfg["metadata"]["app"] == "orlop"
        text = b"the same words again and again " * 2000
        assert json.loads((await nc.request("z.t", text, timeout=5)).data)["seq"] == 1
        got = await api(nc, "STREAM.MSG.GET.Z", {"seq": 1})
        assert base64.b64decode(got["message"]["data"]) == text
        # A client echoing the whole returned config (server metadata included) is idempotent.
        again = await api(nc, "STREAM.CREATE.Z", cfg)
        assert "error" not in again and again["created"] == resp["created"]
        mem = await api(nc, "STREAM.CREATE.M", {"name": "M", "storage": "memory", "subjects": ["m"]})
        assert mem["config"]["storage"] == "memory"
        await nc.request("m", b"in memory", timeout=5)
        info = await api(nc, "INFO")
        assert info["memory"] > 0 and info["streams"] == 2
    finally:
        await nc.close()


async def test_first_seq(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        resp = await api(nc, "STREAM.CREATE.F", {"name": "F", "first_seq": 100})
        assert resp["config"]["first_seq"] == 100
        assert (resp["state"]["first_seq"], resp["state"]["last_seq"]) == (100, 99)
        assert json.loads((await nc.request("F", b"x", timeout=5)).data) == {"stream": "F", "seq": 100}
        state = (await api(nc, "STREAM.INFO.F"))["state"]
        assert (state["messages"], state["first_seq"], state["last_seq"]) == (1, 100, 100)
    finally:
        await nc.close()


async def test_cluster_only_endpoints(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, "STREAM.CREATE.S", {"name": "S"})
        for subject, kind in (
            ("STREAM.LEADER.STEPDOWN.S", "stream_leader_stepdown_response"),
            ("STREAM.PEER.REMOVE.S", "stream_remove_peer_response"),
        ):
            resp = await api(nc, subject, {"peer": "x"} if "PEER" in subject else b"")
            assert resp["type"] == "io.nats.jetstream.api.v1." + kind
            assert err(resp) == (503, 10010, "JetStream clustering support required")
    finally:
        await nc.close()

"""Consumer API: create in its three subject forms, defaults, info, names, list, delete, errors.

Every test runs on Orlop and on nats-server; the expected values are what
nats-server answers (its metadata version stamps differ and are not compared).
"""

from __future__ import annotations

import json
from typing import Any

import nats
import pytest

from orlop.testing import ServerProcess


async def api(nc: Any, subject: str, body: Any = b"") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, raw, timeout=5)).data)
    return result


def err(resp: dict[str, Any]) -> tuple[int, int, str]:
    e = resp["error"]
    return e["code"], e["err_code"], e["description"]


def without_meta(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if k != "metadata"}


async def setup_stream(server: ServerProcess, msgs: int = 3) -> Any:
    nc = await nats.connect(server.url)
    await api(nc, "STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"], "storage": "memory"})
    for i in range(msgs):
        await nc.request(f"s.{i % 2}", b"x" * i, timeout=5)
    return nc


async def test_create_forms_and_defaults(server: ServerProcess) -> None:
    nc = await setup_stream(server)
    try:
        push = {"deliver_subject": "dd", "ack_policy": "explicit"}
        legacy = await api(nc, "CONSUMER.CREATE.S", {"stream_name": "S", "config": push})
        assert legacy["type"] == "io.nats.jetstream.api.v1.consumer_create_response"
        assert len(legacy["name"]) == 8 and legacy["name"].isalnum()
        assert without_meta(legacy["config"]) == {
            "deliver_policy": "all",
            "ack_policy": "explicit",
            "ack_wait": 30000000000,
            "max_deliver": -1,
            "replay_policy": "instant",
            "max_ack_pending": 1000,
            "deliver_subject": "dd",
            "inactive_threshold": 5000000000,
            "num_replicas": 0,
        }
        assert legacy["delivered"] == {"consumer_seq": 0, "stream_seq": 0}
        assert legacy["ack_floor"] == {"consumer_seq": 0, "stream_seq": 0}
        assert (legacy["num_pending"], legacy["num_ack_pending"], legacy["num_waiting"]) == (3, 0, 0)
        assert list(legacy)[:4] == ["type", "stream_name", "name", "created"]

        pull = {"ack_policy": "explicit"}
        named = await api(nc, "CONSUMER.CREATE.S.P", {"stream_name": "S", "config": pull})
        assert without_meta(named["config"]) == {
            "name": "P",
            "deliver_policy": "all",
            "ack_policy": "explicit",
            "ack_wait": 30000000000,
            "max_deliver": -1,
            "replay_policy": "instant",
            "max_waiting": 512,
            "max_ack_pending": 1000,
            "inactive_threshold": 5000000000,
            "num_replicas": 0,
        }
        durable = await api(
            nc,
            "CONSUMER.DURABLE.CREATE.S.D",
            {
                "stream_name": "S",
                "config": {"durable_name": "D", "ack_policy": "none", "filter_subjects": ["s.0", "s.1"]},
            },
        )
        assert without_meta(durable["config"]) == {
            "durable_name": "D",
            "name": "D",
            "deliver_policy": "all",
            "ack_policy": "none",
            "max_deliver": -1,
            "filter_subjects": ["s.0", "s.1"],
            "replay_policy": "instant",
            "max_waiting": 512,
            "num_replicas": 0,
        }
        filtered = await api(
            nc, "CONSUMER.CREATE.S.F.s.1", {"stream_name": "S", "config": {"filter_subject": "s.1"}}
        )
        assert filtered["num_pending"] == 1 and filtered["config"]["filter_subject"] == "s.1"
        lps = await api(
            nc,
            "CONSUMER.CREATE.S.L",
            {"stream_name": "S", "config": {"deliver_policy": "last_per_subject", "filter_subject": "s.>"}},
        )
        assert lps["num_pending"] == 2
        assert lps["delivered"] == {"consumer_seq": 0, "stream_seq": 1}
    finally:
        await nc.close()


async def test_info_names_list_delete(server: ServerProcess) -> None:
    nc = await setup_stream(server)
    try:
        for name in ("b", "a", "C"):
            await api(nc, f"CONSUMER.CREATE.S.{name}", {"stream_name": "S", "config": {}})
        info = await api(nc, "CONSUMER.INFO.S.a")
        assert info["type"] == "io.nats.jetstream.api.v1.consumer_info_response"
        assert info["name"] == "a" and info["num_pending"] == 3
        names = await api(nc, "CONSUMER.NAMES.S")
        assert names == {
            "type": "io.nats.jetstream.api.v1.consumer_names_response",
            "total": 3,
            "offset": 0,
            "limit": 1024,
            "consumers": ["C", "a", "b"],
        }
        listing = await api(nc, "CONSUMER.LIST.S")
        assert (listing["total"], listing["limit"]) == (3, 256)
        assert [c["name"] for c in listing["consumers"]] == ["C", "a", "b"]
        deleted = await api(nc, "CONSUMER.DELETE.S.a")
        assert deleted == {"type": "io.nats.jetstream.api.v1.consumer_delete_response", "success": True}
        assert err(await api(nc, "CONSUMER.DELETE.S.a")) == (404, 10014, "consumer not found")
        assert err(await api(nc, "CONSUMER.INFO.S.a")) == (404, 10014, "consumer not found")
        missing = await api(nc, "CONSUMER.NAMES.NOPE")
        assert err(missing) == (404, 10059, "stream not found")
        assert missing["consumers"] == [] and missing["total"] == 0
        stream = await api(nc, "STREAM.INFO.S")
        assert stream["state"]["consumer_count"] == 2
    finally:
        await nc.close()


CREATE_ERRORS = [
    (
        "CONSUMER.CREATE.S",
        {"stream_name": "S", "config": {"durable_name": "X"}},
        (400, 10020, "consumer expected to be ephemeral but a durable name was set in request"),
    ),
    (
        "CONSUMER.CREATE.S.Y",
        {"stream_name": "S", "config": {"durable_name": "X"}},
        (400, 10017, "consumer name in subject does not match durable name in request"),
    ),
    (
        "CONSUMER.CREATE.S.Y.a",
        {"stream_name": "S", "config": {"filter_subject": "b"}},
        (400, 10131, "Consumer create request did not match filtered subject from create subject"),
    ),
    (
        "CONSUMER.CREATE.S.Y",
        {"stream_name": "T", "config": {}},
        (400, 10056, "stream name in subject does not match request"),
    ),
    (
        "CONSUMER.CREATE.S.Y",
        {"stream_name": "S", "config": {"flow_control": True, "deliver_subject": "x"}},
        (400, 10108, "consumer with flow control also needs heartbeats"),
    ),
    (
        "CONSUMER.CREATE.S.Y",
        {"stream_name": "S", "config": {"idle_heartbeat": 10, "deliver_subject": "x"}},
        (400, 10083, "consumer idle heartbeat needs to be >= 100ms"),
    ),
    (
        "CONSUMER.CREATE.S.Y",
        {"stream_name": "S", "config": {"flow_control": True}},
        (400, 10089, "consumer flow control requires a push based consumer"),
    ),
    (
        "CONSUMER.CREATE.S.Y",
        {"stream_name": "S", "config": {"idle_heartbeat": 1000000000}},
        (400, 10088, "consumer idle heartbeat requires a push based consumer"),
    ),
    (
        "CONSUMER.CREATE.S.Y",
        {"stream_name": "S", "config": {}, "action": "update"},
        (400, 10149, "consumer does not exist"),
    ),
    (
        "CONSUMER.CREATE.S.a*b",
        {"stream_name": "S", "config": {}},
        (500, 10052, "consumer name can not contain '.', '*', '>', '\\', '/'"),
    ),
    (
        "CONSUMER.CREATE.S.Z",
        {"stream_name": "S", "config": {"deliver_policy": "by_start_sequence"}},
        (
            400,
            10094,
            "consumer delivery policy is deliver by start sequence, but optional start sequence is not set",
        ),
    ),
    (
        "CONSUMER.CREATE.S.Z",
        {"stream_name": "S", "config": {"opt_start_seq": 3}},
        (400, 10094, "consumer delivery policy is deliver all, but optional start sequence is also set"),
    ),
    (
        "CONSUMER.CREATE.S.Z",
        {"stream_name": "S", "config": {"deliver_policy": "last_per_subject"}},
        (
            400,
            10094,
            "consumer delivery policy is deliver last per subject, but optional filter subject is not set",
        ),
    ),
    (
        "CONSUMER.CREATE.S.Z",
        {"stream_name": "S", "config": {"max_waiting": 3, "deliver_subject": "p"}},
        (400, 10080, "consumer in push mode can not set max waiting"),
    ),
    (
        "CONSUMER.CREATE.S.Z",
        {"stream_name": "S", "config": {"filter_subject": "s.1", "filter_subjects": ["s.0"]}},
        (400, 10136, "consumer cannot have both FilterSubject and FilterSubjects specified"),
    ),
    (
        "CONSUMER.CREATE.S.Z",
        {"stream_name": "S", "config": {"filter_subjects": ["s.0", "s.>"]}},
        (400, 10138, "consumer subject filters cannot overlap"),
    ),
    (
        "CONSUMER.CREATE.S.Z",
        {"stream_name": "S", "config": {"max_deliver": 1, "backoff": [10**9, 2 * 10**9]}},
        (400, 10116, "max deliver is required to be > length of backoff values"),
    ),
    (
        "CONSUMER.CREATE.S.Z",
        {"stream_name": "S", "config": {"ack_policy": "bogus"}},
        (400, 10025, 'invalid JSON: can not unmarshal "\\"bogus\\""'),
    ),
    ("CONSUMER.CREATE.S.Z", b"", (400, 10056, "stream name in subject does not match request")),
    ("CONSUMER.CREATE.NOPE.Z", {"stream_name": "NOPE", "config": {}}, (404, 10059, "stream not found")),
    (
        "CONSUMER.DURABLE.CREATE.S.Z",
        {"stream_name": "S", "config": {}},
        (400, 10018, "consumer expected to be durable but a durable name was not set"),
    ),
]

ERROR_IDS = [str(e[2][1]) for e in CREATE_ERRORS]


@pytest.mark.parametrize(("subject", "body", "expected"), CREATE_ERRORS, ids=ERROR_IDS)
async def test_create_errors(
    server: ServerProcess, subject: str, body: Any, expected: tuple[int, int, str]
) -> None:
    nc = await setup_stream(server, msgs=0)
    try:
        resp = await api(nc, subject, body)
        assert resp["type"] == "io.nats.jetstream.api.v1.consumer_create_response"
        assert err(resp) == expected
    finally:
        await nc.close()


async def test_create_action_and_update_rules(server: ServerProcess) -> None:
    nc = await setup_stream(server)
    try:
        cfg = {"durable_name": "Q", "ack_policy": "none"}
        first = await api(nc, "CONSUMER.CREATE.S.Q", {"stream_name": "S", "config": cfg, "action": "create"})
        again = await api(nc, "CONSUMER.CREATE.S.Q", {"stream_name": "S", "config": cfg, "action": "create"})
        assert again["created"] == first["created"]
        changed = {"durable_name": "Q", "ack_policy": "explicit"}
        req = {"stream_name": "S", "config": changed, "action": "create"}
        assert err(await api(nc, "CONSUMER.CREATE.S.Q", req)) == (400, 10148, "consumer already exists")
        assert err(await api(nc, "CONSUMER.CREATE.S.Q", {"stream_name": "S", "config": changed})) == (
            500,
            10012,
            "ack policy can not be updated",
        )
        upd = await api(
            nc,
            "CONSUMER.CREATE.S.Q",
            {
                "stream_name": "S",
                "action": "update",
                "config": {"durable_name": "Q", "ack_policy": "none", "description": "now described"},
            },
        )
        assert upd["config"]["description"] == "now described"
        push = {"durable_name": "Q", "ack_policy": "none", "deliver_subject": "x"}
        assert err(await api(nc, "CONSUMER.CREATE.S.Q", {"stream_name": "S", "config": push})) == (
            500,
            10012,
            "can not update pull consumer to push based",
        )
    finally:
        await nc.close()


async def test_nats_py_manager_roundtrip(server: ServerProcess) -> None:
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    nc = await setup_stream(server)
    js = nc.jetstream()
    try:
        ci = await js.add_consumer(
            "S",
            ConsumerConfig(
                durable_name="M",
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.NEW,
                ack_wait=2.5,
            ),
        )
        assert ci.name == "M" and ci.config.ack_wait == 2.5 and ci.num_pending == 0
        assert ci.delivered.stream_seq == 3
        got = await js.consumer_info("S", "M")
        assert got.config.deliver_policy == DeliverPolicy.NEW and got.config.max_ack_pending == 1000
        assert await js.delete_consumer("S", "M") is True
        with pytest.raises(nats.js.errors.NotFoundError):
            await js.consumer_info("S", "M")
    finally:
        await nc.close()

"""Hostile and malformed JetStream API requests: exact nats-server errors, and the server stays up.

Each case is sent raw (bytes exactly as given) to both servers; after every
case the server must still create a stream and store a message.
"""

from __future__ import annotations

import json
from typing import Any

import nats
import pytest

from orlop.testing import ServerProcess

INVALID = 10025
LONG = "x" * 300
SCR = "StreamConfigRequest"


def bad_json(text: str) -> tuple[int, int, str]:
    return (400, INVALID, "invalid JSON: " + text)


def unmarshal(kind: str, field: str, go_type: str) -> tuple[int, int, str]:
    return bad_json(f"json: cannot unmarshal {kind} into Go struct field {field} of type {go_type}")


def invalid_config(text: str) -> tuple[int, int, str]:
    return (500, 10052, text)


def create(body: Any) -> tuple[str, bytes]:
    return "STREAM.CREATE.S", body if isinstance(body, bytes) else json.dumps(body).encode()


CASES: list[tuple[tuple[str, bytes], tuple[int, int, str]]] = [
    (create(b"null"), (400, 10056, "stream name in subject does not match request")),
    (create(b'"str"'), bad_json(f"json: cannot unmarshal string into Go value of type server.{SCR}")),
    (create(b"\xff\xfe"), bad_json("invalid character '\\xff' looking for beginning of value at offset 1")),
    (create(b'{"name":"S","max_msgs":1e3}'), unmarshal("number 1e3", f"{SCR}.max_msgs", "int64")),
    (
        create(b'{"name":"S","max_msgs":99999999999999999999}'),
        unmarshal("number 99999999999999999999", f"{SCR}.max_msgs", "int64"),
    ),
    (
        create(b"[" * 5000 + b"]" * 5000),
        bad_json(f"json: cannot unmarshal array into Go value of type server.{SCR}"),
    ),
    (
        ("STREAM.CREATE." + LONG, json.dumps({"name": LONG}).encode()),
        invalid_config("stream name is too long, maximum allowed is 255"),
    ),
    (create({"name": "S", "subjects": ["a b"]}), invalid_config("invalid subject")),
    (create({"name": "S", "subjects": [""]}), invalid_config("invalid subject")),
    (
        create({"name": "S", "metadata": {"k": "v" * 200_000}}),
        invalid_config("stream metadata exceeds maximum size of 131072 bytes"),
    ),
    (create({"name": "S", "max_age": -5}), invalid_config("max age can not be negative")),
    (create({"name": "S", "duplicate_window": -5}), invalid_config("duplicates window can not be negative")),
    (create({"name": "S", "num_replicas": -1}), (400, 10133, "replicas count cannot be negative")),
    (
        create({"name": "S", "max_msg_size": 3_000_000_000}),
        unmarshal("number 3000000000", f"{SCR}.max_msg_size", "int32"),
    ),
    (
        create({"name": "S", "sealed": True}),
        invalid_config("stream configuration for create can not be sealed"),
    ),
    (create({"name": "S", "sealed": 1}), unmarshal("number", f"{SCR}.sealed", "bool")),
    (create({"name": "S", "metadata": {"a": 1}}), unmarshal("number", f"{SCR}.metadata.a", "string")),
    (create({"name": "S", "compression": "zip"}), bad_json("unknown compression algorithm")),
    (("STREAM.MSG.GET.S", b"{}"), (400, 10003, "bad request")),
    (("STREAM.MSG.GET.S", b'{"seq":-1}'), unmarshal("number -1", "JSApiMsgGetRequest.seq", "uint64")),
]


async def request(nc: Any, subject: str, body: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, body, timeout=5)).data)
    return result


@pytest.mark.parametrize(("req", "expected"), CASES, ids=[f"case{i}" for i in range(len(CASES))])
async def test_bad_requests(
    server: ServerProcess, req: tuple[str, bytes], expected: tuple[int, int, str]
) -> None:
    nc = await nats.connect(server.url)
    try:
        resp = await request(nc, *req)
        e = resp["error"]
        assert (e["code"], e["err_code"], e["description"]) == expected
        # Still healthy: a stream can be made and used.
        ok = await request(nc, "STREAM.CREATE.ALIVE", b'{"name":"ALIVE"}')
        assert ok["config"]["name"] == "ALIVE"
        assert json.loads((await nc.request("ALIVE", b"x", timeout=5)).data) == {"stream": "ALIVE", "seq": 1}
    finally:
        await nc.close()


async def test_existing_stream_requests_with_bad_bodies(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await request(nc, "STREAM.CREATE.S", b'{"name":"S"}')
        resp = await request(nc, "STREAM.MSG.DELETE.S", b"{}")
        assert resp["error"] == {"code": 400, "err_code": 10003, "description": "bad request"}
        purge = await request(nc, "STREAM.PURGE.S", b'{"filter":"a b"}')
        assert purge == {
            "type": "io.nats.jetstream.api.v1.stream_purge_response",
            "success": True,
            "purged": 0,
        }
        names = await request(nc, "STREAM.NAMES", b'{"offset":-3}')
        assert names["streams"] == ["S"] and names["offset"] == 0
        info = await request(nc, "INFO", b'{"x":1}')
        assert info["streams"] == 1
    finally:
        await nc.close()


async def test_garbage_publish_headers(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await request(nc, "STREAM.CREATE.G", b'{"name":"G","allow_rollup_hdrs":true}')
        for hdrs in (
            {"Nats-Expected-Last-Sequence": "abc"},
            {"Nats-Expected-Last-Subject-Sequence": "-1"},
            {"Nats-Msg-Id": ""},
            {"Nats-Rollup": ""},
            {"Nats-Expected-Stream": ""},
        ):
            ack = json.loads((await nc.request("G", b"x", timeout=5, headers=hdrs)).data)
            assert set(ack) <= {"stream", "seq", "error", "duplicate"}, hdrs
            assert ack["stream"] == "G"
        assert json.loads((await nc.request("G", b"ok", timeout=5)).data)["stream"] == "G"
    finally:
        await nc.close()


async def test_required_api_level(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await request(nc, "STREAM.CREATE.S", b'{"name":"S","allow_direct":true}')
        await nc.request("S", b"x", timeout=5)
        for level in ("99", "abc"):
            msg = await nc.request(
                "$JS.API.STREAM.INFO.S", b"", timeout=5, headers={"Nats-Required-Api-Level": level}
            )
            resp = json.loads(msg.data)
            assert resp["error"] == {
                "code": 412,
                "err_code": 10185,
                "description": "JetStream minimum api level required",
            }
        ok = await nc.request(
            "$JS.API.STREAM.INFO.S", b"", timeout=5, headers={"Nats-Required-Api-Level": "0"}
        )
        assert json.loads(ok.data)["state"]["messages"] == 1
        direct = await nc.request(
            "$JS.API.DIRECT.GET.S", b'{"seq":1}', timeout=5, headers={"Nats-Required-Api-Level": "99"}
        )
        assert direct.headers is not None and direct.headers["Status"] == "412"
        assert direct.headers["Description"] == "Required Api Level"
    finally:
        await nc.close()


async def test_non_utf8_bytes_inside_json_strings_become_replacement_characters(
    server: ServerProcess,
) -> None:
    """Go's decoder replaces bytes that are not UTF-8 inside strings with U+FFFD (outside, case2 refuses)."""
    nc = await nats.connect(server.url)
    try:
        resp = await request(
            nc,
            "STREAM.CREATE.S",
            b'{"name":"S","subjects":["foo.\xff"],"description":"d\xfe","allow_direct":true}',
        )
        assert "error" not in resp, resp
        assert resp["config"]["subjects"] == ["foo.\ufffd"]
        assert resp["config"]["description"] == "d\ufffd"
        ack = json.loads((await nc.request("foo.\ufffd", b"x", timeout=5)).data)
        assert ack == {"stream": "S", "seq": 1}
        got = await nc.request("$JS.API.DIRECT.GET.S", b'{"last_by_subj":"foo.\xff"}', timeout=5)
        assert got.data == b"x" and got.headers is not None
        assert got.headers["Nats-Sequence"] == "1"
    finally:
        await nc.close()

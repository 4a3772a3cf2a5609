"""Stream republish (ADR-28): stored messages re-sent to a mapped subject, on both servers."""

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


async def test_republish_with_wildcard_mapping(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        sub = await nc.subscribe("rp.>")
        cfg = {
            "name": "R",
            "subjects": ["r.>"],
            "republish": {"src": "r.*.x", "dest": "rp.{{wildcard(1)}}.y"},
        }
        resp = await api(nc, "STREAM.CREATE.R", cfg)
        assert resp["config"]["republish"] == {"src": "r.*.x", "dest": "rp.{{wildcard(1)}}.y"}
        await nc.request("r.a.x", b"one", timeout=5, headers={"Foo": "bar"})
        await nc.request("r.a.x", b"two", timeout=5)
        await nc.request("r.b.other", b"not mapped", timeout=5)
        first = await sub.next_msg(timeout=5)
        assert (first.subject, first.data) == ("rp.a.y", b"one")
        assert first.headers is not None and first.headers["Foo"] == "bar"
        assert first.headers["Nats-Stream"] == "R" and first.headers["Nats-Subject"] == "r.a.x"
        assert (first.headers["Nats-Sequence"], first.headers["Nats-Last-Sequence"]) == ("1", "0")
        second = await sub.next_msg(timeout=5)
        assert second.headers is not None and second.headers["Nats-Last-Sequence"] == "1"
        with pytest.raises(nats.errors.TimeoutError):
            await sub.next_msg(timeout=0.3)
    finally:
        await nc.close()


async def test_republish_headers_only_and_config_errors(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        sub = await nc.subscribe("rp.>")
        cfg = {"name": "H", "subjects": ["q.>"], "republish": {"dest": "rp.q.>", "headers_only": True}}
        resp = await api(nc, "STREAM.CREATE.H", cfg)
        assert resp["config"]["republish"] == {"src": ">", "dest": "rp.q.>", "headers_only": True}
        await nc.request("q.k.l", b"hello", timeout=5)
        m = await sub.next_msg(timeout=5)
        assert (m.subject, m.data) == ("rp.q.q.k.l", b"")
        assert m.headers is not None and m.headers["Nats-Msg-Size"] == "5"
        cycle = await api(
            nc,
            "STREAM.CREATE.C",
            {"name": "C", "subjects": ["w.*"], "republish": {"src": "w.*", "dest": "w.>"}},
        )
        assert cycle["error"]["description"] == "stream configuration for republish destination forms a cycle"
        bad = await api(
            nc,
            "STREAM.CREATE.B",
            {"name": "B", "subjects": ["z.*"], "republish": {"src": "z.*", "dest": "rp.z.*"}},
        )
        assert bad["error"] == {
            "code": 500,
            "err_code": 10052,
            "description": "stream configuration for republish with transform"
            " from 'z.*' to 'rp.z.*' not valid",
        }
    finally:
        await nc.close()


async def test_input_subject_transform(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        cfg = {
            "name": "T",
            "subjects": ["in.>"],
            "subject_transform": {"src": "in.*", "dest": "out.{{wildcard(1)}}"},
        }
        resp = await api(nc, "STREAM.CREATE.T", cfg)
        assert resp["config"]["subject_transform"] == {"src": "in.*", "dest": "out.{{wildcard(1)}}"}
        await nc.request("in.a", b"x", timeout=5)
        await nc.request("in.a.b", b"y", timeout=5)
        state = (await api(nc, "STREAM.INFO.T", {"subjects_filter": ">"}))["state"]
        assert state["subjects"] == {"in.a.b": 1, "out.a": 1}
        bad_dest = await api(
            nc, "STREAM.CREATE.T2", {"name": "T2", "subject_transform": {"src": "a.*", "dest": "b.*"}}
        )
        assert bad_dest["error"] == {
            "code": 400,
            "err_code": 10156,
            "description": "stream transform: invalid subject",
        }
        bad_src = await api(
            nc, "STREAM.CREATE.T3", {"name": "T3", "subject_transform": {"src": "a..", "dest": "b"}}
        )
        assert bad_src["error"]["err_code"] == 10155
        assert bad_src["error"]["description"] == "stream transform source: invalid subject a.."
    finally:
        await nc.close()

"""STREAM.PURGE (all, filter, seq, keep) and STREAM.MSG.DELETE on both servers."""

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


async def filled(server: ServerProcess, **cfg: Any) -> Any:
    """Stream P on p.*: a,b,a,b,a,b,a,b (seq 1-8)."""
    nc = await nats.connect(server.url)
    await api(nc, "STREAM.CREATE.P", {"name": "P", "subjects": ["p.*"], **cfg})
    for _ in range(4):
        await nc.request("p.a", b"a", timeout=5)
        await nc.request("p.b", b"b", timeout=5)
    return nc


async def state(nc: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await api(nc, "STREAM.INFO.P", {"subjects_filter": ">"}))["state"]
    return result


@pytest.mark.parametrize(
    ("body", "purged", "first_seq", "subjects"),
    [
        (b"", 8, 9, None),
        ({"filter": "p.a"}, 4, 2, {"p.b": 4}),
        ({"seq": 5}, 4, 5, {"p.a": 2, "p.b": 2}),
        ({"keep": 3}, 5, 6, {"p.a": 1, "p.b": 2}),
        ({"filter": "p.a", "keep": 1}, 3, 2, {"p.a": 1, "p.b": 4}),
        ({"filter": "p.b", "seq": 6}, 2, 1, {"p.a": 4, "p.b": 2}),
    ],
)
async def test_purge_variants(
    server: ServerProcess, body: Any, purged: int, first_seq: int, subjects: dict[str, int] | None
) -> None:
    nc = await filled(server)
    try:
        resp = await api(nc, "STREAM.PURGE.P", body)
        assert resp == {
            "type": "io.nats.jetstream.api.v1.stream_purge_response",
            "success": True,
            "purged": purged,
        }
        st = await state(nc)
        assert st["first_seq"] == first_seq and st["last_seq"] == 8
        assert st.get("subjects") == subjects
        # Sequences continue after a purge.
        assert json.loads((await nc.request("p.c", b"c", timeout=5)).data)["seq"] == 9
    finally:
        await nc.close()


async def test_purge_errors(server: ServerProcess) -> None:
    nc = await filled(server, deny_purge=True, deny_delete=True)
    try:
        both = await api(nc, "STREAM.PURGE.P", {"seq": 2, "keep": 1})
        assert both["error"] == {"code": 400, "err_code": 10003, "description": "bad request"}
        assert both["purged"] == 0
        denied = await api(nc, "STREAM.PURGE.P")
        assert denied["error"]["err_code"] == 10110
        assert denied["error"]["description"] == "stream purge not permitted"
        nodel = await api(nc, "STREAM.MSG.DELETE.P", {"seq": 1})
        assert nodel["error"] == {
            "code": 500,
            "err_code": 10057,
            "description": "message delete not permitted",
        }
        assert (await state(nc))["messages"] == 8
    finally:
        await nc.close()


async def test_msg_delete(server: ServerProcess) -> None:
    nc = await filled(server)
    try:
        ok = await api(nc, "STREAM.MSG.DELETE.P", {"seq": 2})
        assert ok == {"type": "io.nats.jetstream.api.v1.stream_msg_delete_response", "success": True}
        again = await api(nc, "STREAM.MSG.DELETE.P", {"seq": 2})
        assert again["error"] == {"code": 400, "err_code": 10043, "description": "sequence 2 not found"}
        info = await api(nc, "STREAM.INFO.P", {"deleted_details": True})
        assert info["state"]["num_deleted"] == 1 and info["state"]["deleted"] == [2]
        assert info["state"]["messages"] == 7
        gone = await api(nc, "STREAM.MSG.GET.P", {"seq": 2})
        assert gone["error"]["err_code"] == 10037
        js = nc.jetstream()
        assert await js.delete_msg("P", 3) is True
        assert (await state(nc))["messages"] == 6
    finally:
        await nc.close()

"""``max_file_store`` / ``max_memory_store``: reservations at create/update, usage at publish.

Both servers run with ``jetstream { max_file_store: 1MB, max_memory_store: 512KB }``.
A stream whose max_bytes does not fit what is left of the limit is refused
(10047 file, 10028 memory; reservations of all streams add up, an update does
not count its own old reservation); once the file streams hold more than the
limit, publishes are refused with 503 10023 until space is freed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nats
import pytest

from orlop.testing import KINDS, ServerProcess

MIB = 1024 * 1024
STORAGE = (500, 10047, "insufficient storage resources available")
MEMORY = (500, 10028, "insufficient memory resources available")


async def api(nc: Any, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    raw = await nc.request("$JS.API." + subject, json.dumps(body).encode(), timeout=10)
    result: dict[str, Any] = json.loads(raw.data)
    return result


def err(resp: dict[str, Any]) -> tuple[int, int, str] | None:
    e = resp.get("error")
    return None if e is None else (e["code"], e["err_code"], e["description"])


@pytest.fixture(params=KINDS)
def limited(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    conf = tmp_path / "limits.conf"
    conf.write_text("jetstream {\n  max_file_store: 1MB\n  max_memory_store: 512KB\n}\n")
    with ServerProcess(kind=request.param, store_dir=str(tmp_path), extra_args=["-c", str(conf)]) as srv:
        yield srv


async def test_reservations_at_create_and_update(limited: ServerProcess) -> None:
    nc = await nats.connect(limited.url)
    try:

        def stream(name: str, max_bytes: int, storage: str = "file") -> dict[str, Any]:
            return {"name": name, "subjects": [name.lower()], "max_bytes": max_bytes, "storage": storage}

        assert err(await api(nc, "STREAM.CREATE.BIG", stream("BIG", 2 * MIB))) == STORAGE
        assert err(await api(nc, "STREAM.CREATE.MEM", stream("MEM", MIB, "memory"))) == MEMORY
        assert err(await api(nc, "STREAM.CREATE.A", stream("A", 600_000))) is None
        assert err(await api(nc, "STREAM.CREATE.B", stream("B", 600_000))) == STORAGE
        assert err(await api(nc, "STREAM.CREATE.C", stream("C", 400_000))) is None
        assert err(await api(nc, "STREAM.CREATE.U", stream("U", -1))) is None  # reserves nothing
        assert err(await api(nc, "STREAM.UPDATE.A", stream("A", 640_000))) is None  # own 600k not counted
        assert err(await api(nc, "STREAM.UPDATE.A", stream("A", 700_000))) == STORAGE
        assert err(await api(nc, "STREAM.CREATE.M", stream("M", 500_000, "memory"))) is None
        info = await api(nc, "INFO", {})
        assert (info["reserved_storage"], info["reserved_memory"]) == (1_040_000, 500_000)
        # The server is still up and answering.
        assert err(await api(nc, "STREAM.INFO.A", {})) is None
    finally:
        await nc.close()


async def test_publish_refused_once_storage_is_exceeded(limited: ServerProcess) -> None:
    nc = await nats.connect(limited.url)
    try:
        assert err(await api(nc, "STREAM.CREATE.F", {"name": "F", "subjects": ["f"]})) is None
        acks = []
        for _ in range(14):
            acks.append(json.loads((await nc.request("f", b"x" * 100_000, timeout=10)).data))
        stored = [a for a in acks if "error" not in a]
        # The publish that crosses the limit is stored; the next ones are refused.
        assert [a["seq"] for a in stored] == list(range(1, 12))
        refused = acks[len(stored) :]
        assert all(a["error"] == {"code": 503, "err_code": 10023, "description": "insufficient resources"}
                   for a in refused)  # fmt: skip
        assert (await api(nc, "STREAM.INFO.F", {}))["state"]["messages"] == 11
        assert err(await api(nc, "STREAM.PURGE.F", {"keep": 5})) is None
        ack = json.loads((await nc.request("f", b"again", timeout=10)).data)
        assert ack == {"stream": "F", "seq": 12}
    finally:
        await nc.close()


async def test_small_rollup_on_a_full_store(limited: ServerProcess) -> None:
    """A deliberate difference: Orlop admits a small ``Nats-Rollup`` (an object's delete marker)
    over the limit, so a client can empty a full store; nats-server refuses it with 10023."""
    nc = await nats.connect(limited.url)
    try:
        cfg = {"name": "R", "subjects": ["r.>"], "allow_rollup_hdrs": True}
        assert err(await api(nc, "STREAM.CREATE.R", cfg)) is None
        for i in range(12):
            await nc.request(f"r.{i}", b"x" * 100_000, timeout=10)
        full = json.loads((await nc.request("r.0", b"more", timeout=10)).data)
        assert full["error"]["err_code"] == 10023
        rollup = {"Nats-Rollup": "sub"}
        ack = json.loads((await nc.request("r.0", b"", headers=rollup, timeout=10)).data)
        if limited.kind == "orlop":
            assert ack == {"stream": "R", "seq": 12}
            state = (await api(nc, "STREAM.INFO.R", {}))["state"]
            assert (state["messages"], state["first_seq"]) == (11, 2)  # r.0's 100 kB are gone
            ack = json.loads((await nc.request("r.1", b"x" * 100_000, timeout=10)).data)
            assert ack == {"stream": "R", "seq": 13}  # the freed room is usable at once; full again
            big = json.loads((await nc.request("r.2", b"x" * 100_000, headers=rollup, timeout=10)).data)
            assert big["error"]["err_code"] == 10023  # the grace is for small messages only
        else:
            assert ack["error"]["err_code"] == 10023
    finally:
        await nc.close()

"""nats.js v3's object store (@nats-io/obj 3.4.0) putting through fast ingest, read back by others.

``tests/node/os_fast_ingest.mjs`` creates a bucket with ``{allowBatched: true}`` (nats.js
offers that only when INFO's ``api_lvl`` is 4 or more and the stream echoes
``allow_batched``), puts a multi-chunk object (512 KiB + 31 B, as nats.js's own test does),
an empty one and a 5 MiB one. Each is then read back three ways: nats-py's object store,
a reader that follows nats.go's get (an ordered consumer on the chunk subject, the digest
over the chunks), and ``orlop.objects``. Runs on Orlop and nats-server.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import nats
import pytest

from orlop.errors import ObjectStoreError
from orlop.objects import connect
from orlop.objects import put as put_module
from orlop.testing import ServerProcess

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
SIZES = [512 * 1024 + 31, 0, 5 * 1024 * 1024]


def pattern(size: int) -> bytes:
    return bytes((i * 31) % 251 for i in range(size))


async def run_node(url: str, bucket: str) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node 20+")
    if not (NODE_DIR / "node_modules" / "@nats-io" / "obj").is_dir():
        pytest.fail(f"@nats-io/obj is not installed: run `cd {NODE_DIR} && npm install`")
    args = [str(NODE_DIR / "os_fast_ingest.mjs"), url, bucket, *map(str, SIZES)]
    proc = await asyncio.create_subprocess_exec(
        node, *args, cwd=NODE_DIR, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    if proc.returncode != 0:
        pytest.fail(f"node exited {proc.returncode}: {err.decode(errors='replace')[-3000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def go_style_get(nc: Any, bucket: str, name: str) -> tuple[bytes, str]:
    """nats.go's ObjectStore.Get: the meta by last-per-subject, then an ordered consumer over
    ``$O.<bucket>.C.<nuid>`` reading ``chunks`` messages, hashing as it goes."""
    js = nc.jetstream()
    meta_subject = f"$O.{bucket}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"
    meta = json.loads((await js.get_last_msg(f"OBJ_{bucket}", meta_subject)).data)
    sha = hashlib.sha256()
    data = bytearray()
    if meta.get("chunks", 0):
        sub = await js.subscribe(f"$O.{bucket}.C.{meta['nuid']}", ordered_consumer=True)
        for _ in range(meta["chunks"]):
            msg = await sub.next_msg(timeout=10)
            sha.update(msg.data)
            data += msg.data
        await sub.unsubscribe()
    digest = "SHA-256=" + base64.urlsafe_b64encode(sha.digest()).decode()
    assert digest == meta["digest"]
    return bytes(data), digest


async def test_nats_js_fast_ingest_puts_read_back_everywhere(server: ServerProcess) -> None:
    r = await run_node(server.url, "fi")
    assert r["api_lvl"] >= 4 and r["allow_batched"] is True
    assert r["plain"] == "existing bucket does not support batched publishes"
    by_name = {o["name"]: o for o in r["objects"]}
    nc = await nats.connect(server.url)
    try:
        os_py = await nc.jetstream().object_store("fi")
        async with await connect(server.url) as client:
            bucket = await client.bucket("fi")
            for size in SIZES:
                name = f"obj-{size}"
                want = pattern(size)
                info = by_name[name]
                assert info["size"] == size and info["sha256"] == hashlib.sha256(want).hexdigest()
                assert info["chunks"] == -(-size // (128 * 1024))
                got_py = await os_py.get(name)
                assert got_py.data == want
                got_go, digest = await go_style_get(nc, "fi", name)
                assert got_go == want and digest == info["digest"]
                assert await bucket.get_bytes(name) == want
                assert (await bucket.info(name)).digest == info["digest"]
        state = json.loads((await nc.request("$JS.API.STREAM.INFO.OBJ_fi", b"")).data)["state"]
        assert state["messages"] == sum(-(-s // (128 * 1024)) for s in SIZES) + len(SIZES)
    finally:
        await nc.close()


async def test_orlop_objects_fast_ingest_put(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """orlop.objects puts into a bucket with allow_batched through fast ingest (opt-in: it is not
    faster than the pipelined put, see bench/bench_batch.py); nats-py reads the same bytes back."""
    monkeypatch.setattr(put_module, "FAST_INGEST", True)
    async with await connect(server.url) as client:
        bucket = await client.create_bucket("ofi")
        data = pattern(3 * 1024 * 1024 + 5)
        info = await bucket.put("big", data)
        assert info.size == len(data)
        assert await bucket.get_bytes("big") == data
        level = await client.wire.api_level()
    nc = await nats.connect(server.url)
    try:
        si = json.loads((await nc.request("$JS.API.STREAM.INFO.OBJ_ofi", b"")).data)
        assert si["config"].get("allow_batched", False) is (level >= 4)
        got = await (await nc.jetstream().object_store("ofi")).get("big")
        assert got.data == data
        assert si["state"]["messages"] == info.chunks + 1
    finally:
        await nc.close()


async def test_orlop_objects_fast_ingest_refused_chunk_leaves_nothing(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk the server refuses mid-batch (the bucket is full) fails the put; the chunks
    already stored are purged, the bucket holds what it held before."""
    monkeypatch.setattr(put_module, "FAST_INGEST", True)
    async with await connect(server.url) as client:
        bucket = await client.create_bucket("full", max_bytes=1024 * 1024)
        with pytest.raises(ObjectStoreError):
            await bucket.put("too-big", pattern(3 * 1024 * 1024), chunk_size=128 * 1024)
    nc = await nats.connect(server.url)
    try:
        state = json.loads((await nc.request("$JS.API.STREAM.INFO.OBJ_full", b"")).data)["state"]
        assert state["messages"] == 0
    finally:
        await nc.close()

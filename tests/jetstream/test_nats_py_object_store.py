"""nats-py's own object store against the server: put/get/get_info/list/delete/watch/seal.

A 64 MiB object is read back through an ordered push consumer with flow control
(512 chunks of 128 KiB), so this is the end-to-end check of push delivery,
the exact ``pending`` ack token that ends a get, and flow-control windowing.
An empty object has no chunks and must round-trip with the same digest.
Both servers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time

import nats
import pytest
from nats.js.api import ObjectMeta
from nats.js.errors import BadRequestError, NotFoundError, ObjectNotFoundError

from orlop.testing import ServerProcess

BIG = 16 * 1024 * 1024  # 128 chunks: nats-py puts and gets one chunk at a time


def digest(data: bytes) -> str:
    return "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()


async def test_big_and_empty_objects(server: ServerProcess) -> None:
    nc = await nats.connect(server.url, max_reconnect_attempts=0)
    js = nc.jetstream(timeout=30)
    try:
        obs = await js.create_object_store("files")
        blob = os.urandom(1024 * 1024) * 16
        t0 = time.perf_counter()
        info = await obs.put("big.bin", blob)
        assert (info.size, info.chunks, info.digest) == (BIG, 128, digest(blob))
        t1 = time.perf_counter()
        res = await asyncio.wait_for(obs.get("big.bin"), 120)
        t2 = time.perf_counter()
        assert len(res.data) == BIG and res.data == blob
        assert res.info.digest == digest(blob)
        print(f"{server.kind}: put 16 MiB {t1 - t0:.2f}s, get {t2 - t1:.2f}s")

        empty = await obs.put("empty", b"")
        assert (empty.size, empty.chunks, empty.digest) == (0, 0, digest(b""))
        got = await obs.get("empty")
        assert got.data == b"" and got.info.digest == digest(b"")
    finally:
        await nc.close()


async def test_info_list_delete_watch_seal(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    try:
        obs = await js.create_object_store("meta")
        with pytest.raises(NotFoundError):
            await obs.list()
        await obs.put("a.txt", b"hello", meta=ObjectMeta(name="a.txt", description="first"))
        await obs.put("b.txt", b"x" * 300_000)
        info = await obs.get_info("a.txt")
        assert info.description == "first" and info.size == 5 and info.digest == digest(b"hello")
        names = sorted(i.name for i in await obs.list())
        assert names == ["a.txt", "b.txt"]

        watcher = await obs.watch()
        initial = []
        while (e := await watcher.updates(timeout=3)) is not None:
            initial.append(e.name)
        assert sorted(initial) == ["a.txt", "b.txt"]
        await obs.put("c.txt", b"new")
        update = await watcher.updates(timeout=3)
        assert update.name == "c.txt" and update.size == 3
        await obs.delete("a.txt")
        gone = await watcher.updates(timeout=3)
        assert gone.name == "a.txt" and gone.deleted
        with pytest.raises(ObjectNotFoundError):
            await obs.get("a.txt")
        assert (await obs.get("b.txt")).data == b"x" * 300_000

        await obs.seal()
        status = await obs.status()
        assert status.sealed
        with pytest.raises(BadRequestError):
            await obs.put("d.txt", b"no")
    finally:
        await nc.close()

"""Regression from the orlop.objects audit: racing writers of one name in a history bucket.

Pruning used to compute the chunks to drop from a list read before its
``keep`` purge, so a revision that landed in between was purged without its
chunks. Every pruned revision's chunks must go, and every kept one must read.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import AsyncExitStack

from orlop.objects import ObjectStoreClient, connect
from orlop.testing import ServerProcess


async def test_concurrent_puts_in_history_bucket_leave_no_orphans(server: ServerProcess) -> None:
    async with AsyncExitStack() as stack:
        clients: list[ObjectStoreClient] = [
            await stack.enter_async_context(connect(server.url)) for _ in range(4)
        ]
        await clients[0].create_bucket("hist", history=2)
        buckets = [await c.bucket("hist") for c in clients]
        written: dict[str, bytes] = {}

        async def put(i: int) -> None:
            data = os.urandom(30_000)
            info = await buckets[i].put("doc", data, chunk_size=10_000)
            written[info.nuid] = data

        for _ in range(20):
            await asyncio.gather(*(put(i) for i in range(4)))
        revs = await buckets[0].versions("doc")
        assert len(revs) == 2
        for rev in revs:
            assert await buckets[0].get_bytes("doc", revision=rev.revision) == written[rev.nuid]
        state = (await clients[0].wire.request("STREAM.INFO.OBJ_hist"))["state"]
        chunks = sum(r.chunks for r in {r.nuid: r for r in revs}.values())
        assert state["messages"] == chunks + len(revs)

"""Regressions from the orlop.objects audit: a cancelled or failed put leaves a whole object or nothing.

Each test reproduces what the auditor's script showed (a broken object or a
lost version after a cancelled put, wrong bytes from a range read) against
both servers and asserts the outcome a user would check.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from typing import Any

import pytest

from orlop.errors import ObjectNotFound
from orlop.objects import Bucket, connect
from orlop.objects.meta import digest_string
from orlop.testing import ServerProcess


async def _live_messages(bucket: Bucket) -> int:
    """Messages the live objects account for: each retained revision's meta and chunks (once per nuid)."""
    total = 0
    for info in await bucket.list():
        revs = await bucket.versions(info.name)
        total += len(revs) + sum(r.chunks for r in {r.nuid: r for r in revs}.values())
    return total


async def _cancel_after(bucket: Bucket, name: str, data: bytes, delay: float) -> bool:
    """Start a put, cancel it after ``delay``; True when it completed before the cancel."""
    task = asyncio.create_task(bucket.put(name, data))
    await asyncio.sleep(delay)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return False
    return True


async def test_cancelled_puts_leave_whole_objects_or_nothing(bucket: Bucket, stream_state: Any) -> None:
    rng = random.Random(20261122)
    started = time.perf_counter()
    await bucket.put("probe", os.urandom(1_500_000))
    span = time.perf_counter() - started  # how long one put takes on this machine
    await bucket.delete("probe", purge=True)
    tried: dict[str, set[str]] = {}
    completed: set[str] = set()
    for i in range(48):
        name = f"o{rng.randrange(12)}" if i % 4 else f"small{i}"
        data = os.urandom(1_500_000 if i % 4 else 100)
        tried.setdefault(name, set()).add(digest_string(hashlib.sha256(data).digest()))
        if await _cancel_after(bucket, name, data, rng.uniform(0, span * 1.3)):
            completed.add(name)
    for name, digests in tried.items():
        try:
            got = await bucket.get_bytes(name)
        except ObjectNotFound:
            assert name not in completed, f"{name} lost its completed version"
            continue
        assert digest_string(hashlib.sha256(got).digest()) in digests, name
    assert (await stream_state("docs"))["messages"] == await _live_messages(bucket)


class _LostMetaAck:
    """Publishes go to the server, but the PubAck of every meta publish never reaches the put."""

    def __init__(self, bucket: Bucket) -> None:
        self.wire = bucket.wire
        self.real = bucket.wire.publish_nowait
        self.lost = 0

    async def __call__(
        self, subject: str, payload: bytes, headers: dict[str, str] | None = None, **kw: Any
    ) -> asyncio.Future[int]:
        fut = await self.real(subject, payload, headers, **kw)
        if ".M." not in subject:
            return fut
        self.lost += 1
        return asyncio.get_running_loop().create_future()


@pytest.mark.parametrize(("size", "history"), [(100, 1), (500_000, 1), (500_000, 2)])
async def test_put_whose_meta_ack_is_lost(server: ServerProcess, size: int, history: int) -> None:
    async with connect(server.url, request_timeout=0.5) as client:
        b = await client.create_bucket("lost", history=history)
        old = os.urandom(400_000)
        await b.put("doc", old)
        await b.put("fresh", b"x")
        lose = _LostMetaAck(b)
        b.wire.publish_nowait = lose  # type: ignore[method-assign]
        new = os.urandom(size)
        # The meta is stored, its PubAck lost: the put asks the stream and succeeds.
        info = await b.put("doc", new)
        # Cancelled while waiting for the lost PubAck: the stored meta stands.
        task = asyncio.create_task(b.put("other", new))
        while lose.lost < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        b.wire.publish_nowait = lose.real  # type: ignore[method-assign]
        assert (await b.info("doc")).revision == info.revision
        assert await b.get_bytes("doc") == new
        assert await b.get_bytes("other") == new
        assert await b.get_bytes("fresh") == b"x"
        if history > 1:
            assert await b.get_bytes("doc", revision=(await b.versions("doc"))[0].revision) == old
        state = (await client.wire.request("STREAM.INFO.OBJ_lost"))["state"]
        assert state["messages"] == await _live_messages(b)


async def test_overwrite_cancelled_before_its_meta_keeps_the_old_version(
    bucket: Bucket, stream_state: Any
) -> None:
    old = os.urandom(300_000)
    await bucket.put("doc", old)
    sent = asyncio.Event()

    async def slow() -> Any:
        for i in range(100):
            yield os.urandom(100_000)
            if i == 3:
                sent.set()
            await asyncio.sleep(0.005)

    task = asyncio.create_task(bucket.put("doc", slow(), chunk_size=100_000))
    await asyncio.wait_for(sent.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await bucket.get_bytes("doc") == old
    assert (await stream_state("docs"))["messages"] == await _live_messages(bucket)

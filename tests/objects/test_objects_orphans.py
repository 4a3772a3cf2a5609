"""Chunks that no meta names (what a put cut off leaves) are found and swept, on both servers.

An orphan is made the way a killed client makes one: chunks published to
``$O.<bucket>.C.<nuid>`` with no meta after them. What a user checks: the sweep removes
exactly those, the space comes back, every object (and every kept revision) still reads
back, and chunks younger than ``older_than`` (a put that may still be running) are spared.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import nats
import pytest
from tests.objects.conftest import StateFn

from orlop.errors import ObjectNotFound, ObjectStoreUnavailable
from orlop.objects import Bucket, ObjectStoreClient, connect
from orlop.testing import ServerProcess


async def _cut_off_put(server: ServerProcess, bucket: str, nuid: str, chunks: int) -> None:
    """Chunks of a put whose process died before its meta: published, never named."""
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        for _ in range(chunks):
            await js.publish(f"$O.{bucket}.C.{nuid}", os.urandom(1000))
    finally:
        await nc.close()


async def test_orphans_are_found_and_swept(
    server: ServerProcess, client: ObjectStoreClient, stream_state: StateFn
) -> None:
    bucket: Bucket = await client.create_bucket("kept", history=3)
    await bucket.put("doc", b"first version " * 1000)
    await bucket.put("doc", b"second version " * 1000)  # the first stays as history
    await bucket.put("other", os.urandom(300_000), chunk_size=100_000)
    await _cut_off_put(server, "kept", "CUTOFFPUTNUID00000000A", 3)
    before = await stream_state("kept")
    await asyncio.sleep(1.1)  # the least age a sweep takes (SAFE_AGE)

    assert await bucket.orphans(older_than=3600) == []  # too young: a put may still be running
    (orphan,) = await bucket.orphans(older_than=1)
    assert (orphan.nuid, orphan.chunks) == ("CUTOFFPUTNUID00000000A", 3)
    assert orphan.age >= 1

    swept = await bucket.sweep_orphans(older_than=1)
    assert [o.nuid for o in swept] == ["CUTOFFPUTNUID00000000A"]
    after = await stream_state("kept")
    assert after["messages"] == before["messages"] - 3
    assert await bucket.orphans(older_than=1) == []
    assert await bucket.get_bytes("doc") == b"second version " * 1000
    versions = await bucket.versions("doc")
    assert [await bucket.get_bytes("doc", revision=v.revision) for v in versions] == [
        b"first version " * 1000,
        b"second version " * 1000,
    ]
    assert len(await bucket.get_bytes("other")) == 300_000


def test_the_cli_sweeps_them(server: ServerProcess) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        cmd = [sys.executable, "-m", "orlop", "object", "-s", server.url, *args]
        return subprocess.run(cmd, capture_output=True, timeout=60)

    assert run("add", "swept").returncode == 0
    asyncio.run(_cut_off_put(server, "swept", "CUTOFFPUTNUID00000000B", 2))
    young = run("gc", "swept")  # default --older-than 1m: spared
    time.sleep(1.1)
    assert young.returncode == 0 and b"Removed 0 orphaned chunks" in young.stderr
    dry = run("gc", "swept", "--older-than", "1s", "--dry-run", "--json")
    assert dry.returncode == 0
    assert b'"chunks": 2' in dry.stdout and b"CUTOFFPUTNUID00000000B" in dry.stdout
    gone = run("gc", "swept", "--older-than", "1")
    assert gone.returncode == 0 and b"Removed 2 orphaned chunks of 1 cut-off puts" in gone.stderr
    assert b"Removed 0" in run("gc", "swept", "--older-than", "1").stderr


@pytest.mark.parametrize("bad", ["soon", "-5", "0.5"])
def test_a_bad_age_is_refused(server: ServerProcess, bad: str) -> None:
    cmd = [sys.executable, "-m", "orlop", "object", "-s", server.url, "gc", "x", "--older-than", bad]
    proc = subprocess.run(cmd, capture_output=True, timeout=60)
    assert proc.returncode != 0 and b"older" in proc.stderr.lower() + proc.stdout.lower(), proc.stderr


async def test_a_put_whose_chunks_were_swept_while_it_stalled_stores_nothing(
    server: ServerProcess, client: ObjectStoreClient
) -> None:
    """A put fed so slowly that its chunks look orphaned, swept by another client's gc
    meanwhile: it must fail, not publish a meta that names missing chunks."""
    bucket = await client.create_bucket("slowfed")
    async with connect(server.url) as other:
        sweeper = await other.bucket("slowfed")

        async def trickle() -> AsyncIterator[bytes]:
            yield os.urandom(1000)
            yield os.urandom(1000)  # two chunks stored, then the source stalls
            await asyncio.sleep(1.2)
            swept = await sweeper.sweep_orphans(older_than=1)
            assert [o.chunks for o in swept] == [2]  # they looked like a cut-off put's
            yield os.urandom(1000)

        with pytest.raises(ObjectStoreUnavailable, match="2 of this put's 3 chunks were removed"):
            await bucket.put("slow", trickle(), chunk_size=1000)
    with pytest.raises(ObjectNotFound):
        await bucket.info("slow")
    assert await bucket.orphans(older_than=1) == []  # and what was left is gone too

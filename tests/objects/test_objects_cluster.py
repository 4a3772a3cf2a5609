"""orlop.objects on a 3-node nats-server cluster: replicated buckets, and a stream leader that dies.

The scale-out path of the product: the same library, pointed at a cluster. What
a user checks: an R3 bucket reads back what was written through any node; when
the stream's leader is killed, a download in flight still completes with the
right bytes (its consumer is recreated where it stopped), and a put in flight
either completes or fails within seconds, leaving no partial object behind.
Only nats-server clusters; Orlop's own server is a single node.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from orlop.errors import JetStreamError, ObjectNotFound, ObjectStoreUnavailable
from orlop.objects import Bucket, ObjectStoreClient, connect
from orlop.testing import NatsCluster

MIB = 1024 * 1024


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    with NatsCluster(size=3) as c:
        yield c


async def _r3_bucket(client: ObjectStoreClient, name: str) -> Bucket:
    # Right after the meta group forms, placement may still miss a peer for a moment.
    for _ in range(50):
        try:
            return await client.create_bucket(name, num_replicas=3, history=2)
        except JetStreamError as e:
            if e.err_code != 10005:  # no suitable peers for placement
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("no R3 placement")


async def _leader(cluster: NatsCluster, stream: str) -> str:
    nc = await nats.connect(cluster.urls)
    try:
        info = await nc.jetstream().stream_info(stream)
        assert info.cluster is not None and info.cluster.leader
        return str(info.cluster.leader)
    finally:
        await nc.close()


def _fast_reconnect() -> dict[str, Any]:
    return {"max_reconnect_attempts": -1, "reconnect_time_wait": 0.2}


async def test_replicated_bucket_reads_back_through_every_node(cluster: NatsCluster) -> None:
    async with connect(cluster.urls[0]) as writer:
        bucket = await _r3_bucket(writer, "r3")
        status = await bucket.status()
        assert status.replicas == 3
        big = os.urandom(12 * MIB)
        await bucket.put("big.bin", big)
        for url in cluster.urls:
            async with connect(url) as reader:
                mine = await reader.bucket("r3")
                for i in range(10):  # read-your-writes through this node, version after version
                    payload = os.urandom(100 + i)
                    await mine.put("k", payload)
                    assert await mine.get_bytes("k") == payload
                assert await mine.get_bytes("big.bin") == big
                assert await mine.read_range("big.bin", 5 * MIB, 1000) == big[5 * MIB : 5 * MIB + 1000]
        assert sorted(o.name for o in await bucket.list()) == ["big.bin", "k"]
        assert len(await bucket.versions("k")) == 2  # history=2 keeps two revisions
        await bucket.delete("big.bin")
        assert [o.name for o in await bucket.list()] == ["k"]


async def test_download_survives_the_stream_leader_dying(cluster: NatsCluster, tmp_path: Path) -> None:
    async with connect(cluster.urls, **_fast_reconnect()) as client:
        bucket = await _r3_bucket(client, "fg")
        data = os.urandom(96 * MIB)
        await bucket.put("big", data)
        leader = await _leader(cluster, "OBJ_fg")
        out = tmp_path / "big.out"
        download = asyncio.create_task(bucket.download("big", out))
        await asyncio.sleep(0.2)
        cluster.node(leader).kill()
        await asyncio.wait_for(download, 60)
        assert out.read_bytes() == data  # the digest was verified too


async def test_put_when_the_stream_leader_dies_completes_or_leaves_nothing(cluster: NatsCluster) -> None:
    async with connect(cluster.urls, request_timeout=2.0, **_fast_reconnect()) as client:
        bucket = await _r3_bucket(client, "fo")
        data = os.urandom(128 * MIB)
        leader = await _leader(cluster, "OBJ_fo")
        put = asyncio.create_task(bucket.put("big", data))
        await asyncio.sleep(0.2)
        cluster.node(leader).kill()
        try:
            await asyncio.wait_for(put, 60)
        except ObjectStoreUnavailable:
            with pytest.raises(ObjectNotFound):
                await _eventually(lambda: bucket.info("big"))
        else:
            assert await _eventually(lambda: bucket.get_bytes("big")) == data
        # The bucket goes on working under the new leader (operations that find the
        # election still running fail with ObjectStoreUnavailable and can be retried).
        after = os.urandom(3 * MIB)
        assert await _eventually(lambda: bucket.put("after", after))
        assert await _eventually(lambda: bucket.get_bytes("after")) == after


async def test_reads_wait_out_the_election_after_the_stream_leader_dies(cluster: NatsCluster) -> None:
    """Right after the leader is killed, reads succeed as they are: no retry loop in the caller.

    Until a new leader is elected the stream's API times out or answers "temporarily
    unavailable"; opening the bucket, its status, the listing, an info and a get
    wait for the election (a few seconds) instead of failing with ObjectStoreUnavailable.
    """
    async with connect(cluster.urls, request_timeout=2.0, **_fast_reconnect()) as client:
        bucket = await _r3_bucket(client, "el")
        data = os.urandom(3 * MIB)
        await bucket.put("obj", data)
        cluster.node(await _leader(cluster, "OBJ_el")).kill()
        opened = await client.bucket("el")
        status = await opened.status()
        assert (status.replicas, status.object_count, status.total_bytes) == (3, 1, len(data))
        assert [o.name for o in await opened.list()] == ["obj"]
        assert (await opened.info("obj")).size == len(data)
        assert await opened.get_bytes("obj") == data
        assert "el" in await client.buckets()


async def _eventually(op: Any, within: float = 30.0) -> Any:
    """``op()`` once the cluster answers: retried on ObjectStoreUnavailable for ``within`` seconds.

    An election takes a few seconds, longer on two busy cores. (With 10 s this test failed once
    in a full run, and passed alone; a slow election is the likeliest cause, not a proven one.)"""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            return await op()
        except ObjectStoreUnavailable:
            await asyncio.sleep(0.2)
    return await op()


async def test_watch_sees_every_update_across_a_leader_change(cluster: NatsCluster) -> None:
    async with connect(cluster.urls, **_fast_reconnect()) as client:
        bucket = await _r3_bucket(client, "w")
        seen: list[str] = []

        async def watch() -> None:
            async for info in bucket.watch(updates_only=True):
                seen.append(info.name)

        watcher = asyncio.create_task(watch())
        try:
            await asyncio.sleep(0.3)
            for i in range(3):
                await bucket.put(f"before{i}", b"x" * 100)
            cluster.node(await _leader(cluster, "OBJ_w")).kill()
            for i in range(3):
                await _eventually(lambda i=i: bucket.put(f"after{i}", b"y" * 100))
            for _ in range(100):
                if len(seen) >= 6:
                    break
                await asyncio.sleep(0.1)
        finally:
            watcher.cancel()
        assert seen == ["before0", "before1", "before2", "after0", "after1", "after2"]

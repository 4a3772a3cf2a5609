"""Versions (history buckets), restore, pruning, and conditional writes."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from orlop.errors import ObjectAlreadyExists, ObjectNotFound, RevisionMismatch
from orlop.objects import Bucket, ObjectStoreClient


async def test_versions_and_get_by_revision(client: ObjectStoreClient) -> None:
    b = await client.create_bucket("hist", history=3)
    assert b.history == 3 and b.config["metadata"]["orlop.history"] == "3"
    r1 = await b.put("doc", b"one")
    r2 = await b.put("doc", b"two" * 100_000)
    r3 = await b.put("doc", b"three")
    revs = await b.versions("doc")
    assert [v.revision for v in revs] == [r1.revision, r2.revision, r3.revision]
    assert all(v.created_ns > 0 and v.modified_ns > 0 for v in revs)
    assert await b.get_bytes("doc") == b"three"
    assert await b.get_bytes("doc", revision=r1.revision) == b"one"
    assert await b.get_bytes("doc", revision=r2.revision) == b"two" * 100_000
    assert (await b.info("doc", revision=r2.revision)).revision == r2.revision
    with pytest.raises(ObjectNotFound):
        await b.info("other", revision=r1.revision)


async def test_pruning_purges_old_chunks(client: ObjectStoreClient, stream_state: Any) -> None:
    b = await client.create_bucket("hist", history=2)
    first = await b.put("doc", os.urandom(50_000), chunk_size=10_000)
    await b.put("doc", os.urandom(50_000), chunk_size=10_000)
    assert (await stream_state("hist"))["messages"] == 12
    await b.put("doc", os.urandom(50_000), chunk_size=10_000)
    # the first revision (5 chunks + meta) is gone, two revisions remain
    assert (await stream_state("hist"))["messages"] == 12
    assert len(await b.versions("doc")) == 2
    with pytest.raises(ObjectNotFound):
        await b.get_bytes("doc", revision=first.revision)


async def test_restore_and_delete_in_history(client: ObjectStoreClient) -> None:
    b = await client.create_bucket("hist", history=5)
    r1 = await b.put("doc", b"original")
    await b.put("doc", b"changed")
    await b.delete("doc")
    with pytest.raises(ObjectNotFound):
        await b.get_bytes("doc")
    restored = await b.restore("doc", r1.revision)
    assert restored.revision > r1.revision and restored.nuid == r1.nuid
    assert await b.get_bytes("doc") == b"original"
    assert [v.deleted for v in await b.versions("doc")] == [False, False, True, False]
    await b.delete("doc", purge=True)
    with pytest.raises(ObjectNotFound):
        await b.versions("doc")


async def test_restore_without_history_is_refused(bucket: Bucket) -> None:
    r1 = await bucket.put("doc", b"1")
    await bucket.put("doc", b"2")
    with pytest.raises(ObjectNotFound):
        await bucket.restore("doc", r1.revision)


async def test_if_revision(bucket: Bucket) -> None:
    r1 = await bucket.put("doc", b"1")
    r2 = await bucket.put("doc", b"2", if_revision=r1.revision)
    with pytest.raises(RevisionMismatch) as err:
        await bucket.put("doc", b"3", if_revision=r1.revision)
    assert err.value.to_dict()["error"]["err_code"] == 10409
    assert await bucket.get_bytes("doc") == b"2"
    assert (await bucket.info("doc")).revision == r2.revision


async def test_create_only_race_has_one_winner(bucket: Bucket, stream_state: Any) -> None:
    payloads = [os.urandom(300_000) for _ in range(4)]
    results = await asyncio.gather(
        *(bucket.put("race", p, create_only=True, chunk_size=50_000) for p in payloads),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1 and all(isinstance(e, ObjectAlreadyExists) for e in losers)
    assert await bucket.get_bytes("race") == payloads[results.index(winners[0])]
    assert (await stream_state("docs"))["messages"] == 7  # the winner's 6 chunks + meta; losers purged
    with pytest.raises(ObjectAlreadyExists):
        await bucket.put("race", b"again", create_only=True)


async def test_create_only_over_a_deleted_object(bucket: Bucket) -> None:
    await bucket.put("doc", b"1")
    await bucket.delete("doc")
    await bucket.put("doc", b"2", create_only=True)
    assert await bucket.get_bytes("doc") == b"2"


async def test_concurrent_unconditional_overwrites_leave_no_orphans(
    bucket: Bucket, stream_state: Any
) -> None:
    await asyncio.gather(*(bucket.put("doc", os.urandom(100_000), chunk_size=20_000) for _ in range(5)))
    assert (await stream_state("docs"))["messages"] == 6  # the last writer's 5 chunks + its meta
    assert len(await bucket.get_bytes("doc")) == 100_000


async def test_history_bucket_readable_after_nats_py_put(client: ObjectStoreClient) -> None:
    """An official client's put (with rollup) into a history bucket is still an ordinary object to us."""
    b = await client.create_bucket("hist", history=4)
    await b.put("doc", b"orlop revision")
    js = client.nc.jetstream()
    store = await js.object_store("hist")
    await store.put("doc", b"from nats-py" * 1000)
    await store.put("other", b"plain")
    assert await b.get_bytes("doc") == b"from nats-py" * 1000
    assert await b.get_bytes("other") == b"plain"
    assert [v.name for v in await b.versions("doc")] == ["doc"]  # nats-py's rollup kept only its own
    assert [i.name for i in await b.list()] == ["doc", "other"]


async def test_rename_in_history_bucket_takes_old_revisions_along(
    client: ObjectStoreClient, stream_state: Any
) -> None:
    b = await client.create_bucket("hist", history=3)
    await b.put("old", os.urandom(30_000), chunk_size=10_000)
    await b.put("old", os.urandom(30_000), chunk_size=10_000)
    renamed = await b.update_meta("old", name="new")
    assert await b.get_bytes("new") and renamed.name == "new"
    assert (await stream_state("hist"))["messages"] == 4  # the current 3 chunks + one meta under "new"
    with pytest.raises(ObjectNotFound):
        await b.versions("old")


async def test_delete_revision_removes_one_revision_and_its_own_chunks(
    client: ObjectStoreClient, stream_state: Any
) -> None:
    b = await client.create_bucket("hist", history=5)
    r1 = await b.put("doc", os.urandom(30_000), chunk_size=10_000)
    r2 = await b.put("doc", b"second" * 5_000, chunk_size=10_000)
    restored = await b.restore("doc", r1.revision)  # shares r1's chunks
    tomb = await b.delete("doc")
    # chunks and meta of r1 and r2, the restored meta, the tombstone
    assert tomb is not None and (await stream_state("hist"))["messages"] == 4 + 4 + 1 + 1
    # An old revision: its meta and its own chunks go, the others are untouched.
    removed = await b.delete_revision("doc", r2.revision)
    assert removed is not None and removed.revision == r2.revision
    assert [v.revision for v in await b.versions("doc")] == [r1.revision, restored.revision, tomb.revision]
    assert (await stream_state("hist"))["messages"] == 4 + 1 + 1
    # The tombstone is the newest: without it the restored revision is current again.
    assert (await b.delete_revision("doc", tomb.revision)).deleted  # type: ignore[union-attr]
    assert (await b.info("doc")).revision == restored.revision
    assert (await stream_state("hist"))["messages"] == 4 + 1
    # r1 shares its chunks with the restored revision: they stay until both are gone.
    await b.delete_revision("doc", r1.revision)
    assert (await stream_state("hist"))["messages"] == 3 + 1
    assert await b.get_bytes("doc") == await b.get_bytes("doc", revision=restored.revision)
    assert await b.delete_revision("doc", r1.revision) is None  # not retained any more
    assert await b.delete_revision("doc", 10_000) is None
    await b.delete_revision("doc", restored.revision)
    assert (await stream_state("hist"))["messages"] == 0
    with pytest.raises(ObjectNotFound):
        await b.info("doc")
    assert await b.list(include_deleted=True) == []

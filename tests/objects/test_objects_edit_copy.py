"""Bucket edits (``update_bucket``), object copies (``copy``) and transfer progress callbacks.

What the CLI's ``edit``, ``cp``/``mv`` and progress bars stand on, checked on both servers.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from orlop.errors import BadRequest, BucketNotFound, ObjectAlreadyExists, ObjectNotFound
from orlop.objects import Bucket, ObjectStoreClient


async def test_update_bucket_changes_only_what_is_given(client: ObjectStoreClient) -> None:
    await client.create_bucket(
        "edits", description="first", history=3, max_object_size=1000, metadata={"team": "a"}, ttl=60
    )
    edited = await client.update_bucket("edits", description="second", max_bytes=10_000_000)
    status = await edited.status()
    assert (status.description, status.max_bytes) == ("second", 10_000_000)
    # Untouched settings keep their values, Orlop's own ones in the stream metadata too.
    assert (status.history, status.max_object_size, status.ttl) == (3, 1000, 60)
    assert status.metadata.get("team") == "a"

    again = await client.update_bucket("edits", metadata={"team": "b"}, history=5, compression=True)
    status = await again.status()
    assert status.metadata.get("team") == "b" and (status.history, status.compression) == (5, "s2")
    assert status.description == "second"
    # The bucket as another client opens it sees the same.
    reopened = await client.bucket("edits")
    assert reopened.history == 5 and reopened.max_object_size == 1000

    with pytest.raises(BadRequest, match="storage"):
        await client.update_bucket("edits", storage="memory")
    with pytest.raises(BadRequest, match="unknown"):
        await client.update_bucket("edits", colour="blue")
    with pytest.raises(BucketNotFound):
        await client.update_bucket("nope", description="x")


async def test_copy_within_and_across_buckets(client: ObjectStoreClient, bucket: Bucket) -> None:
    data = os.urandom(700_000)
    src = await bucket.put(
        "a.bin", data, description="original", headers={"Content-Type": "x/y"}, metadata={"k": "v"}
    )
    copied = await bucket.copy("a.bin", "b.bin")
    assert copied.name == "b.bin" and copied.nuid != src.nuid
    assert (copied.size, copied.digest, copied.description) == (src.size, src.digest, "original")
    assert copied.headers.get("Content-Type") == ["x/y"] and copied.metadata == {"k": "v"}
    assert await bucket.get_bytes("b.bin") == data

    other = await client.create_bucket("other")
    moved = await bucket.copy("a.bin", to_bucket=other, description="changed")
    assert (moved.bucket, moved.name, moved.description) == ("other", "a.bin", "changed")
    assert await other.get_bytes("a.bin") == data
    # The source is untouched.
    assert await bucket.get_bytes("a.bin") == data

    with pytest.raises(ObjectNotFound):
        await bucket.copy("missing", "x")
    with pytest.raises(ObjectAlreadyExists):
        await bucket.copy("a.bin", "b.bin", create_only=True)


async def test_copy_of_a_compressed_object_is_compressed_and_reads_back(bucket: Bucket) -> None:
    text = b"compressible line of text\n" * 40_000
    await bucket.put("log.txt", text, compression="s2")
    copy = await bucket.copy("log.txt", "log2.txt")
    assert copy.compression == "s2" and copy.size < len(text)
    assert await bucket.get_bytes("log2.txt") == text
    plain = await bucket.copy("log.txt", "log3.txt", compression=None)
    assert plain.compression is None and plain.size == len(text)
    assert await bucket.get_bytes("log3.txt") == text


async def test_progress_callbacks_count_every_byte(bucket: Bucket, tmp_path: os.PathLike[str]) -> None:
    data = os.urandom(1_000_000)
    seen: list[int] = []
    await bucket.put("p.bin", data, chunk_size=128 * 1024, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == len(data) and len(seen) == 8

    small: list[int] = []
    await bucket.put("one.bin", b"tiny", progress=small.append)
    assert small == [4]

    got: list[int] = []
    info = await bucket.download("p.bin", os.path.join(tmp_path, "p.bin"), progress=got.append)
    assert got == sorted(got) and got[-1] == info.size == len(data)


async def test_edits_that_touch_derived_settings(client: ObjectStoreClient, stream_state: Any) -> None:
    await client.create_bucket("derived", history=4)
    # A TTL under the default 2-minute duplicate window: the window follows the TTL.
    short = await client.update_bucket("derived", ttl=30)
    assert (await short.status()).ttl == 30
    for _ in range(4):
        await short.put("doc", os.urandom(300_000))
    assert len(await short.versions("doc")) == 4
    # Fewer revisions kept: the extra ones go now, with their chunks.
    fewer = await client.update_bucket("derived", history=1)
    assert len(await fewer.versions("doc")) == 1
    state = await stream_state("derived")
    assert state["messages"] == 3 + 1  # one object of 3 chunks and its meta
    with pytest.raises(BadRequest, match=r"orlop\."):
        await client.create_bucket("reserved", metadata={"orlop.history": "500"})
    with pytest.raises(BadRequest, match=r"orlop\."):
        await client.update_bucket("derived", metadata={"orlop.team": "x"})


async def test_rename_onto_a_live_object_replaces_only_when_asked(bucket: Bucket, stream_state: Any) -> None:
    await bucket.put("a", b"new data")
    await bucket.put("b", b"old data that is replaced")
    with pytest.raises(ObjectAlreadyExists):
        await bucket.update_meta("a", name="b")
    renamed = await bucket.update_meta("a", name="b", replace=True)
    assert renamed.name == "b" and await bucket.get_bytes("b") == b"new data"
    with pytest.raises(ObjectNotFound):
        await bucket.info("a")
    assert (await stream_state("docs"))["messages"] == 2  # b's chunk and meta; the old b's chunk is gone
    with pytest.raises(ObjectNotFound):
        await bucket.update_meta("missing", name="b", replace=True)
    assert await bucket.get_bytes("b") == b"new data"  # a failed rename touched nothing


async def test_a_copy_keeps_the_objects_ttl(bucket: Bucket) -> None:
    src = await bucket.put("expiring", b"short-lived", ttl=3600)
    assert src.ttl == 3600
    copy = await bucket.copy("expiring", "copy")
    assert copy.ttl == 3600 and (await bucket.info("copy")).ttl == 3600
    forever = await bucket.copy("expiring", "kept", ttl=None)
    assert forever.ttl is None

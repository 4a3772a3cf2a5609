"""Small puts pipeline chunk and meta: one round trip for new names, still exact when that guess is wrong."""

from __future__ import annotations

import os
from typing import Any

import pytest

from orlop.errors import ObjectNotFound, StorageLimitExceeded
from orlop.objects import Bucket, ObjectStoreClient


async def test_overwrite_by_another_bucket_object(
    bucket: Bucket, client: ObjectStoreClient, stream_state: Any
) -> None:
    first = await bucket.put("cfg", b"version 1")
    other = await client.bucket("docs")  # has never seen "cfg": takes the pipelined path
    assert "cfg" not in other.known_names
    second = await other.put("cfg", b"version 2")
    assert second.revision > first.revision
    assert await bucket.get_bytes("cfg") == b"version 2"
    assert (await stream_state("docs"))["messages"] == 2  # the old chunk and meta are gone


async def test_new_names_and_empty_objects(bucket: Bucket, stream_state: Any) -> None:
    data = {f"n{i}": os.urandom(i * 100) for i in range(5)}  # n0 is empty: a meta without chunks
    for name, payload in data.items():
        info = await bucket.put(name, payload)
        assert (info.size, info.chunks) == (len(payload), 1 if payload else 0)
    for name, payload in data.items():
        assert await bucket.get_bytes(name) == payload
    assert (await stream_state("docs"))["messages"] == 5 + 4


async def test_failed_chunk_leaves_no_meta(client: ObjectStoreClient, stream_state: Any) -> None:
    """The chunk is refused (bucket full) while the meta alone would fit: nothing stays behind."""
    tiny = await client.create_bucket("tiny", max_bytes=700)
    with pytest.raises(StorageLimitExceeded):
        await tiny.put("big-ish", os.urandom(1000))
    with pytest.raises(ObjectNotFound):
        await tiny.info("big-ish")
    assert (await stream_state("tiny"))["messages"] == 0

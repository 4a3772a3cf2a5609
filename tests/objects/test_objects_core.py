"""Core object operations against both servers: put/get/info/list/delete, every put source."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orlop.errors import BucketExists, BucketNotFound, ObjectNotFound
from orlop.objects import Bucket, ObjectStoreClient
from orlop.objects.meta import EMPTY_DIGEST, encode_name


async def test_round_trip_small(bucket: Bucket) -> None:
    info = await bucket.put("hello.txt", b"hello")
    assert info.digest == "SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
    assert (info.size, info.chunks, info.revision > 0) == (5, 1, True)
    assert await bucket.get_bytes("hello.txt") == b"hello"
    got = await bucket.info("hello.txt")
    assert got.revision == info.revision and got.nuid == info.nuid and got.modified_ns > 0


async def test_empty_object(bucket: Bucket, client: ObjectStoreClient, stream_state: Any) -> None:
    info = await bucket.put("empty", b"")
    assert (info.size, info.chunks, info.digest) == (0, 0, EMPTY_DIGEST)
    assert await bucket.get_bytes("empty") == b""
    assert (await stream_state("docs"))["messages"] == 1


async def test_64_mib_round_trip(bucket: Bucket) -> None:
    data = os.urandom(64 << 20)
    info = await bucket.put("big.bin", data)
    # Big objects use 1 MiB chunks (one PUB of exactly max_payload each).
    assert (info.chunks, info.max_chunk_size, info.size) == (64, 1 << 20, len(data))
    got = await bucket.get_bytes("big.bin")
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


async def test_put_sources(bucket: Bucket, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    path = tmp_path / "src.bin"
    path.write_bytes(data)
    await bucket.put("from-path", path)
    await bucket.put("from-file", io.BytesIO(data))
    with open(path, "rb") as f:
        await bucket.put("from-real-file", f)

    async def agen() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 7777):
            yield data[i : i + 7777]

    await bucket.put("from-aiter", agen())
    await bucket.put("from-iter", iter([data[:5], data[5:]]))
    await bucket.put("from-str", "héllo")
    for name in ("from-path", "from-file", "from-real-file", "from-aiter", "from-iter"):
        assert await bucket.get_bytes(name) == data, name
    assert await bucket.get_bytes("from-str") == "héllo".encode()


async def test_chunk_size_and_layout(bucket: Bucket, client: ObjectStoreClient, stream_state: Any) -> None:
    data = os.urandom(10_000)
    info = await bucket.put("c", data, chunk_size=1000)
    assert info.chunks == 10 and info.max_chunk_size == 1000
    state = await stream_state("docs")
    assert state["messages"] == 11
    assert await bucket.get_bytes("c") == data


async def test_default_chunk_sizes(bucket: Bucket) -> None:
    small = await bucket.put("small", os.urandom(300_000))
    assert (small.chunks, small.max_chunk_size) == (3, 128 * 1024)  # ADR-20's default below 8 MiB

    pieces = [os.urandom(1_000_000) for _ in range(3)]

    async def stream() -> Any:
        for piece in pieces:
            yield piece

    unknown = await bucket.put("streamed", stream())
    assert (unknown.chunks, unknown.max_chunk_size) == (3, 1 << 20)  # size unknown: bulk chunks
    assert await bucket.get_bytes("streamed") == b"".join(pieces)
    # A TTL header on every chunk: the default shrinks just enough to fit max_payload.
    if bucket.allow_msg_ttl:
        data = os.urandom(9 << 20)
        with_ttl = await bucket.put("ttl", data, ttl=3600)
        assert with_ttl.max_chunk_size is not None and (1 << 20) - 4096 <= with_ttl.max_chunk_size < 1 << 20
        assert await bucket.get_bytes("ttl") == data


async def test_download_and_reader(bucket: Bucket, tmp_path: Path) -> None:
    data = os.urandom(500_000)
    await bucket.put("d", data, chunk_size=65536)
    dest = tmp_path / "out.bin"
    await bucket.download("d", dest)
    assert dest.read_bytes() == data
    sink = io.BytesIO()
    await bucket.download("d", sink)
    assert sink.getvalue() == data
    async with await bucket.get("d") as reader:
        parts = [p async for p in reader]
    assert b"".join(parts) == data and len(parts) == 8


async def test_info_headers_metadata_go_shape(bucket: Bucket, client: ObjectStoreClient) -> None:
    await bucket.put(
        "m",
        b"x",
        description="desc",
        headers={"Content-Type": "text/plain", "X-Multi": ["a", "b"]},
        metadata={"owner": "me"},
    )
    info = await bucket.info("m")
    assert info.headers == {"Content-Type": ["text/plain"], "X-Multi": ["a", "b"]}
    assert info.metadata == {"owner": "me"} and info.description == "desc"
    raw = await client.wire.request(
        "STREAM.MSG.GET.OBJ_docs", {"last_by_subj": f"$O.docs.M.{encode_name('m')}"}
    )
    import base64
    import json

    body = json.loads(base64.b64decode(raw["message"]["data"]))
    assert list(body)[:5] == ["name", "description", "headers", "metadata", "options"]
    assert body["headers"]["Content-Type"] == ["text/plain"] and "deleted" not in body


async def test_overwrite_reclaims_chunks(
    bucket: Bucket, client: ObjectStoreClient, stream_state: Any
) -> None:
    await bucket.put("o", os.urandom(300_000))
    second = await bucket.put("o", b"new")
    state = await stream_state("docs")
    assert state["messages"] == 2  # one chunk + one meta: the old chunks and meta are gone
    assert await bucket.get_bytes("o") == b"new"
    assert (await bucket.info("o")).revision == second.revision


async def test_list_filter_and_deleted(bucket: Bucket) -> None:
    assert await bucket.list() == []
    for name in ("a.json", "b.json", "c.txt"):
        await bucket.put(name, name.encode())
    assert [i.name for i in await bucket.list()] == ["a.json", "b.json", "c.txt"]
    assert [i.name for i in await bucket.list(filter="*.json")] == ["a.json", "b.json"]
    await bucket.delete("b.json")
    assert [i.name for i in await bucket.list("*.json")] == ["a.json"]
    listed = await bucket.list("*.json", include_deleted=True)
    assert [(i.name, i.deleted) for i in listed] == [("a.json", False), ("b.json", True)]


async def test_delete_soft_and_purge(bucket: Bucket, client: ObjectStoreClient, stream_state: Any) -> None:
    await bucket.put("x", os.urandom(200_000))
    tomb = await bucket.delete("x")
    assert tomb is not None and tomb.deleted
    with pytest.raises(ObjectNotFound):
        await bucket.info("x")
    assert (await bucket.info("x", show_deleted=True)).deleted
    assert (await stream_state("docs"))["messages"] == 1  # the tombstone only
    with pytest.raises(ObjectNotFound):
        await bucket.get_bytes("x")
    await bucket.delete("x", purge=True)
    assert (await stream_state("docs"))["messages"] == 0
    with pytest.raises(ObjectNotFound):
        await bucket.delete("x")


async def test_bucket_lifecycle(client: ObjectStoreClient) -> None:
    with pytest.raises(BucketNotFound):
        await client.bucket("nope")
    await client.create_bucket("one")
    with pytest.raises(BucketExists):
        await client.create_bucket("one")
    again = await client.create_bucket("one", exist_ok=True)
    assert again.name == "one"
    await client.create_bucket("two", storage="memory")
    assert await client.buckets() == ["one", "two"]
    await client.delete_bucket("one")
    assert await client.buckets() == ["two"]
    with pytest.raises(BucketNotFound):
        await client.delete_bucket("one")


async def test_stream_config_is_go_shaped(client: ObjectStoreClient) -> None:
    b = await client.create_bucket("cfg", description="d", ttl=60, max_bytes=1 << 30, metadata={"k": "v"})
    cfg = b.config
    assert cfg["subjects"] == ["$O.cfg.C.>", "$O.cfg.M.>"]
    assert (cfg["discard"], cfg["allow_rollup_hdrs"], cfg["allow_direct"]) == ("new", True, True)
    assert cfg["max_age"] == 60_000_000_000 and cfg["max_bytes"] == 1 << 30
    assert cfg["metadata"]["k"] == "v"


async def test_status_metrics(bucket: Bucket) -> None:
    await bucket.put("a", b"x" * 1000)
    await bucket.put("b", b"y" * 3000, chunk_size=1000)
    st = await bucket.status()
    assert (st.bucket, st.description, st.storage, st.replicas, st.sealed) == (
        "docs",
        "test bucket",
        "file",
        1,
        False,
    )
    assert (st.object_count, st.total_bytes, st.chunk_count, st.average_object_size) == (2, 4000, 4, 2000.0)
    assert st.messages == 6 and st.size > 4000 and st.backing_store == "JetStream"
    assert st.to_dict()["object_count"] == 2


async def test_bulk_chunks_read_by_nats_py(bucket: Bucket, client: ObjectStoreClient) -> None:
    """nats-py's object store reads an object written in 1 MiB chunks (any chunk size is valid)."""
    data = os.urandom((8 << 20) + 12345)
    info = await bucket.put("bulk.bin", data)
    assert (info.chunks, info.max_chunk_size) == (9, 1 << 20)
    store = await client.nc.jetstream(timeout=20).object_store("docs")
    result = await store.get("bulk.bin")
    assert result.data == data and result.info.digest == info.digest


async def test_bucket_without_direct_get(client: ObjectStoreClient) -> None:
    """A bucket whose stream does not allow direct gets (older clients' buckets) reads via STREAM.MSG.GET."""
    from orlop.objects import stream_config

    cfg = stream_config("nodirect")
    cfg["allow_direct"] = False
    await client.wire.request("STREAM.CREATE.OBJ_nodirect", cfg)
    bucket = await client.bucket("nodirect")
    assert bucket.allow_direct is False
    data = os.urandom(300_000)
    first = await bucket.put("x", data)
    second = await bucket.put("x", data[:1000])
    assert second.revision > first.revision
    assert (await bucket.info("x")).revision == second.revision
    assert await bucket.get_bytes("x") == data[:1000]
    assert await bucket.read_range("x", 10, 20) == data[10:30]
    with pytest.raises(ObjectNotFound):
        await bucket.info("missing")

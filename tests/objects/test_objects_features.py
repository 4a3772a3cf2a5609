"""Compression, per-object TTL, links and watch."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import cramjam
import pytest

from orlop.errors import BadRequest, LinkError, ObjectAlreadyExists, ObjectNotFound
from orlop.objects import Bucket, ObjectStoreClient
from orlop.objects.meta import encode_name


async def _stored_chunks(client: ObjectStoreClient, bucket: str, nuid: str) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    seq = 1
    while True:
        try:
            resp = await client.wire.request(
                f"STREAM.MSG.GET.OBJ_{bucket}", {"next_by_subj": f"$O.{bucket}.C.{nuid}", "seq": seq}
            )
        except Exception:
            return out
        m = resp["message"]
        out.append((base64.b64decode(m.get("hdrs", "")), base64.b64decode(m.get("data", ""))))
        seq = m["seq"] + 1


async def test_compression_round_trip_and_stored_frames(bucket: Bucket, client: ObjectStoreClient) -> None:
    text = b"the quick brown fox jumps over the lazy dog\n" * 20_000
    info = await bucket.put("t.txt", text, compression="s2", chunk_size=100_000)
    assert info.compression == "s2" and info.original_size == len(text)
    assert info.size < len(text) // 3 and info.headers["Orlop-Compression"] == ["s2"]
    assert await bucket.get_bytes("t.txt") == text
    stored = b"".join(data for _, data in await _stored_chunks(client, "docs", info.nuid))
    assert len(stored) == info.size
    assert bytes(cramjam.snappy.decompress(stored)) == text  # the whole object is one framed stream
    assert await bucket.read_range("t.txt", 250_000, 1_000) == text[250_000:251_000]
    st = await bucket.status()
    assert st.compression_ratio is not None and st.compression_ratio > 3


async def test_ttl_headers_or_clear_refusal(bucket: Bucket, client: ObjectStoreClient) -> None:
    if not bucket.allow_msg_ttl:
        with pytest.raises(BadRequest):
            await bucket.put("t", b"x", ttl=60)
        return
    info = await bucket.put("t", b"x" * 300, ttl=60, chunk_size=100)
    assert info.ttl == 60 and (await bucket.info("t")).ttl == 60
    chunks = await _stored_chunks(client, "docs", info.nuid)
    assert len(chunks) == 3 and all(b"Nats-TTL: 60" in hdrs for hdrs, _ in chunks)
    meta = await client.wire.request(
        "STREAM.MSG.GET.OBJ_docs", {"last_by_subj": f"$O.docs.M.{encode_name('t')}"}
    )
    assert b"Nats-TTL: 60" in base64.b64decode(meta["message"]["hdrs"])
    with pytest.raises(BadRequest):
        await bucket.put("t", b"x", ttl=0)


async def test_links(bucket: Bucket, client: ObjectStoreClient) -> None:
    other = await client.create_bucket("other")
    target = await other.put("real.bin", b"payload")
    link = await bucket.add_link("alias", target)
    assert link.is_link and link.link is not None and link.link.bucket == "other"
    assert await bucket.get_bytes("alias") == b"payload"
    local = await bucket.put("local", b"here")
    await bucket.add_link("alias2", local)
    assert await bucket.get_bytes("alias2") == b"here"
    with pytest.raises(LinkError):
        await bucket.add_link("bad", link)  # a link to a link
    with pytest.raises(ObjectAlreadyExists):
        await bucket.add_link("local", target)
    await bucket.add_bucket_link("bl", other)
    with pytest.raises(LinkError):
        await bucket.get_bytes("bl")
    await other.delete("real.bin")
    with pytest.raises(LinkError):
        await bucket.get_bytes("alias")
    with pytest.raises(LinkError):
        await bucket.add_link("dead", await other.info("real.bin", show_deleted=True))
    with pytest.raises(LinkError):
        await bucket.put("x", link)


async def _collect(watcher: Any, n: int) -> list[Any]:
    out = []
    async for info in watcher:
        out.append(info)
        if len(out) == n:
            break
    return out


async def test_watch_modes(bucket: Bucket) -> None:
    await bucket.put("a", b"1")
    await bucket.put("a", b"2")
    await bucket.put("b", b"3")
    async with bucket.watch() as w:
        initial = await asyncio.wait_for(_collect(w, 2), 10)
        assert [i.name for i in initial] == ["a", "b"] and w.initial_done.is_set()
        await bucket.delete("b")
        [upd] = await asyncio.wait_for(_collect(w, 1), 10)
        assert (upd.name, upd.deleted) == ("b", True)
    async with bucket.watch(include_history=True, ignore_deletes=True) as w:
        hist = await asyncio.wait_for(_collect(w, 1), 10)
        assert [(i.name, i.deleted) for i in hist] == [
            ("a", False)
        ]  # rollup kept one "a"; b's tombstone skipped
    async with bucket.watch(updates_only=True) as w:
        assert w.initial_done.is_set()
        await bucket.put("c", b"new")
        [only] = await asyncio.wait_for(_collect(w, 1), 10)
        assert only.name == "c"


async def test_update_meta_and_rename(bucket: Bucket, client: ObjectStoreClient) -> None:
    await bucket.put("old", b"data", headers={"A": "1"})
    await bucket.put("taken", b"x")
    info = await bucket.update_meta("old", description="new desc", metadata={"k": "v"})
    assert info.description == "new desc" and info.metadata == {"k": "v"}
    with pytest.raises(ObjectAlreadyExists):
        await bucket.update_meta("old", name="taken")
    renamed = await bucket.update_meta("old", name="new", headers={"B": ["2", "3"]})
    assert renamed.name == "new" and renamed.headers == {"B": ["2", "3"]}
    assert await bucket.get_bytes("new") == b"data"
    with pytest.raises(ObjectNotFound):
        await bucket.info("old", show_deleted=True)
    with pytest.raises(ObjectNotFound):
        await bucket.update_meta("missing", description="x")


async def test_ttl_expiry_removes_meta_and_chunks(bucket: Bucket, stream_state: Any) -> None:
    """The one test that waits for a clock: the server's own TTL (1 s minimum) expires the object."""
    assert bucket.allow_msg_ttl  # both servers report 2.11+ and accept allow_msg_ttl
    await bucket.put("short", b"x" * 5000, ttl=1, chunk_size=1000)
    await bucket.put("long", b"kept")
    deadline = asyncio.get_running_loop().time() + 8
    while asyncio.get_running_loop().time() < deadline:
        try:
            await bucket.info("short")
        except ObjectNotFound:
            break
        await asyncio.sleep(0.2)
    with pytest.raises(ObjectNotFound):
        await bucket.info("short")
    assert (await stream_state("docs"))["messages"] == 2  # only "long" (chunk + meta) is left
    assert await bucket.get_bytes("long") == b"kept"

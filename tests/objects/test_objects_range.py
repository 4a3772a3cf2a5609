"""Range reads and the seekable reader: exact bytes, and only the chunks needed move."""

from __future__ import annotations

import asyncio
import os

from orlop.objects import Bucket


async def test_tail_range_moves_only_the_tail(bucket: Bucket) -> None:
    data = os.urandom(64 << 20)
    await bucket.put("big", data)
    reader = await bucket.get("big")
    await reader.seek(-(1 << 20), 2)
    part = await reader.read(1 << 20)
    await reader.aclose()
    assert part == data[-(1 << 20) :]
    assert reader.bytes_fetched < 4 << 20
    assert await bucket.read_range("big", len(data) - 10, 100) == data[-10:]


async def test_middle_ranges_match(bucket: Bucket) -> None:
    data = os.urandom(3_000_000)
    await bucket.put("m", data, chunk_size=100_000)
    for offset, length in [
        (0, 10),
        (99_999, 2),
        (150_000, 1_000_000),
        (2_999_999, 5),
        (3_000_000, 5),
        (0, 3_000_000),
    ]:
        assert await bucket.read_range("m", offset, length) == data[offset : offset + length], (
            offset,
            length,
        )
    reader = await bucket.get("m")
    await reader.seek(1_234_567)
    got = await reader.read(200_000)
    assert got == data[1_234_567:1_434_567]
    assert reader.bytes_fetched <= 400_000  # three chunks at most
    assert reader.tell() == 1_434_567
    await reader.seek(10)
    assert await reader.read(5) == data[10:15]
    await reader.aclose()


async def test_range_with_interleaved_chunks(bucket: Bucket) -> None:
    """Two concurrent puts interleave their chunks in the stream: index -> sequence must still be exact."""
    a, b = os.urandom(2_000_000), os.urandom(2_000_000)
    await asyncio.gather(bucket.put("a", a, chunk_size=10_000), bucket.put("b", b, chunk_size=10_000))
    await bucket.update_meta("a", description="moves the meta far away from the chunks")
    for offset in (0, 5_000, 777_777, 1_990_000):
        assert await bucket.read_range("a", offset, 30_000) == a[offset : offset + 30_000]
        assert await bucket.read_range("b", offset, 30_000) == b[offset : offset + 30_000]
    reader = await bucket.get("a")
    await reader.seek(1_000_000)
    assert await reader.read() == a[1_000_000:]
    await reader.aclose()


async def test_sequential_reader_verifies_and_iterates(bucket: Bucket) -> None:
    data = os.urandom(1_000_000)
    await bucket.put("s", data, chunk_size=65536)
    async with await bucket.get("s") as reader:
        first = await reader.read(100)
        rest = await reader.read()
        assert first + rest == data
        assert reader.bytes_fetched == len(data)
        assert await reader.read() == b""


async def test_purged_chunks_fail_fast_instead_of_hanging(bucket: Bucket) -> None:
    import time

    import pytest

    from orlop.errors import ObjectNotFound

    data = os.urandom(24 << 20)
    info = await bucket.put("gone", data)
    reader = await bucket.get("gone")
    assert await reader.read(4 << 20) == data[: 4 << 20]  # long read: the streaming consumer
    await bucket.purge({"filter": f"$O.docs.C.{info.nuid}"})
    started = time.monotonic()
    with pytest.raises(ObjectNotFound):
        await reader.read()
    assert time.monotonic() - started < 15
    await reader.aclose()


async def test_forward_seek_while_streaming_skips_the_gap(bucket: Bucket) -> None:
    data = os.urandom(16 << 20)
    await bucket.put("seek", data)
    async with await bucket.get("seek") as reader:
        assert await reader.read(4 << 20) == data[: 4 << 20]  # streaming
        fetched = reader.bytes_fetched
        await reader.seek(12 << 20)
        assert await reader.read(256 << 10) == data[12 << 20 : (12 << 20) + (256 << 10)]
        # the 8 MiB gap was not transferred (at most the flow-control window already in flight)
        assert reader.bytes_fetched - fetched < 6 << 20

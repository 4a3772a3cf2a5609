"""``put(final_headers=...)``: headers computed from the data while it streams reach the meta.

The S3 gateway keeps each object's MD5 this way (known only once the body was read);
the hook is general: called once, after the last chunk, its headers join the meta.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from orlop.objects import Bucket


async def test_final_headers_are_computed_after_the_data(bucket: Bucket) -> None:
    md5 = hashlib.md5(usedforsecurity=False)
    calls: list[int] = []

    async def source() -> AsyncIterator[bytes]:
        for i in range(5):
            piece = bytes([i]) * 100_000
            md5.update(piece)
            yield piece

    def final() -> dict[str, str]:
        calls.append(1)
        return {"X-Checksum": md5.hexdigest()}

    info = await bucket.put("streamed", source(), headers={"Content-Type": "a/b"}, final_headers=final)
    assert calls == [1]
    expected = hashlib.md5(
        b"".join(bytes([i]) * 100_000 for i in range(5)), usedforsecurity=False
    ).hexdigest()
    assert info.headers["X-Checksum"] == [expected]
    stored = await bucket.info("streamed")
    assert stored.headers["X-Checksum"] == [expected] and stored.headers["Content-Type"] == ["a/b"]


async def test_final_headers_on_the_one_chunk_path(bucket: Bucket) -> None:
    info = await bucket.put("small", b"abc", final_headers=lambda: {"X-Len": "3"})
    assert (await bucket.info("small")).headers["X-Len"] == ["3"] == info.headers["X-Len"]


async def test_a_source_that_fails_at_its_end_stores_nothing(bucket: Bucket) -> None:
    async def source() -> AsyncIterator[bytes]:
        yield b"x" * 300_000
        raise ValueError("checksum mismatch")

    with pytest.raises(ValueError):
        await bucket.put("bad", source(), final_headers=lambda: {"X": "y"})
    assert await bucket.list() == []
    state = (await bucket.wire.request(f"STREAM.INFO.{bucket.stream}"))["state"]
    assert state["messages"] == 0

"""``iter_chunks``: any source cut into chunks of exactly the chunk size, bytes in order.

Pieces of every length and type (bytes, bytearray, memoryview), including ones that
straddle several chunks; a mutable piece changed after it was handed over must not change
what was chunked (a source may reuse its read buffer).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hypothesis import given, settings
from hypothesis import strategies as st

from orlop.objects.put import iter_chunks

_KINDS = st.sampled_from(["bytes", "bytearray", "memoryview"])


def _chunks(pieces: list[tuple[bytes, str]], size: int) -> list[bytes]:
    async def source() -> AsyncIterator[bytes | bytearray | memoryview]:
        for data, kind in pieces:
            if kind == "bytes":
                yield data
                continue
            buffer = bytearray(data)
            yield buffer if kind == "bytearray" else memoryview(buffer)
            buffer[:] = b"\xee" * len(buffer)  # the source reuses its buffer

    async def collect() -> list[bytes]:
        return [bytes(chunk) async for chunk in iter_chunks(source(), size)]

    return asyncio.run(collect())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=300), _KINDS), max_size=20), st.integers(1, 64))
def test_any_source_is_cut_into_exact_chunks(pieces: list[tuple[bytes, str]], size: int) -> None:
    out = _chunks(pieces, size)
    assert b"".join(out) == b"".join(data for data, _ in pieces)
    assert all(len(chunk) == size for chunk in out[:-1])
    assert all(chunk for chunk in out)  # no empty chunk, even for empty pieces


def test_a_piece_larger_than_several_chunks() -> None:
    data = bytes(range(256)) * 40
    out = _chunks([(b"ab", "bytes"), (data, "bytearray"), (b"z", "memoryview")], 1000)
    assert b"".join(out) == b"ab" + data + b"z"
    assert [len(c) for c in out] == [1000] * 10 + [243]

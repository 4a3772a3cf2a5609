"""Regressions from the orlop.objects audit: a missing chunk never turns into another chunk's bytes.

Chunk positions are counted on the chunk subject, so once a chunk is gone
(deleted, or expired before its meta) every read of that object must fail
(ObjectNotFound / DigestMismatch) instead of returning the next chunk's bytes.
"""

from __future__ import annotations

import os

import pytest

from orlop.errors import DigestMismatch, ObjectNotFound
from orlop.objects import Bucket, ObjectStoreClient


async def _delete_chunk(client: ObjectStoreClient, bucket: Bucket, name: str, index: int) -> None:
    """Remove chunk ``index`` of ``name`` from the stream (as if it had expired before its meta)."""
    info = await bucket.info(name)
    seq = 1
    for _ in range(index + 1):
        resp = await client.wire.request(
            f"STREAM.MSG.GET.OBJ_{bucket.name}",
            {"next_by_subj": f"$O.{bucket.name}.C.{info.nuid}", "seq": seq},
        )
        seq = int(resp["message"]["seq"]) + 1
    await client.wire.request(f"STREAM.MSG.DELETE.OBJ_{bucket.name}", {"seq": seq - 1})


@pytest.mark.parametrize("missing", [0, 5, 9])
async def test_range_reads_never_return_other_chunks(
    client: ObjectStoreClient, bucket: Bucket, missing: int
) -> None:
    data = os.urandom(1_000_000)
    await bucket.put("o", data, chunk_size=100_000)
    await _delete_chunk(client, bucket, "o", missing)
    ranges = [(0, 100), (450_000, 200_000), (500_000, 100), (550_000, 300_000), (950_000, 50_000)]
    ranges += [(0, 1_000_000), (missing * 100_000 + 10, 10)]
    for offset, length in ranges:
        # Chunk positions are counted, so a damaged object cannot be trusted anywhere.
        with pytest.raises((ObjectNotFound, DigestMismatch)):
            got = await bucket.read_range("o", offset, length)
            assert got == data[offset : offset + length], (offset, length)  # never wrong bytes
    reader = await bucket.get("o")
    try:
        await reader.seek(missing * 100_000 + 5)
        with pytest.raises((ObjectNotFound, DigestMismatch)):
            await reader.read(100_000)
    finally:
        await reader.aclose()
    with pytest.raises((ObjectNotFound, DigestMismatch)):
        await bucket.get_bytes("o")

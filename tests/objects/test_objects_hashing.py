"""Digests of reads hashed in batches on the helper thread: same digest, mismatches still caught."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from orlop.errors import DigestMismatch
from orlop.objects import Bucket, ObjectStoreClient
from orlop.objects.hashing import Sha256
from orlop.objects.meta import encode_name


@pytest.mark.parametrize("offload", [False, True])
async def test_digest_equals_hashlib_over_many_batches(offload: bool) -> None:
    pieces = [os.urandom(n) for n in (1 << 20, 7, 3 << 20, 300_000, 0, 2 << 20) * 3]
    sha = Sha256(offload=offload)
    for piece in pieces:
        await sha.update(piece)
    assert await sha.digest() == hashlib.sha256(b"".join(pieces)).digest()


@pytest.mark.parametrize("size", [0, 1, 1024, 128 * 1024, 128 * 1024 + 1, 4 * 1024 * 1024 + 1])
async def test_digest_of_tails_around_the_inline_threshold(size: int) -> None:
    """Small tails are hashed on the loop's own thread, big ones on the helper: same digest."""
    data = os.urandom(size)
    sha = Sha256(offload=True)
    for start in range(0, size, 1000):
        await sha.update(data[start : start + 1000])
    assert await sha.digest() == hashlib.sha256(data).digest()
    assert await sha.digest() == hashlib.sha256(data).digest()  # asking twice changes nothing


async def test_small_objects_verified(bucket: Bucket, client: ObjectStoreClient) -> None:
    """A one-chunk object (hashed inline on read) still fails loudly when its digest is wrong."""
    info = await bucket.put("small", b"hello world")
    assert await bucket.get_bytes("small") == b"hello world"
    forged = info.evolve(digest="SHA-256=" + "A" * 43 + "=")
    await client.wire.publish(f"$O.docs.M.{encode_name('small')}", forged.to_json(), {"Nats-Rollup": "sub"})
    with pytest.raises(DigestMismatch):
        await bucket.get_bytes("small")


async def test_big_download_verified_across_batches(
    bucket: Bucket, client: ObjectStoreClient, tmp_path: Path
) -> None:
    data = os.urandom(11 * 1024 * 1024 + 5)  # 1 MiB chunks: several hashing batches plus a remainder
    info = await bucket.put("big", data)
    out = tmp_path / "big.bin"
    await bucket.download("big", out)
    assert out.read_bytes() == data
    forged = info.evolve(digest="SHA-256=" + "A" * 43 + "=")
    await client.wire.publish(f"$O.docs.M.{encode_name('big')}", forged.to_json(), {"Nats-Rollup": "sub"})
    with pytest.raises(DigestMismatch):
        await bucket.download("big", tmp_path / "forged.bin")
    assert not (tmp_path / "forged.bin").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin"]
    with pytest.raises(DigestMismatch):
        await bucket.get_bytes("big")

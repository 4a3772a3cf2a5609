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

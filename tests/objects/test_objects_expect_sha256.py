"""``put(expect_sha256=...)``: the data must have that SHA-256, or nothing is stored.

The S3 gateway hands a request's signed ``x-amz-content-sha256`` on this way, so the
object store's own digest of the bytes doubles as the check (no second SHA-256 pass).
With compression or encryption the stored bytes differ from the data, so the data's
own bytes are hashed apart; every path (many chunks, the one-chunk round trip, a
compressed and an encrypted put, the sync API) is checked both ways.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from orlop.errors import BadRequest, DigestMismatch
from orlop.objects import Bucket, Key
from orlop.objects.sync import connect as connect_sync
from orlop.testing import ServerProcess

DATA = os.urandom(700_000)  # six 128 KiB chunks
RIGHT = hashlib.sha256(DATA).hexdigest()
WRONG = hashlib.sha256(DATA + b"!").hexdigest()
KEY = Key(bytes(range(32)), id="k1")


async def _stream() -> AsyncIterator[bytes]:
    for i in range(0, len(DATA), 50_000):
        yield DATA[i : i + 50_000]


async def _nothing_stored(bucket: Bucket) -> None:
    assert await bucket.list(include_deleted=True) == []
    state = (await bucket.wire.request(f"STREAM.INFO.{bucket.stream}"))["state"]
    assert state["messages"] == 0, state


@pytest.mark.parametrize(
    "options",
    [{}, {"compression": "s2"}, {"encryption": KEY}, {"compression": "s2", "encryption": KEY}],
    ids=["plain", "compressed", "encrypted", "both"],
)
async def test_a_streamed_put_is_stored_only_with_the_expected_sha256(
    bucket: Bucket, options: dict[str, Any]
) -> None:
    options = {"chunk_size": 128 * 1024, **options}
    with pytest.raises(DigestMismatch) as bad:
        await bucket.put("obj", _stream(), expect_sha256=WRONG, **options)
    assert RIGHT in str(bad.value) and WRONG in str(bad.value)
    await _nothing_stored(bucket)
    info = await bucket.put("obj", _stream(), expect_sha256=bytes.fromhex(RIGHT), **options)
    assert info.chunks == 6 and (info.size == len(DATA) or len(options) > 1)
    read = {"encryption": KEY} if "encryption" in options else {}
    assert await bucket.get_bytes("obj", **read) == DATA


@pytest.mark.parametrize("options", [{}, {"compression": "s2"}, {"encryption": KEY}])
async def test_a_one_chunk_put_checks_before_publishing(bucket: Bucket, options: dict[str, Any]) -> None:
    small = b"a small object"
    with pytest.raises(DigestMismatch):
        await bucket.put("small", small, expect_sha256=WRONG, **options)
    await _nothing_stored(bucket)
    await bucket.put("small", small, expect_sha256=hashlib.sha256(small).hexdigest(), **options)
    read = {"encryption": KEY} if "encryption" in options else {}
    assert await bucket.get_bytes("small", **read) == small


async def test_a_failed_check_keeps_the_current_revision(bucket: Bucket) -> None:
    first = await bucket.put("doc", b"version one")
    with pytest.raises(DigestMismatch):
        await bucket.put("doc", _stream(), expect_sha256=WRONG)
    assert (await bucket.info("doc")).revision == first.revision
    assert await bucket.get_bytes("doc") == b"version one"


@pytest.mark.parametrize("value", ["abc", "z" * 64, b"short", 42])
async def test_a_malformed_expected_sha256_is_refused_before_writing(bucket: Bucket, value: Any) -> None:
    with pytest.raises(BadRequest, match="expect_sha256"):
        await bucket.put("obj", DATA, expect_sha256=value)
    await _nothing_stored(bucket)


def test_the_sync_api_takes_it_too(server: ServerProcess) -> None:
    with connect_sync(server.url) as client:
        bucket = client.create_bucket("syncsha")
        with pytest.raises(DigestMismatch):
            bucket.put("obj", DATA, expect_sha256=WRONG)
        assert bucket.put("obj", DATA, expect_sha256=RIGHT).size == len(DATA)
        assert bucket.get_bytes("obj") == DATA

"""A PutObject body, checked while it streams into the object store.

The body is handed to ``Bucket.put`` as an async iterator (:func:`put_checked`), so the
object is never held whole. Everything S3 promises about the bytes is verified on the way:
``Content-MD5``, an ``x-amz-checksum-*`` header or trailer (boto3 sends a CRC32 with every
put; :mod:`.checksums`), the declared length, and for aws-chunked bodies
(``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``) each chunk's chained signature. A check that
fails raises :class:`S3Error` from inside the iterator, before its last piece is handed
over, so the put fails and ``orlop.objects`` removes the chunks already written: a
rejected body leaves nothing stored. The MD5 computed here becomes the object's ETag.

The signed ``x-amz-content-sha256`` is the one check not made here: it is the SHA-256 of
the same bytes the object store hashes for its own digest, so it goes to the put as
``expect_sha256`` and is compared with that digest before the meta is published (one
pass over every byte less than hashing it twice; ``orlop.objects`` hashes the source
separately only when the bucket compresses).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orlop.errors import DigestMismatch
from orlop.gateway.s3 import sigv4
from orlop.gateway.s3.checksums import CHECKSUM_HEADER, PREFIX, Checksum, Running
from orlop.gateway.s3.errors import S3Error
from orlop.gateway.s3.etags import ETAG_HEADER
from orlop.objects import Bucket, ObjectInfo

__all__ = ["BodySpec", "CheckedBody", "decode_md5", "put_checked"]

_MAX_LINE = 4096  # an aws-chunked chunk header or trailer line
_TRAILER_SIGNATURE = "x-amz-trailer-signature"


def decode_md5(value: str | None) -> bytes | None:
    """The 16 bytes of a ``Content-MD5`` header; InvalidDigest when it is not base64 of 16 bytes."""
    if value is None:
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise S3Error("InvalidDigest", "The Content-MD5 you specified is not valid.")
    return raw


@dataclass
class BodySpec:
    signed: sigv4.Signed
    length: int | None  # the decoded length the client declared (None: unknown)
    content_md5: bytes | None = None
    checksum: Checksum | None = None  # an x-amz-checksum-* the request gives or announces
    max_size: int = 5 << 30


@dataclass
class CheckedBody:
    """Iterate it to get the object's bytes; ``md5`` is set once it ran to its end."""

    source: AsyncIterator[bytes]
    spec: BodySpec
    md5: str = ""
    checksum: str = ""  # the base64 value of spec.checksum's algorithm, once checked
    size: int = 0
    _trailers: dict[str, str] = field(default_factory=dict)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # Checks that need the whole body run after the last piece was handed over but
        # before this iterator ends: the put publishes the object's meta only after
        # that, so an exception here still leaves nothing stored.
        signed = self.spec.signed
        hashes = _Hashes(self.spec.checksum.algorithm if self.spec.checksum else None)
        pieces = _aws_chunked(self.source, signed, self._trailers) if signed.streaming else self.source
        # The hashes (MD5 for the ETag, the checksum to check) run on a worker thread,
        # a batch at a time, while the event loop streams the next pieces into the store:
        # hashlib and zlib let go of the GIL, and inline they cost the gateway half its rate.
        loop = asyncio.get_running_loop()
        batch: list[bytes] = []
        batched = 0
        hashing: asyncio.Future[None] | None = None
        async for piece in pieces:
            if not piece:
                continue
            self.size += len(piece)
            if self.size > self.spec.max_size:
                raise S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
            if self.spec.length is not None and self.size > self.spec.length:
                raise S3Error("IncompleteBody", "the body is longer than its declared length")
            batch.append(piece)
            batched += len(piece)
            if batched >= _HASH_BATCH:
                if hashing is not None:
                    await hashing  # one batch at a time: in order, and at most two held
                hashing = loop.run_in_executor(None, hashes.update, batch)
                batch, batched = [], 0
            yield piece
        if hashing is not None:
            await hashing
        hashes.update(batch)
        self._finish(hashes.md5.digest(), hashes.checksum)

    @property
    def expected_sha256(self) -> str | None:
        """The signed payload's SHA-256 (hex) for the put to check; None when nothing was signed.

        An aws-chunked body signs its chunks instead (checked here as they arrive).
        """
        signed = self.spec.signed
        return None if signed.streaming or signed.payload == sigv4.UNSIGNED else signed.payload

    def stored_headers(self) -> dict[str, str]:
        """What the put keeps of the body's checks once it was read: the checksum it was given."""
        spec = self.spec.checksum
        return {CHECKSUM_HEADER: f"{spec.name} {self.checksum}"} if spec and self.checksum else {}

    def answer_headers(self) -> dict[str, str]:
        """The checksum echoed in the PutObject/UploadPart answer, as S3 does."""
        spec = self.spec.checksum
        return {spec.header: self.checksum} if spec and self.checksum else {}

    def _finish(self, md5: bytes, running: Running | None) -> None:
        if self.spec.length is not None and self.size != self.spec.length:
            raise S3Error(
                "IncompleteBody",
                f"the body has {self.size} bytes, not the {self.spec.length} its length declared",
            )
        if self.spec.content_md5 is not None and not hmac.compare_digest(md5, self.spec.content_md5):
            raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")
        spec = self.spec.checksum
        unasked = [k for k in self._trailers if k.startswith(PREFIX) and (spec is None or k != spec.header)]
        if unasked:  # a checksum this body carries but did not announce: not checked, so refused
            raise S3Error("InvalidRequest", f"the trailer {unasked[0]} was not announced in x-amz-trailer")
        if spec is not None and running is not None:
            expected = spec.value if spec.value is not None else self._trailers.get(spec.header)
            if expected is None:
                raise S3Error(
                    "InvalidRequest", f"x-amz-trailer announced {spec.header}, the body did not send it"
                )
            got = running.b64()
            if expected.strip() != got:
                raise S3Error(
                    "BadDigest", f"The {spec.name} you specified did not match the calculated checksum."
                )
            self.checksum = got
        self.md5 = md5.hex()


_HASH_BATCH = 1 << 20
"""Bytes of body hashed per worker-thread job (large enough that a job's hand-off is noise)."""


async def put_checked(
    bucket: Bucket,
    name: str,
    data: AsyncIterable[bytes],
    etag: Callable[[], str],
    checked: CheckedBody | None = None,
    **options: Any,
) -> ObjectInfo:
    """``bucket.put`` of an S3 body, its ETag kept; ``checked``: the request's own body (``data``
    itself), whose signed SHA-256 is compared with the store's digest and whose checksum is kept.

    ``etag`` is called once the body was read (the MD5 is known only then); a SHA-256
    mismatch is S3's XAmzContentSHA256Mismatch.
    """

    def final() -> Mapping[str, str]:
        return {**(checked.stored_headers() if checked else {}), ETAG_HEADER: etag()}

    expect_sha256 = checked.expected_sha256 if checked else None
    try:
        return await bucket.put(name, data, final_headers=final, expect_sha256=expect_sha256, **options)
    except DigestMismatch as exc:
        raise S3Error(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ) from exc


class _Hashes:
    """The running MD5 of a body, and the checksum it carries (if any)."""

    def __init__(self, algorithm: str | None) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.checksum = Running(algorithm) if algorithm else None

    def update(self, pieces: list[bytes]) -> None:
        # One buffer, two calls: each call gives the GIL up and must win it back from a
        # busy event loop (up to the 5 ms switch interval), so per piece would stall.
        data = b"".join(pieces)
        self.md5.update(data)
        if self.checksum is not None:
            self.checksum.update(data)


async def _aws_chunked(
    source: AsyncIterator[bytes], signed: sigv4.Signed, trailers: dict[str, str]
) -> AsyncIterator[bytes]:
    """The payload of an aws-chunked body, each chunk's signature checked when it ends."""
    buf = bytearray()
    feed = source.__aiter__()
    previous = signed.signature

    async def fill() -> bool:
        try:
            buf.extend(await feed.__anext__())
        except StopAsyncIteration:
            return False
        return True

    async def line() -> bytes:
        while (end := buf.find(b"\r\n")) < 0:
            if len(buf) > _MAX_LINE or not await fill():
                raise S3Error("IncompleteBody", "malformed aws-chunked body")
        text = bytes(buf[:end])
        del buf[: end + 2]
        return text

    while True:
        size_text, _, ext = (await line()).decode("latin-1").partition(";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise S3Error("IncompleteBody", "malformed aws-chunked chunk header") from None
        sha = hashlib.sha256()
        left = size
        while left:
            if not buf and not await fill():
                raise S3Error("IncompleteBody", "the aws-chunked body ended inside a chunk")
            take = bytes(buf[:left])
            del buf[: len(take)]
            left -= len(take)
            if signed.signed_chunks:
                sha.update(take)
            yield take
        if signed.signed_chunks:
            given = ext.partition("chunk-signature=")[2].strip()
            to_sign = sigv4.chunk_string_to_sign(signed.amz_date, signed.scope, previous, sha.hexdigest())
            previous = sigv4.sign(signed.key, to_sign)
            if not hmac.compare_digest(previous, given):
                raise S3Error("SignatureDoesNotMatch", "a chunk's signature does not match")
        if size == 0:
            break
        if await line() != b"":
            raise S3Error("IncompleteBody", "malformed aws-chunked body: no CRLF after a chunk")
    while buf or await fill():  # trailers, then an empty line (or the end)
        text = (await line()).decode("latin-1")
        if not text:
            break
        name, _, value = text.partition(":")
        trailers[name.strip().lower()] = value.strip()
    if signed.payload == sigv4.STREAMING_TRAILER:  # the trailer is signed, chained to the last chunk
        given = trailers.pop(_TRAILER_SIGNATURE, "")
        lines = "".join(f"{k}:{v}\n" for k, v in trailers.items())
        to_sign = sigv4.trailer_string_to_sign(
            signed.amz_date, signed.scope, previous, hashlib.sha256(lines.encode()).hexdigest()
        )
        if not hmac.compare_digest(sigv4.sign(signed.key, to_sign), given):
            raise S3Error("SignatureDoesNotMatch", "the trailer's signature does not match")

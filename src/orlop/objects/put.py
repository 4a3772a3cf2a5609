"""Writing objects: pipelined chunk publishes, then one conditional meta publish.

Sequence (ADR-20 plus what the official clients leave out):

1. Validate everything that can be validated before a byte is written: name,
   headers (``{key: str | [str]}``), metadata, compression, TTL support, chunk
   size (must fit ``max_payload`` with the chunk's headers and framing), known
   size against the bucket's ``orlop.max_object_size``, and for conditional
   puts the current revision.
2. Publish chunks to a fresh ``$O.<bucket>.C.<nuid>`` with up to ``window``
   PubAcks outstanding (64 MiB of chunks), hashing the stored bytes on the way
   (client memory: about one chunk, whatever the object size, because each
   frame is handed to the socket before the next is read: Wire.handed_off). The
   lookup of the current meta runs concurrently for unconditional puts.
3. Publish the meta with ``Nats-Expected-Last-Subject-Sequence`` = the revision
   we looked up (0 = none). Conditional puts fail with RevisionMismatch /
   ObjectAlreadyExists when it moved; unconditional puts re-read and retry, so
   a racing writer never leaves the replaced object's chunks orphaned.
   ``Nats-Rollup: sub`` is added unless the bucket keeps history.
4. On success purge the replaced revision's chunks (no-history buckets) or
   prune revisions beyond the history depth (:mod:`.versions`).

Small objects (one chunk, in memory, unconditional put) of names the Bucket
object has not seen exist skip the lookup: chunk and meta (expecting no
previous revision) are published back to back, one round trip where nats-py
needs three; a refused meta falls back to steps 3-4 (see :func:`_put_pipelined`).

Client-side encryption (``encryption=``, :mod:`.encryption`): each stored chunk
(compressed first, when asked) is sealed under the object's fresh data key, with
the last chunk marked final, so the chunk loop holds one chunk back to know which
is last; an empty object is stored as one sealed empty chunk. The wrapped key
travels in the meta's headers.

Any failure or cancellation after the first chunk waits for the in-flight
PubAcks and purges the new chunk subject, so nothing partial stays behind.
When it strikes while the meta's outcome is unknown (published, PubAck not
yet seen), the put first learns it (the PubAck, else the stream: is our nuid's
meta there?): a stored meta makes the put a success (the replaced chunks are
reclaimed as usual, a cancellation is re-raised afterwards), never a purge of
the chunks it points to. Cleanups run to their end even when cancelled again.

Chunk size: ``chunk_size=`` is honoured as given. The default is ADR-20's
128 KiB for objects under 8 MiB (laid out exactly as every official client
writes them; the per-chunk cost is noise at that size) and 1 MiB for bigger
objects and sources of unknown size, shrunk to fit the server's
``max_payload`` with the chunk headers. Every official client reads any chunk
size (they consume chunk messages; nats.js clamps its own writes to
``max_payload``). 1 MiB chunks cost both sides less CPU: much of a put's cost
is per message (nats-py frames each PUB with two payload copies, the server
stores and acknowledges each one). A range read moves at most two chunks
beyond what it asks for. What remains is mostly fixed per byte: SHA-256 (on the
loop, see :mod:`.hashing`), nats-py's frame copies and the socket write, and the
server's store (figures: docs/performance.md, lab notes; :mod:`.tuning` for the
allocator's share).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from nats.nuid import NUID

from orlop.errors import (
    BadRequest,
    DigestMismatch,
    JetStreamError,
    LinkError,
    ObjectAlreadyExists,
    ObjectStoreUnavailable,
    ObjectTooLarge,
    RevisionMismatch,
)
from orlop.jsapi.errors import Err
from orlop.jsapi.timefmt import format_ts
from orlop.objects.compression import (
    COMPRESSION_HEADER,
    ORIGINAL_SIZE_HEADER,
    check_codec,
    compress_chunk,
    framing_overhead,
)
from orlop.objects.core import BucketCore, MetaFlight
from orlop.objects.encryption import TAG_SIZE, Keyring, ObjectCipher, as_keyring, seal_object
from orlop.objects.errors import WRONG_LAST_SEQUENCE, from_jetstream
from orlop.objects.fast_ingest import MIN_API_LEVEL, FastChunks
from orlop.objects.hashing import Sha256
from orlop.objects.meta import (
    BULK_CHUNK_SIZE,
    BULK_THRESHOLD,
    DEFAULT_CHUNK_SIZE,
    ObjectInfo,
    ObjectLink,
    chunk_subject,
    digest_string,
    meta_subject,
    normalize_headers,
    normalize_metadata,
    validate_object_name,
)
from orlop.objects.orphans import SAFE_AGE, chunks_kept
from orlop.objects.settle import finish, meta_landed, recover
from orlop.objects.tuning import warm_heap
from orlop.objects.wire import NoStreamResponders

__all__ = ["PutOptions", "iter_chunks", "known_size", "put_object"]

_nuid = NUID()
# Bytes of chunks awaiting their PubAck (at most 256 chunks): 64 x 1 MiB or 256 x 128 KiB.
# 64 MiB beat 16 and 32 MiB in back-to-back runs (nats-server keeps busier); the client
# holds none of it: each frame is handed to the socket before the next chunk is read.
_WINDOW_BYTES = 64 * 1024 * 1024
FAST_INGEST = os.environ.get("ORLOP_FAST_INGEST", "0") == "1"
"""Put through fast ingest where the server (API level 4) and the bucket (allow_batched) allow it.

Off by default: measured side by side (``python -m bench batch``), a 512 MiB put through fast
ingest was no faster than the pipelined put on nats-server 2.15 (0.95x) nor on Orlop
(0.85-1.0x quiet, 0.49x on a loaded machine), so the pipelined put stays the default;
``ORLOP_FAST_INGEST=1`` turns it on."""


def known_size(data: Any) -> int | None:
    """Byte size of a put source when it can be known without reading it."""
    if isinstance(data, str):
        return len(data.encode("utf-8"))
    if isinstance(data, bytes | bytearray | memoryview):
        return memoryview(data).nbytes
    if isinstance(data, os.PathLike):
        return os.stat(data).st_size
    if hasattr(data, "fileno") and hasattr(data, "tell"):
        try:
            return int(os.fstat(data.fileno()).st_size - data.tell())
        except (OSError, ValueError):
            return None
    return None


async def _pieces(data: Any, size: int) -> AsyncIterator[bytes]:
    """Whatever the source yields, as bytes pieces of any length."""
    if hasattr(data, "read"):
        while True:
            piece = data.read(size)
            if asyncio.iscoroutine(piece):
                piece = await piece
            if not piece:
                return
            yield piece
    elif hasattr(data, "__aiter__"):
        async for piece in data:
            yield piece
    elif isinstance(data, Iterable):
        for piece in data:
            yield piece
    else:
        raise BadRequest(
            f"cannot put a {type(data).__name__}: give bytes, str, a path, a file or an iterator"
        )


async def iter_chunks(data: Any, size: int) -> AsyncIterator[bytes | memoryview]:
    """The source cut into pieces of exactly ``size`` bytes (the last may be shorter).

    Slices of an immutable ``bytes`` source are memoryviews (bytes-like, not copied).
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data).cast("B")
        if isinstance(data, bytes) and view.readonly:
            # Zero-copy slices of immutable bytes (the publish copies them into the frame anyway).
            for i in range(0, len(view), size):
                yield view[i : i + size]
            return
        for i in range(0, len(view), size):
            yield bytes(view[i : i + size])
        return
    if isinstance(data, os.PathLike):
        with open(data, "rb") as f:
            async for chunk in iter_chunks(f, size):
                yield chunk
        return
    # Whole chunks inside one piece leave as zero-copy memoryview slices of it; only a chunk
    # made of several pieces is joined, so every byte is copied at most once (accumulating in
    # a bytearray and slicing it out copied it twice, ~12% of the gateway's CPU on a streamed
    # PUT, and joining a chunk that lies within one piece copied it for nothing). Mutable
    # pieces are copied when they arrive: a source may reuse its buffer for the next read.
    parts: list[memoryview] = []
    have = 0
    async for piece in _pieces(data, size):
        if not isinstance(piece, bytes | bytearray | memoryview):
            raise BadRequest(f"the put source yielded a {type(piece).__name__}, not bytes")
        whole = piece if isinstance(piece, bytes) else bytes(piece)
        if not parts and len(whole) == size:
            yield whole
            continue
        view, pos = memoryview(whole), 0
        if parts:  # complete the chunk begun by earlier pieces
            need = size - have
            if len(view) < need:
                parts.append(view)
                have += len(view)
                continue
            parts.append(view[:need])
            yield b"".join(parts)
            parts, have, pos = [], 0, need
        while len(view) - pos >= size:
            yield view[pos : pos + size]
            pos += size
        if pos < len(view):
            parts.append(view[pos:])
            have = len(view) - pos
    if parts:
        yield b"".join(parts)


def _ttl_seconds(core: BucketCore, ttl: Any) -> int | None:
    if ttl is None:
        return None
    seconds = ttl.total_seconds() if hasattr(ttl, "total_seconds") else ttl
    if not isinstance(seconds, int | float) or seconds < 1:
        raise BadRequest("ttl must be at least 1 second")
    if not core.allow_msg_ttl:
        raise BadRequest("per-object ttl needs a bucket with allow_msg_ttl (nats-server 2.11 or later)")
    return int(seconds)


def _default_chunk(size: int | None) -> int:
    """ADR-20's 128 KiB below BULK_THRESHOLD, BULK_CHUNK_SIZE for big or unknown-size sources."""
    return DEFAULT_CHUNK_SIZE if size is not None and size < BULK_THRESHOLD else BULK_CHUNK_SIZE


def _chunk_size(
    core: BucketCore,
    requested: Any,
    codec: str | None,
    chunk_headers: dict[str, str] | None,
    size: int | None,
    encrypted: bool = False,
) -> int:
    """The chunk size to use; BadRequest when an explicit one cannot fit ``max_payload``.

    The default (:func:`_default_chunk`) shrinks in 4 KiB steps until a chunk with its
    headers, worst-case compression framing and AEAD tag fits the server's ``max_payload``.
    """
    room = TAG_SIZE if encrypted else 0
    if chunk_headers:
        room += len(b"NATS/1.0\r\n\r\n") + sum(len(k) + len(v) + 4 for k, v in chunk_headers.items())
    limit = core.max_payload - room

    def stored(chunk: int) -> int:
        return chunk + (framing_overhead(chunk) if codec else 0)

    if requested is None:
        chunk = _default_chunk(size)
        while chunk > 4096 and stored(chunk) > limit:
            chunk -= 4096
        while chunk > 1 and stored(chunk) > limit:
            chunk //= 2
        return chunk
    if not isinstance(requested, int) or isinstance(requested, bool) or requested < 1:
        raise BadRequest("chunk_size must be a positive integer")
    if stored(requested) > limit:
        raise BadRequest(f"chunk_size {requested} exceeds the server's max_payload {core.max_payload}")
    return requested


async def _settle(core: BucketCore, inflight: collections.deque[asyncio.Future[int]]) -> None:
    """Wait for the outstanding PubAcks (success or not, one timeout in all) so a purge catches all chunks."""
    await core.wire.settle(inflight)
    inflight.clear()


async def _sealed(pieces: AsyncIterator[Any], codec: str | None, cipher: ObjectCipher) -> AsyncIterator[Any]:
    """``(plaintext length, stored payload)`` per chunk, encrypted; the last one marked final.

    One chunk is held back to learn whether it is the last; no chunks at all
    (an empty object) still yield one sealed empty chunk (see :mod:`.encryption`).
    """
    index, held = 0, None
    async for piece in pieces:
        if held is not None:
            yield len(held), cipher.seal(index, compress_chunk(held) if codec else held, False)
            index += 1
        held = piece
    last = b"" if held is None else held
    yield len(last), cipher.seal(index, compress_chunk(last) if codec else last, True)


async def _hashed(
    pieces: AsyncIterator[bytes | memoryview], sha: Sha256
) -> AsyncIterator[bytes | memoryview]:
    async for piece in pieces:
        await sha.update(piece)
        yield piece


async def _stored_chunks(data: Any, plan: _Plan, plain: Sha256 | None) -> AsyncIterator[Any]:
    """``(plaintext length, stored payload)`` per chunk of the source: compressed and/or sealed.

    ``plain``, when given, hashes the source's own bytes (before compression and sealing).
    """
    pieces = iter_chunks(data, plan.chunk)
    if plain is not None:
        pieces = _hashed(pieces, plain)
    if plan.cipher is not None:
        async for item in _sealed(pieces, plan.codec, plan.cipher):
            yield item
        return
    async for piece in pieces:
        yield len(piece), compress_chunk(piece) if plan.codec else piece


async def _publish_chunks(
    core: BucketCore, subject: str, data: Any, plan: _Plan
) -> tuple[int, int, int, bytes]:
    """Publish every chunk pipelined; returns ``(stored_size, original_size, chunks, sha256 digest)``.

    With ``plan.fast`` the chunks travel as one fast-ingest batch (:mod:`.fast_ingest`):
    the server paces them with a flow ack every few dozen chunks instead of a PubAck each.
    """
    chunk, headers, progress = plan.chunk, plan.chunk_headers, plan.progress
    sha = Sha256()
    # The digest covers the stored bytes; an expected SHA-256 is of the source's own bytes,
    # which differ from them only when compressed or sealed: only then hash twice.
    transformed = plan.codec is not None or plan.cipher is not None
    plain = Sha256() if plan.expect_sha256 is not None and transformed else None
    # nats-py builds each PUB frame in two chunk-sized buffers; keep them off a heap top
    # glibc would trim and regrow per chunk (measurements in orlop.objects.tuning).
    warm_heap(chunk)
    window = max(4, min(256, _WINDOW_BYTES // chunk))
    inflight: collections.deque[asyncio.Future[int]] = collections.deque()
    wire, limit = core.wire, core.max_object_size
    fast = FastChunks(wire, subject, chunk) if plan.fast else None
    stored = original = count = 0
    try:
        if fast is not None:
            await fast.start()
        async for length, payload in _stored_chunks(data, plan, plain):
            original += length
            if limit and original > limit:
                raise ObjectTooLarge(f"object exceeds the bucket's max_object_size {limit}")
            await sha.update(payload)
            stored += len(payload)
            count += 1
            if fast is not None:
                await fast.send(payload, headers)
            else:
                await wire.publish_nowait(subject, payload, headers, into=inflight)
            # One frame at a time into the socket (see Wire.handed_off): this, not the
            # PubAck window, is what bounds the client's memory.
            await wire.handed_off()
            if progress is not None:
                progress(original)
            # A future leaves ``inflight`` only once acknowledged: a put cancelled while
            # waiting still settles it before purging (a chunk stored after the purge would stay).
            if len(inflight) >= window:
                await wire.ack(inflight[0])
                inflight.popleft()
        if fast is not None:
            await fast.finish()
        while inflight:
            await wire.ack(inflight[0])
            inflight.popleft()
        digest = await sha.digest()
        _check_expected(plan, await plain.digest() if plain is not None else digest)
    except BaseException:
        if fast is not None:
            await finish(fast.abandon())
        await finish(_settle(core, inflight))
        raise
    return stored, original, count, digest


def _check_expected(plan: _Plan, sha256: bytes) -> None:
    """DigestMismatch when the source's SHA-256 is not the one the put was told to expect."""
    if plan.expect_sha256 is not None and sha256 != plan.expect_sha256:
        raise DigestMismatch(
            f"the data's SHA-256 is {sha256.hex()}, not the expected {plan.expect_sha256.hex()}:"
            " the object was not stored"
        )


async def _check_condition(
    core: BucketCore, name: str, if_revision: int | None, create_only: bool
) -> tuple[int, ObjectInfo | None]:
    """``(expected revision, current info)`` for a conditional put; raises before anything is written."""
    current = await core.latest(name)
    if create_only:
        if current is not None and not current.deleted:
            raise ObjectAlreadyExists(f"object {name!r} already exists")
        return (current.revision if current else 0), current
    if current is None or current.revision != if_revision:
        have = current.revision if current else 0
        raise RevisionMismatch(f"object {name!r} is at revision {have}, not {if_revision}")
    return int(if_revision), current


@dataclass(frozen=True, kw_only=True)
class PutOptions:
    """The options of :meth:`orlop.objects.Bucket.put` (validated by the put, not here)."""

    description: str | None = None
    headers: Mapping[str, str | Sequence[str]] | None = None
    metadata: Mapping[str, str] | None = None
    chunk_size: int | None = None
    compression: str | bool | None = None
    ttl: float | timedelta | None = None
    if_revision: int | None = None
    create_only: bool = False
    progress: Callable[[int], None] | None = None
    encryption: Any = None
    # Headers known only once the data was read (a checksum of it): called when the meta is built.
    final_headers: Callable[[], Mapping[str, str | Sequence[str]]] | None = None
    # The SHA-256 the source's bytes must have (hex or 32 bytes): checked before the meta.
    expect_sha256: str | bytes | None = None


@dataclass
class _Plan:
    """A validated put: everything decided before the first byte is written."""

    name: str
    description: str
    headers: dict[str, list[str]]
    metadata: dict[str, str]
    codec: str | None
    ttl: int | None
    chunk: int
    chunk_headers: dict[str, str] | None
    if_revision: int | None
    create_only: bool
    progress: Callable[[int], None] | None = None
    keyring: Keyring | None = None
    final_headers: Callable[[], Mapping[str, str | Sequence[str]]] | None = None
    expect_sha256: bytes | None = None
    fast: bool = False  # chunks through fast ingest (set by put_object, see .fast_ingest)
    # Set by put_object once the nuid is drawn (the data key is bound to it).
    cipher: ObjectCipher | None = None
    crypt_headers: dict[str, list[str]] | None = None

    @property
    def conditional(self) -> bool:
        return self.create_only or self.if_revision is not None


def _expected_sha256(value: str | bytes | None) -> bytes | None:
    """The 32 bytes of an ``expect_sha256`` option (hex text or raw); BadRequest otherwise."""
    if value is None:
        return None
    raw: bytes | None = None
    if isinstance(value, bytes | bytearray) and len(value) == 32:
        raw = bytes(value)
    elif isinstance(value, str) and len(value) == 64:
        with contextlib.suppress(ValueError):
            raw = bytes.fromhex(value)
    if raw is None:
        raise BadRequest("expect_sha256 must be a SHA-256: 64 hex digits or 32 bytes")
    return raw


def _plan(core: BucketCore, name: str, data: Any, opts: PutOptions) -> _Plan:
    """Validate a put; raises BadRequest, LinkError or ObjectTooLarge (nothing written yet)."""
    validate_object_name(name)
    if isinstance(data, ObjectInfo | ObjectLink):
        raise LinkError("links cannot be put: use add_link or add_bucket_link")
    description = opts.description or ""
    if not isinstance(description, str):
        raise BadRequest("description must be a string")
    codec = check_codec(opts.compression)
    ttl = _ttl_seconds(core, opts.ttl)
    chunk_headers = {"Nats-TTL": str(ttl)} if ttl else None
    if_revision, create_only = opts.if_revision, bool(opts.create_only)
    if if_revision is not None and (create_only or not isinstance(if_revision, int) or if_revision < 1):
        raise BadRequest("if_revision must be a positive revision and cannot be combined with create_only")
    size = known_size(data)
    keyring = as_keyring(opts.encryption)
    plan = _Plan(
        name=name,
        description=description,
        headers=normalize_headers(opts.headers),
        metadata=normalize_metadata(opts.metadata),
        codec=codec,
        ttl=ttl,
        chunk=_chunk_size(core, opts.chunk_size, codec, chunk_headers, size, keyring is not None),
        chunk_headers=chunk_headers,
        if_revision=if_revision,
        create_only=create_only,
        progress=opts.progress,
        final_headers=opts.final_headers,
        keyring=keyring,
        expect_sha256=_expected_sha256(opts.expect_sha256),
    )
    if size is not None and core.max_object_size and size > core.max_object_size:
        raise ObjectTooLarge(f"object of {size} bytes exceeds max_object_size {core.max_object_size}")
    return plan


def _object_info(
    core: BucketCore, plan: _Plan, nuid: str, stored: int, original: int, count: int, digest: bytes
) -> ObjectInfo:
    """The ObjectInfo to publish as meta for chunks already written (or about to be)."""
    headers = dict(plan.headers)
    if plan.final_headers is not None:  # checked as user headers, but Orlop-* allowed (the S3 MD5)
        checked = normalize_headers({f"X-{k}": v for k, v in plan.final_headers().items()})
        headers.update({k[2:]: v for k, v in checked.items()})
    if plan.codec:
        headers[COMPRESSION_HEADER] = [plan.codec]
    if plan.crypt_headers:
        headers.update(plan.crypt_headers)
    if plan.codec or plan.crypt_headers:
        headers[ORIGINAL_SIZE_HEADER] = [str(original)]
    return ObjectInfo(
        name=plan.name,
        bucket=core.name,
        nuid=nuid,
        size=stored,
        chunks=count,
        digest=digest_string(digest),
        description=plan.description,
        headers=headers,
        metadata=plan.metadata,
        max_chunk_size=plan.chunk,
        mtime=format_ts(time.time_ns()),
        ttl=plan.ttl,
    )


async def _write(core: BucketCore, plan: _Plan, data: Any, nuid: str) -> ObjectInfo:
    """Publish the chunks; the ObjectInfo to publish as meta."""
    subject = chunk_subject(core.name, nuid)
    started = time.monotonic()
    stored, original, count, digest = await _publish_chunks(core, subject, data, plan)
    if time.monotonic() - started > SAFE_AGE:  # long enough for a sweep to mistake its chunks
        await chunks_kept(core, subject, count)
    return _object_info(core, plan, nuid, stored, original, count, digest)


def _single_piece(data: Any, chunk: int) -> bytes | None:
    """The whole object when it is in memory and fits one chunk, else None."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data).cast("B")
        if view.nbytes <= chunk:
            return data if isinstance(data, bytes) else view.tobytes()
    return None


async def _undo_meta(core: BucketCore, name: str, nuid: str, meta: asyncio.Future[int]) -> None:
    """Remove a meta published for a new name whose chunk then failed (only it: ``seq`` bounds the purge)."""
    seq = await meta_landed(core, name, nuid, meta)
    if seq is None:
        return  # never stored
    with contextlib.suppress(Exception):
        await core.purge({"filter": meta_subject(core.name, name), "seq": seq + 1})


async def _put_pipelined(
    core: BucketCore,
    plan: _Plan,
    raw: bytes,
    nuid: str,
    lookup: asyncio.Future[ObjectInfo | None] | None,
    flight: MetaFlight,
) -> tuple[ObjectInfo, int, ObjectInfo | None]:
    """A one-chunk unconditional put: chunk and meta published back to back.

    Used for names this Bucket object has not seen exist. The meta expects no
    previous revision (``Nats-Expected-Last-Subject-Sequence: 0``), so a new name
    is stored in one round trip instead of two. When the name exists after all,
    the server refuses that meta without storing anything, and the usual
    :meth:`BucketCore.publish_meta` (lookup, then conditional publish) takes over. If the
    chunk fails while the meta landed, the meta is purged again before the
    error is raised (no other revision existed, the purge is bounded by its sequence).
    """
    wire = core.wire
    payload: Any = compress_chunk(raw) if plan.codec else raw
    if plan.cipher is not None:  # sealed as the one, final chunk (even when empty)
        payload = plan.cipher.seal(0, payload, True)
    # Checked before anything is published: nothing to undo.
    _check_expected(plan, hashlib.sha256(raw).digest() if plan.expect_sha256 is not None else b"")
    chunk_fut = None
    has_chunk = bool(raw) or plan.cipher is not None
    if has_chunk:
        chunk_fut = await wire.publish_nowait(chunk_subject(core.name, nuid), payload, plan.chunk_headers)
    digest = hashlib.sha256(payload if has_chunk else b"").digest()
    count = 1 if has_chunk else 0
    info = _object_info(core, plan, nuid, len(payload) if has_chunk else 0, len(raw), count, digest)
    headers = core.meta_headers(0, plan.ttl)
    meta_fut = await wire.publish_nowait(meta_subject(core.name, plan.name), info.to_json(), headers)
    try:
        if chunk_fut is not None:
            await wire.ack(chunk_fut)
    except BaseException:
        await finish(_undo_meta(core, plan.name, nuid, meta_fut))
        raise
    flight.info, flight.fut = info, meta_fut  # chunk stored: a stored meta now means a complete object
    if plan.progress is not None:
        plan.progress(len(raw))
    try:
        return info, await wire.ack(meta_fut), None
    except JetStreamError as e:
        if e.err_code not in WRONG_LAST_SEQUENCE:
            raise
    seq, old = await core.publish_meta(info, expected=None, ttl=plan.ttl, lookup=lookup, flight=flight)
    return info, seq, old


async def _stream_alive(core: BucketCore) -> bool:
    """False only when the server says the bucket's stream does not exist."""
    try:
        await core.wire.request(f"STREAM.INFO.{core.stream}")
    except JetStreamError as e:
        return e.err_code != Err.STREAM_NOT_FOUND.err_code
    except Exception:  # no answer at all: unknown, not gone
        return True
    return True


def _drop(lookup: asyncio.Future[Any] | None) -> None:
    """Cancel a lookup nobody will await (or mark its outcome as retrieved)."""
    if lookup is None:
        return
    if not lookup.done():
        lookup.cancel()
    elif not lookup.cancelled():
        lookup.exception()  # retrieved: the put's own outcome is what matters


async def put_object(core: BucketCore, name: str, data: Any, opts: PutOptions) -> ObjectInfo:
    """Store ``data`` under ``name``; see :meth:`orlop.objects.Bucket.put` for the options."""
    plan = _plan(core, name, data, opts)
    expected, current = None, None
    if plan.conditional:
        expected, current = await _check_condition(core, name, plan.if_revision, plan.create_only)
    nuid = _nuid.next().decode()
    plan.fast = FAST_INGEST and core.allow_batched and await core.wire.api_level() >= MIN_API_LEVEL
    if plan.keyring is not None:
        plan.cipher, plan.crypt_headers = seal_object(plan.keyring, nuid)
    # One-chunk puts of names not known to exist pipeline chunk and meta (_put_pipelined);
    # other unconditional puts read the current revision while the chunks travel.
    known = name in core.known_names
    single = None if plan.conditional or known else _single_piece(data, plan.chunk)
    pipelined = single is not None
    lookup = None if plan.conditional or pipelined else asyncio.ensure_future(core.latest(name))
    flight = MetaFlight()
    try:
        if single is not None:
            info, seq, old = await _put_pipelined(core, plan, single, nuid, lookup, flight)
        else:
            info = await _write(core, plan, data, nuid)
            seq, old = await core.publish_meta(
                info, expected=expected, ttl=plan.ttl, lookup=lookup, flight=flight
            )
    except BaseException as e:
        _drop(lookup)
        stored = await finish(recover(core, name, nuid, flight, current))
        if stored is not None and isinstance(e, Exception):
            return stored  # the meta landed (its PubAck was lost): the put succeeded
        if isinstance(e, NoStreamResponders) and await _stream_alive(core):
            raise ObjectStoreUnavailable(
                "the bucket's stream did not answer a publish (a cluster electing its leader?):"
                " the object was not written, the put can be retried"
            ) from e
        if isinstance(e, JetStreamError):
            err = from_jetstream(e)
            if plan.create_only and isinstance(err, RevisionMismatch):
                err = ObjectAlreadyExists(f"object {name!r} was created concurrently")
            raise err from e
        raise
    _drop(lookup)
    core.note_existing(name)
    info.revision, info.modified_ns = seq, time.time_ns()
    replaced = old or current
    if core.reclaims(info, replaced):  # most new names have nothing to reclaim: no cleanup task
        await finish(core.after_write(info, replaced))
    return info

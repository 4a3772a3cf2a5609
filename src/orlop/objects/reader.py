"""Reading objects: a seekable async reader that fetches only the chunks it needs.

Layout facts we rely on (ADR-20): chunk *i* is the *i*-th message on the
object's chunk subject, and every chunk but the last holds exactly
``options.max_chunk_size`` logical bytes. So offset -> chunk index is
arithmetic; the hard part is chunk index -> stream sequence without reading
the chunks before it. A consumer created at start sequence *s* reports
``num_pending`` (matching messages at or after *s*), which gives the index of
the first chunk at or after *s* without any data moving. We guess *s* from
the meta's revision (chunks usually sit just before their meta), correct the
guess by the index error (each correction provably never overshoots), and
then either

* stream with an ordered push consumer from there (long or open-ended reads:
  flow control answered as data is consumed, see :mod:`.consumer`), or
* fetch exactly the needed chunks with pipelined ``{"next_by_subj": subject,
  "seq": s}`` gets (short ranges and small objects), guessing consecutive
  sequences and falling back where the guess was wrong. They go through
  DIRECT.GET when the stream allows it (raw payload: no JSON, no base64, and
  nats-server answers them from the stream without the JetStream API queue),
  else STREAM.MSG.GET.

Encrypted objects (:mod:`.encryption`): the data key is unwrapped when the
reader is made (DecryptionFailed for no key, a wrong key, a key for a plaintext
object); each chunk that is *kept* is authenticated and decrypted (then
decompressed) in :meth:`ObjectReader._accept`, chunks only hashed on the way to
a range are not decrypted. The plaintext size comes from ``Orlop-Original-Size``,
which nothing authenticates, so a read that reaches the end also opens the last
chunk as final (:meth:`ObjectReader._check_final`): a size cut short cannot hide
the chunks after it, and every decrypted chunk must have the length the meta
implies (DecryptionFailed otherwise).

``bytes_fetched`` counts every chunk payload that reached us, so tests can
prove that a range read moved only what it needed.

Integrity: while chunks are consumed in order from chunk 0 the SHA-256 of the
stored bytes is accumulated and compared with the meta digest when the last
chunk arrives (DigestMismatch). Every chunk but the last must decode to the
chunk size, and missing chunks raise ObjectNotFound instead of hanging.
Since chunk indices are counted positions, any read that the digest will not
cover (ranges, seeks) first checks that the chunk subject holds exactly
``chunks`` messages: a chunk gone from the middle must not make the next one
stand in for it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from orlop.errors import (
    BadRequest,
    DecryptionFailed,
    DigestMismatch,
    JetStreamError,
    ObjectNotFound,
    ObjectStoreUnavailable,
)
from orlop.objects.compression import decompress_chunk
from orlop.objects.consumer import PushStream
from orlop.objects.encryption import Keyring, open_object
from orlop.objects.errors import translated
from orlop.objects.hashing import Sha256
from orlop.objects.meta import DEFAULT_CHUNK_SIZE, ObjectInfo, chunk_subject, digest_bytes
from orlop.objects.wire import Wire

__all__ = ["ObjectReader"]

_EXACT_MAX_CHUNKS = 16  # ranges up to this many chunks use exact fetches, longer ones stream
_SMALL_OBJECT_CHUNKS = 4  # whole objects this small are fetched exactly too (no consumer)
_PIPELINE = 16
_SKIP_MAX = 4  # a running stream is read through (and discarded) for at most this many chunks
_PROBES = 6
_EARLY_END_RETRIES = 3


class ObjectReader:
    """A file-like async reader over one object revision (``read``/``seek``/``tell``, async iteration).

    Raises DigestMismatch when a sequential read from the start does not match
    the stored digest or a chunk has the wrong size, ObjectNotFound when chunks
    are missing (for example purged by a concurrent overwrite), DecryptionFailed
    (also from the constructor) for an encrypted object that cannot be decrypted.
    """

    def __init__(
        self,
        wire: Wire,
        stream: str,
        info: ObjectInfo,
        *,
        direct: bool = False,
        replicated: bool = False,
        keyring: Keyring | None = None,
    ) -> None:
        self.wire = wire
        self.stream = stream
        self.direct = direct  # the stream has allow_direct: exact fetches use DIRECT.GET
        self.replicated = replicated  # ... whose misses the stream leader confirms (Wire.get_msg)
        self.info = info
        self.size = info.original_size
        self.chunk_size = info.max_chunk_size or (
            info.original_size if info.chunks <= 1 else DEFAULT_CHUNK_SIZE
        )
        self.bytes_fetched = 0
        self._subject = chunk_subject(info.bucket, info.nuid)
        self._codec = info.compression
        self._cipher = open_object(info, keyring)
        self._final_ok = self._cipher is None  # encrypted: the final chunk authenticated yet?
        self._pos = 0
        self._cur: bytes = b""
        self._cur_index = -1
        self._pre: dict[int, bytes] = {}
        self._push: PushStream | None = None
        self._push_next = 0
        self._sha = Sha256(offload=True)
        self._hashed = 0
        self._verify = bool(info.digest) and digest_bytes(info.digest) is not None
        self._fixed_chunks = info.max_chunk_size is not None or info.chunks <= 1
        self._cur_start = 0
        self._counted = False  # the chunk subject was seen to hold exactly info.chunks messages
        self._early_ends = 0  # streams that ended before the last chunk (see _restart_after_early_end)

    # -- file API ---------------------------------------------------------
    def tell(self) -> int:
        return self._pos

    @translated
    async def seek(self, offset: int, whence: int = 0) -> int:
        """Move the read position (``whence`` 0 start, 1 current, 2 end); no data moves."""
        base = {0: 0, 1: self._pos, 2: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    @translated
    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes from the position (all the rest when ``n < 0``); b"" at the end."""
        remaining = self.size - self._pos
        want = remaining if n is None or n < 0 else min(n, remaining)
        parts: list[bytes] = []
        while want > 0:
            piece = await self._take(want)
            parts.append(piece)
            want -= len(piece)
        if not self._final_ok and self._pos >= self.size:
            await self._check_final()
        return b"".join(parts)

    @translated
    async def readinto(self, buf: Any) -> int:
        data = await self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def __aiter__(self) -> ObjectReader:
        return self

    @translated
    async def __anext__(self) -> bytes:
        """The rest of the current chunk (whole decoded chunks when reading from a chunk boundary)."""
        if self._pos >= self.size:
            if not self._final_ok:
                await self._check_final()
            raise StopAsyncIteration
        return await self._take(self.size - self._pos)

    async def aclose(self) -> None:
        if self._push is not None:
            await self._push.close()
            self._push = None

    close = aclose

    async def __aenter__(self) -> ObjectReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- chunk plumbing ---------------------------------------------------
    async def _take(self, want: int) -> bytes:
        index, off = self._locate(self._pos)
        if index != self._cur_index:
            await self._load(index, want + off)
        piece = self._cur[off : off + want]
        if not piece:
            raise ObjectNotFound("object data is shorter than its meta says")
        self._pos += len(piece)
        return piece

    async def _check_final(self) -> None:
        """An encrypted read at its end: the last chunk must open as final, with the length the meta implies.

        Usually it was just read; when the size header claims less (so it was not
        needed), it is fetched and opened now. DecryptionFailed otherwise.
        """
        last = self.info.chunks - 1
        if self._cur_index != last:
            await self._load(last, 1)
        if not self._final_ok:
            raise DecryptionFailed(f"object {self.info.name!r}: the end of its data was not authenticated")

    def _locate(self, pos: int) -> tuple[int, int]:
        if self._fixed_chunks:
            return divmod(pos, self.chunk_size)
        # No chunk size in the meta (rare foreign objects): only forward reads are possible.
        if self._cur_index >= 0 and pos >= self._cur_start:
            rel = pos - self._cur_start
            if rel < len(self._cur):
                return self._cur_index, rel
            if rel == len(self._cur):
                return self._cur_index + 1, 0
        if pos == 0:
            return 0, 0
        raise BadRequest("the object's meta has no chunk size: it can only be read sequentially")

    async def _load(self, index: int, span: int) -> None:
        if index in self._pre:
            await self._accept(index, self._pre.pop(index))
            return
        if self._push is None or not 0 <= index - self._push_next <= _SKIP_MAX:
            # No stream, or it is past this chunk, or far behind it (a forward seek): start over here.
            last = (index * self.chunk_size + span - 1) // self.chunk_size if self._fixed_chunks else index
            count = min(last, self.info.chunks - 1) - index + 1
            small = count <= _SMALL_OBJECT_CHUNKS or span < self.size
            if self._fixed_chunks and 0 < count <= _EXACT_MAX_CHUNKS and small:
                await self._fetch_exact(index, count)
                await self._accept(index, self._pre.pop(index))
                return
            await self._start_stream(index)
        assert self._push is not None
        while self._push_next <= index:
            d = await self._push.next()
            if d is None:
                await self._restart_after_early_end(index)
                continue
            i = self._push_next
            self._push_next += 1
            self.bytes_fetched += len(d.data)
            await self._accept(i, d.data, keep=i == index)

    async def _restart_after_early_end(self, index: int) -> None:
        """The stream ended before chunk ``index``: ObjectNotFound, unless every chunk is still there.

        On a nats-server cluster a consumer recreated during a leader election can
        report nothing pending for a moment although the chunks are stored. So
        the chunk count is checked (ObjectNotFound when chunks are really gone)
        and the stream started again at the first chunk not yet read, a few times.
        """
        self._early_ends += 1
        await self._check_count(fresh=True)
        if self._early_ends > _EARLY_END_RETRIES:
            raise ObjectStoreUnavailable("the object's chunks are stored but could not be streamed")
        await asyncio.sleep(0.25 * self._early_ends)
        await self._start_stream(self._push_next)

    async def _accept(self, index: int, stored: bytes, keep: bool = True) -> None:
        """Hash (in order only), decode and size-check one stored chunk (already counted)."""
        if self._verify and index == self._hashed:
            await self._sha.update(stored)
            self._hashed += 1
            if self._hashed == self.info.chunks and await self._sha.digest() != digest_bytes(
                self.info.digest
            ):
                raise DigestMismatch(f"object {self.info.name!r} does not match its digest")
        elif self._verify and index > self._hashed:
            self._verify = False
        if not keep:
            return
        data = stored
        if self._cipher is not None:
            data = self._cipher.open(index, data, index == self.info.chunks - 1)
        if self._codec:
            data = decompress_chunk(data)
        if self._fixed_chunks and len(data) != self._expected_len(index):
            error = DecryptionFailed if self._cipher is not None else DigestMismatch
            raise error(f"chunk {index} has {len(data)} bytes, expected {self._expected_len(index)}")
        if index == self.info.chunks - 1:
            self._final_ok = True
        if not self._fixed_chunks:
            self._cur_start = self._cur_start + len(self._cur) if index == self._cur_index + 1 > 0 else 0
        self._cur, self._cur_index = data, index

    def _expected_len(self, index: int) -> int:
        """Decoded length of chunk ``index``: the chunk size, the remainder for the last one."""
        if index < self.info.chunks - 1:
            return self.chunk_size
        return self.size - self.chunk_size * (self.info.chunks - 1)

    # -- locating chunk i ---------------------------------------------------
    async def _probe(self, index: int, *, keep: bool) -> tuple[PushStream | None, int, int]:
        """A consumer start sequence whose first chunk has index <= ``index`` (as close as found).

        Returns ``(consumer or None, start_seq, first_index)``; the consumer is kept
        (created, not attached) only when ``keep``.
        """
        chunks = self.info.chunks
        if index == 0:
            return None, 1, 0
        guess = max(1, self.info.revision - chunks + index)
        for attempt in range(_PROBES):
            ps = PushStream(
                self.wire, self.stream, self._subject, deliver_policy="by_start_sequence", start_seq=guess
            )
            first = chunks - await ps.create()
            if first == index or (first < index and attempt == _PROBES - 1):
                if not keep:
                    await ps.discard()
                return (ps if keep else None), guess, first
            await ps.discard()
            guess = max(1, guess - (first - index)) if first > index else guess + (index - first)
        return None, 1, 0

    async def _check_count(self, *, fresh: bool = False) -> None:
        """ObjectNotFound unless the chunk subject holds exactly ``info.chunks`` messages.

        Chunk indices are counted positions on the subject (``num_pending``,
        ``next_by_subj``): with a chunk missing (deleted, or expired before its
        meta) they would name the next chunk, so reads must not trust them.
        Checked once per reader (again with ``fresh``), with STREAM.INFO filtered
        to the chunk subject.
        """
        if self._counted and not fresh:
            return
        resp = await self.wire.request(
            f"STREAM.INFO.{self.stream}", {"subjects_filter": self._subject}, patient=True
        )
        subjects = (resp.get("state") or {}).get("subjects") or {}
        if int(subjects.get(self._subject, 0)) != self.info.chunks:
            raise ObjectNotFound("object data is missing (chunks purged or expired?)")
        self._counted = True

    async def _start_stream(self, index: int) -> None:
        if self._push is not None:
            await self._push.close()
            self._push = None
        if index > 0:
            await self._check_count()
        ps, _, first = await self._probe(index, keep=True)
        if ps is None:
            ps, first = await self._stream_from_start(), 0
        await ps.attach()
        self._push, self._push_next = ps, first

    async def _stream_from_start(self) -> PushStream:
        """A consumer over every chunk (created, not attached) that sees all ``info.chunks`` of them.

        Created patiently (:meth:`PushStream.create_patiently`): a whole-object read
        started while a cluster elects a leader waits for it instead of failing.

        A consumer that sees fewer is checked against the stream (ObjectNotFound when
        chunks are really gone). On a nats-server cluster it may instead sit on a
        follower that has not caught up with a put just made: then it is made again
        a moment later, a few times.
        """
        for attempt in range(_EARLY_END_RETRIES + 1):
            if attempt:
                await asyncio.sleep(0.25 * attempt)
            ps = PushStream(self.wire, self.stream, self._subject, deliver_policy="all")
            if await ps.create_patiently() == self.info.chunks:
                return ps
            await ps.discard()
            await self._check_count(fresh=True)
        raise ObjectStoreUnavailable("the object's chunks are stored but no consumer sees them all yet")

    async def _get_next(self, seq: int) -> tuple[int, bytes]:
        """``(sequence, payload)`` of the first chunk at or after ``seq``; ObjectNotFound when none."""
        body = {"next_by_subj": self._subject, "seq": seq}
        msg = await self.wire.get_msg(self.stream, body, direct=self.direct, replicated=self.replicated)
        if msg is None:
            raise ObjectNotFound("object data is missing (chunks purged?)")
        return msg.seq, msg.data

    async def _fetch_exact(self, index: int, count: int) -> None:
        """Fetch chunks ``index .. index+count-1`` into the prefetch map with pipelined MSG.GETs.

        Only a whole-object read from chunk 0 (its digest is checked at the last
        chunk) skips :meth:`_check_count`, which otherwise overlaps the probe.
        """
        whole = index == 0 and count == self.info.chunks and self._verify and self._hashed == 0
        probe = self._probe(index, keep=False)
        if whole:
            _, start, first = await probe
        else:
            _, (_, start, first) = await asyncio.gather(self._check_count(), probe)
        try:
            seq, data = await self._get_next(start)
        except JetStreamError as e:
            raise ObjectNotFound("object data is missing (chunks purged?)") from e
        i = first
        await self._stash(i, index, data)
        while i < index + count - 1:
            batch = min(_PIPELINE, index + count - 1 - i)
            guesses = [seq + 1 + j for j in range(batch)]
            results = await asyncio.gather(*(self._get_next(g) for g in guesses), return_exceptions=True)
            for j, res in enumerate(results):
                if isinstance(res, BaseException):
                    if j == 0:
                        raise ObjectNotFound("object data is missing (chunks purged?)") from res
                    break
                seq, data = res
                i += 1
                await self._stash(i, index, data)
                if seq != guesses[j]:
                    break
            for res in results[j + 1 :]:
                if not isinstance(res, BaseException):
                    self.bytes_fetched += len(res[1])

    async def _stash(self, i: int, index: int, data: bytes) -> None:
        self.bytes_fetched += len(data)
        if i < index:
            await self._accept(i, data, keep=False)
        else:
            self._pre[i] = data

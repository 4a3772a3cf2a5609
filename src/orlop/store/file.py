"""FileStore: append-only block files under the shared index of :mod:`orlop.store.core`.

Shape, and why:

* **Blocks.** Records (format in :mod:`orlop.store.records`) are appended to the
  newest block file ``<n>.blk``; a new block starts when it would exceed
  ``block_size``. Every append is one ``os.pwritev`` (no user-space buffer), so a
  killed process loses nothing acknowledged; ``sync_always`` adds an fsync.
* **Index in RAM, payloads on disk.** The index keeps (block, offset, length) per
  message, never payloads; a load is one ``os.pread`` of the record on a cached
  fd, checksum-verified every time. Filtered reads use the per-subject index and
  never read a non-matching record (``read_calls``/``bytes_read`` count the IO).
* **Recovery** reads each block's index file (:mod:`orlop.store.blockindex`)
  and scans only what no index covers, so a restart costs a small sequential
  read per block, not a random read per record. The last MiB of the newest
  block is always checksummed; a torn tail there is truncated and logged. A
  record that fails its checksum is reported once recovery knows whether it
  was dead anyway (a punched record) or lost. The stream's high-water mark is
  also kept in :mod:`orlop.store.statefile`, so a cut-off tail never makes a
  sequence number be handed out twice.
* **Removals** are durable records in the newest block: a *floor* record (every
  seq below it is gone — limits, expiry, purges of the oldest) or a *tombstones*
  record listing seqs. A *skip* record keeps a sequence jump. A purge of
  everything deletes every block and leaves one block with a floor record, so
  the sequence counter survives. When a removal record cannot be written (disk
  full), the removal holds in memory and the record is retried at the next
  removal and at every sync.
* **Space comes back** (:mod:`orlop.store.reclaim`): dead blocks are deleted,
  the pages of dead records are punched out of their block once the removal
  record is synced, and blocks of small dead records are rewritten.
* **Encryption at rest** is a :class:`~orlop.store.cipher.StoreCipher` given to
  the constructor: message records are sealed (:func:`encode_sealed_msg`), as
  are the index files and the state file; everything else is unchanged. A
  sealed record that does not open is served as a corrupt one (never as
  ciphertext).
* **Disk full.** ``ENOSPC``/``EDQUOT``/``EFBIG`` during an append truncate the
  partial record away and raise :class:`DiskFullError`; the store stays usable.
  No rewrite ever replaces a block with a copy that was not written whole.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import time
from pathlib import Path
from typing import NoReturn, cast

import cramjam

from orlop.errors import DiskFullError, StoreClosedError
from orlop.store import fsio
from orlop.store.base import Clock, StoreLimits, wall_clock
from orlop.store.blocks import Block, BlockSet, Recovery, pack_loc, unpack_loc
from orlop.store.cipher import SEAL_OVERHEAD, SealError, StoreCipher
from orlop.store.core import Entry, NewRecord, file_msg_size
from orlop.store.reclaim import Reclaimer
from orlop.store.records import (
    F_SEALED,
    F_SNAPPY,
    HEADER,
    HEADER_SIZE,
    T_FLOOR,
    T_SKIP,
    T_TOMBS,
    Header,
    encode,
    encode_msg,
    encode_sealed_msg,
    pack_seqs,
    record_aad,
    verify,
)
from orlop.store.statefile import SeqState, read_state, write_state

__all__ = ["FileStore"]


def _loc(entry: Entry) -> tuple[int, int, int]:
    """(block index, offset, record length) of a file-store index entry."""
    return unpack_loc(cast(int, entry.loc))


class FileStore(Reclaimer):
    """A stream persisted in ``directory`` (created or recovered by the constructor).

    ``read_calls`` and ``bytes_read`` count every read of block data since open
    (recovery included), for tests and diagnostics; ``recovery_note`` says how
    the last open went (time, blocks read through their index, blocks scanned).
    Bytes are accounted as nats-server's file streams do
    (:func:`orlop.store.core.file_msg_size`). ``punch=False`` turns hole punching
    off (space then comes back by rewriting only). Raises OSError when the
    directory cannot be created or read.
    """

    _msg_size = staticmethod(file_msg_size)

    def __init__(
        self,
        directory: str | Path,
        limits: StoreLimits,
        *,
        clock: Clock = wall_clock,
        sync_always: bool = False,
        block_size: int = 64 * 1024 * 1024,
        log: logging.Logger | None = None,
        punch: bool = True,
        cipher: StoreCipher | None = None,
    ) -> None:
        if not 0 < block_size < 1 << 32:
            raise ValueError("block_size must be between 1 byte and 4 GiB")
        super().__init__(limits, clock)
        self.directory = Path(directory)
        self._sync_always = sync_always
        self._log = log or logging.getLogger("orlop.store.file")
        self._cipher = cipher
        self._subject_overhead = 0 if cipher is None else SEAL_OVERHEAD
        self._blocks = BlockSet(self.directory, block_size, self._log, cipher)
        self._punch_ok = punch
        self._pending_tombs: set[int] = set()
        self._removal_pending = False
        self._state_written: SeqState | None = None
        self.read_calls = 0
        self.bytes_read = 0
        self.recovery_note = ""
        self._recover()

    @property
    def sync_always(self) -> bool:
        """True when every append is fsynced before :meth:`store_msg` returns."""
        return self._sync_always

    @property
    def unsynced(self) -> bool:
        """True while some written data (or a block file change) has not been fsynced."""
        return self._blocks.dir_dirty or any(b.dirty for b in self._blocks.by_index.values())

    # ----------------------------------------------------------------- recovery

    def _recover(self) -> None:
        # Recovery allocates a few objects per message and frees none: the cyclic GC
        # would rescan them all repeatedly (seconds for a million messages), so pause it.
        gc_was_on = gc.isenabled()
        gc.disable()
        started = time.monotonic()
        try:
            rec = self._rebuild_index()
        finally:
            if gc_was_on:
                gc.enable()
        self.recovery_note = (
            f"{time.monotonic() - started:.2f}s, {rec.indexed_blocks} of {len(self._blocks.by_index)} blocks "
            f"through their index, {rec.scanned_blocks} scanned ({rec.reads} reads, {rec.bytes_read} bytes)"
            + (f", {rec.damaged_spans} damaged spans skipped" if rec.damaged_spans else "")
        )

    def _rebuild_index(self) -> Recovery:
        """Index every message record, then drop those below the floor or tombstoned."""
        rec = self._blocks.recover(self._index_recovered)
        self.read_calls, self.bytes_read = rec.reads, rec.bytes_read
        state = self._recorded_state()
        floor = max(rec.floor, state.floor if state else 0)
        dead: list[int] = []
        for seq in self._msgs:
            if seq >= floor:
                break
            dead.append(seq)
        dead += sorted(s for s in rec.tombs if s >= floor and s in self._msgs)
        by_subject: dict[str, list[int]] = {}
        for seq in dead:
            entry = self._msgs.pop(seq)
            self._bytes -= entry.size
            by_subject.setdefault(entry.subject, []).append(seq)
            bidx, _, length = _loc(entry)
            self._blocks.by_index[bidx].live -= 1
            self._blocks.by_index[bidx].live_bytes -= length
        for subject, gone in by_subject.items():
            self._unsubject(subject, sorted(gone))
        self._judge_suspects(rec, floor)
        # A tombstone names a seq that was stored, even when its record was punched out.
        self._last, self._last_ts = max(rec.last, floor - 1, max(rec.tombs, default=0)), rec.last_ts
        if state is not None and state.last_seq > self._last:
            self._log.warning(
                "%s: the blocks end at seq %d but seq %d was stored before; seqs %d-%d are lost "
                "and will not be reused",
                self.directory,
                self._last,
                state.last_seq,
                self._last + 1,
                state.last_seq,
            )
            self._last, self._last_ts = state.last_seq, max(self._last_ts, state.last_ts)
        self._first = next(iter(self._msgs)) if self._msgs else self._last + 1
        if self._msgs:
            self._dmap = {s for s in range(self._first, self._last + 1) if s not in self._msgs}
        self._persisted_floor = rec.floor
        self._state_written = state
        # A crash can leave blocks that the last removals emptied: give that space back now.
        # Rewrites wait: they read and write whole blocks, and serving comes first.
        self._reclaim(list(self._blocks.by_index.values()), rewrite=False)
        return rec

    def _recorded_state(self) -> SeqState | None:
        try:
            return read_state(self.directory, self._cipher)
        except ValueError as exc:
            self._log.warning("%s: stream state file ignored (%s)", self.directory, exc)
            return None

    def _judge_suspects(self, rec: Recovery, floor: int) -> None:
        """Report the records that failed their checksum and were not dead anyway."""
        for s in rec.suspects:
            if s.seq < floor or s.seq in rec.tombs:
                continue  # a removed record whose pages were punched out: expected
            self._log.warning("corrupt record in %s at offset %d (seq %d); skipped", s.path, s.offset, s.seq)

    def _index_recovered(self, seq: int, subject: str, ts: int, size: int, ttl: int, loc: int) -> None:
        if self._msgs and seq <= next(reversed(self._msgs)):
            self._log.warning("out-of-order record for seq %d in %s; ignored", seq, self.directory)
            return
        self._index_add(seq, Entry(subject, ts, size, ttl, loc))
        bidx, _, length = unpack_loc(loc)
        blk = self._blocks.by_index[bidx]
        blk.live += 1
        blk.live_bytes += length

    # ----------------------------------------------------------------- engine hooks

    def _append(self, seq: int, subject: str, hdr: bytes, data: bytes, ts: int, ttl: int) -> object:
        flags, body = self._pack(data)
        raw_subject = subject.encode("utf-8", "surrogateescape")  # any bytes, as nats-server stores them
        if self._cipher is None:
            parts, total = encode_msg(seq, ts, raw_subject, hdr, body, flags, len(data), ttl)
            blk, offset = self._write(parts, total, new_block_ok=True)
        else:
            # The block is chosen first: its index picks the key the record is sealed with.
            total = HEADER_SIZE + len(raw_subject) + len(hdr) + len(body) + 2 * SEAL_OVERHEAD
            target = self._target_block(total)
            keys = self._cipher.block(target.index)
            parts, total = encode_sealed_msg(keys, seq, ts, raw_subject, hdr, body, flags, len(data), ttl)
            blk, offset = self._write(parts, total, new_block_ok=True)
        blk.note_msg(seq, total)
        return pack_loc(blk.index, offset, total)

    def _append_many(self, records: list[NewRecord]) -> list[int] | None:
        """Write the records into one block with a few ``pwritev`` calls (see store_msgs).

        All or none: a failed write is cut back off the block, so no record of the batch is
        found by a later recovery. None (nothing written) when the records would not fit in
        one block: the caller then stores them one by one.
        """
        seal = 0 if self._cipher is None else 2 * SEAL_OVERHEAD
        # The block is chosen for the records' size before compression (an upper bound), so
        # one pass can pack, seal and encode them.
        most = len(records) * (HEADER_SIZE + seal)
        raw_len, last_subject = 0, None
        for _, subject, hdr, data, _, _ in records:
            if subject is not last_subject:  # a batch is mostly one subject (interned)
                raw_len, last_subject = len(subject.encode("utf-8", "surrogateescape")), subject
            most += raw_len + len(hdr) + len(data)
        if most > self._blocks.block_size:
            return None
        blk = self._target_block(most)
        keys = None if self._cipher is None else self._cipher.block(blk.index)
        compress = self._limits.compression == "s2"
        parts: list[bytes] = []
        locs: list[int] = []
        offset = start = blk.size
        base = blk.index << 64  # pack_loc, inline: this loop runs per message of a batch
        raw_subject, last_subject = b"", None
        for seq, subject, hdr, data, ts, ttl in records:
            flags, body = self._pack(data) if compress else (0, data)
            if subject is not last_subject:  # a batch is mostly one subject (interned)
                raw_subject, last_subject = subject.encode("utf-8", "surrogateescape"), subject
            if keys is None:
                rec, total = encode_msg(seq, ts, raw_subject, hdr, body, flags, len(data), ttl)
            else:
                rec, total = encode_sealed_msg(keys, seq, ts, raw_subject, hdr, body, flags, len(data), ttl)
            parts += rec
            locs.append(base | (offset << 32) | total)
            offset += total
        # The block _target_block chose is the newest: the write must not start another.
        self._write(parts, offset - start, new_block_ok=False)
        blk.note_msgs(records[0][0], records[-1][0], len(records), offset - start)
        return locs

    def _pack(self, data: bytes) -> tuple[int, bytes]:
        """The record flags and body for a payload: s2-compressed when the stream asks and it helps."""
        if self._limits.compression == "s2" and len(data) > 64:
            packed = bytes(cramjam.snappy.compress_raw(data))
            if len(packed) < len(data):
                return F_SNAPPY, packed
        return 0, data

    def _target_block(self, total: int) -> Block:
        """The block a record of ``total`` bytes will be appended to (created when needed)."""
        if self._closed:
            raise StoreClosedError("store is closed")
        try:
            return self._blocks.writable(total)
        except OSError as exc:
            self._reraise(exc)

    def _write(self, parts: list[bytes], total: int, *, new_block_ok: bool) -> tuple[Block, int]:
        """Append records (their encoded parts, ``total`` bytes) to the newest block; returns
        (block, offset). ``new_block_ok``: start a new block when they would overflow it.

        Raises DiskFullError (after truncating what was written of them) or StoreClosedError.
        """
        if self._closed:
            raise StoreClosedError("store is closed")
        try:
            blk = self._blocks.writable(total if new_block_ok else 0)
            fd = self._blocks.fd(blk)
        except OSError as exc:
            self._reraise(exc)
        start = blk.size
        try:
            fsio.pwritev_all(fd, parts, start)
            if self._sync_always:
                os.fsync(fd)
        except OSError as exc:
            self._truncate_quietly(fd, start)
            self._reraise(exc)
        blk.size = start + total
        blk.dirty = not self._sync_always
        self._blocks.note_records(blk, start, parts)
        if self._sync_always and self._blocks.dir_dirty:
            self._blocks.sync()  # a new block file: its directory entry must be durable too
        return blk, start

    def _reraise(self, exc: OSError) -> NoReturn:
        """Raise DiskFullError for the "no space" errnos, else ``exc`` itself."""
        if exc.errno in fsio.DISK_FULL_ERRNOS:
            raise DiskFullError(f"cannot write to {self.directory}: {exc.strerror}") from exc
        raise exc

    def _truncate_quietly(self, fd: int, size: int) -> None:
        try:
            os.ftruncate(fd, size)
        except OSError as exc:
            self._log.error("could not truncate a partial record in %s: %s", self.directory, exc)

    def _fetch(self, seq: int, entry: Entry) -> tuple[bytes, bytes] | None:
        bidx, offset, length = _loc(entry)
        blk = self._blocks.by_index.get(bidx)
        raw = b"" if blk is None else os.pread(self._blocks.fd(blk), length, offset)
        self.read_calls += 1
        self.bytes_read += len(raw)
        # A sealed record is vouched for by its AEAD tag (which also covers the header), so its
        # crc32 is not checked again here: that pass over the payload would be paid twice.
        sealed = len(raw) >= HEADER_SIZE and raw[9] & F_SEALED
        if len(raw) != length or not (sealed or verify(raw)) or HEADER.unpack_from(raw)[7] != seq:
            self._log.warning(
                "corrupt record for seq %d in %s (block %d at %d); not served",
                seq,
                self.directory,
                bidx,
                offset,
            )
            return None
        h = HEADER.unpack_from(raw)
        flags, slen, hlen = h[3], h[4], h[5]
        if flags & F_SEALED:
            opened = self._open_sealed(bidx, seq, h, raw)
            if opened is None:
                return None
            hdr, data = opened[:hlen], opened[hlen:]
        else:
            start = HEADER_SIZE + slen
            hdr = raw[start : start + hlen]
            data = raw[start + hlen :]
        if flags & F_SNAPPY:
            data = bytes(cramjam.snappy.decompress_raw(data))
        return hdr, data

    def _open_sealed(self, bidx: int, seq: int, h: Header, raw: bytes) -> bytes | None:
        """Header block + payload of a sealed record; None (logged) when it does not open."""
        try:
            if self._cipher is None:
                raise SealError("the stream has no key")
            start = HEADER_SIZE + h[4] + SEAL_OVERHEAD
            return self._cipher.block(bidx).open_body(record_aad(h), memoryview(raw)[start:])
        except SealError as exc:
            self._log.warning(
                "sealed record for seq %d in %s did not open (%s); not served", seq, self.directory, exc
            )
            return None

    def _persist_removal(self, removed: list[tuple[int, Entry]], floor: int) -> None:
        if not self._msgs:
            try:
                self._blocks.reset(floor, self._last_ts)
            except OSError as exc:
                self._reraise(exc)
            self._persisted_floor = floor
            self._pending_tombs.clear()
            return
        # Dead blocks go first: that frees space even on a full disk, and a crash
        # before the records below are written loses nothing (those messages were removed).
        touched: dict[int, Block] = {}
        for _, entry in removed:
            bidx, _, length = _loc(entry)
            b = self._blocks.by_index.get(bidx)
            if b is not None:
                b.live -= 1
                b.live_bytes -= length
                touched[bidx] = b
        self._reclaim(list(touched.values()), rewrite=False)
        self._pending_tombs.update(seq for seq, _ in removed if seq >= floor)
        if self._write_removal_records(floor):
            self._queue_punches(removed)
        self._reclaim([b for b in touched.values() if b.index in self._blocks.by_index], rewrite=True)

    def _write_removal_records(self, floor: int) -> bool:
        """Floor record (when it moved) and the pending tombstones; False when the disk is full.

        A failed write keeps everything pending; the next removal or sync tries again.
        """
        parts: list[bytes] = []
        total = 0
        new_floor = floor > self._persisted_floor
        if new_floor:
            p, n = encode(T_FLOOR, floor, self._last_ts)
            parts += p
            total += n
        held = self._blocks.block_for_seq
        tomb = sorted(s for s in self._pending_tombs if s >= floor and held(s) is not None)
        if tomb:
            p, n = encode(T_TOMBS, 0, self._last_ts, body=pack_seqs(tomb))
            parts += p
            total += n
        if parts:
            try:
                blk, _ = self._write(parts, total, new_block_ok=False)
            except DiskFullError as exc:
                if not self._removal_pending:
                    self._log.warning(
                        "%s: removal of %d messages not yet recorded on disk (%s); "
                        "retried at the next removal or sync",
                        self.directory,
                        len(tomb),
                        exc,
                    )
                self._removal_pending = True
                return False
            blk.tombs.update(tomb)
            blk.has_meta = blk.has_meta or new_floor
            self._persisted_floor = max(self._persisted_floor, floor)
        self._pending_tombs.clear()
        self._removal_pending = False
        return True

    def _persist_skip(self, next_seq: int) -> None:
        parts, total = encode(T_SKIP, next_seq, self._last_ts)
        blk, _ = self._write(parts, total, new_block_ok=False)
        blk.has_meta = True

    def _release(self, delete: bool) -> None:
        if delete:
            self._blocks.close()
            shutil.rmtree(self.directory, ignore_errors=True)
            return
        try:
            self._settle()
        except OSError as exc:
            self._log.error("could not sync %s on close: %s", self.directory, exc)
        self._blocks.close()

    def _settle(self) -> None:
        """Retry what a full disk postponed, fsync, punch what the synced records allow, save the state."""
        if self._removal_pending:
            self._write_removal_records(self._first)
        self._blocks.sync()
        self._punch_all()
        self._retry_compaction()
        state = SeqState(self._last, self._last_ts, self._persisted_floor)
        if state != self._state_written:
            try:
                write_state(self.directory, state, self._cipher)
                self._state_written = state
            except OSError as exc:
                self._log.warning("%s: could not write the stream state: %s", self.directory, exc)

    # ----------------------------------------------------------------- lifecycle

    def flush(self) -> None:
        """Nothing is buffered in user space: every append is already with the OS."""
        self._check_open()

    def sync(self) -> None:
        """fsync what was written since the last sync, retry postponed work. Raises StoreClosedError."""
        self._check_open()
        self._settle()

    def disk_usage(self) -> int:
        """Bytes of block files (their apparent size; see :meth:`allocated_bytes`)."""
        return sum(b.size for b in self._blocks.by_index.values())

    def allocated_bytes(self) -> int:
        """Bytes the block files occupy on disk once punched ranges are subtracted."""
        return sum(b.allocated for b in self._blocks.by_index.values())

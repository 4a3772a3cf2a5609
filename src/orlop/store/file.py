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
* **Recovery** rebuilds the index by walking record headers (payloads are not
  read) and checksums the last MiB of the newest block and the last record of
  every other block (only the newest can be torn by a crash). A torn or
  invalid tail is truncated away and logged; a corrupt record inside a block is
  logged and skipped (it becomes a gap); corruption found later by a load is
  logged, tombstoned and never served.
* **Removals** are durable records in the newest block: a *floor* record (every
  seq below it is gone — limits, expiry, purges of the oldest) or a *tombstones*
  record listing seqs. A *skip* record keeps a sequence jump. A purge of
  everything deletes every block and leaves one block with a floor record, so
  the sequence counter survives.
* **Compaction** gives disk space back: a block with no live message is
  deleted (the tombstones it holds for other blocks are first re-written to the
  newest block); a block more than half dead (the newest included) is
  rewritten through a temp file and an atomic rename.
* **Disk full.** ``ENOSPC``/``EDQUOT``/``EFBIG`` during an append truncate the
  partial record away and raise :class:`DiskFullError`; the store stays usable.
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import shutil
from pathlib import Path
from typing import NoReturn, cast

import cramjam

from orlop.errors import DiskFullError, StoreClosedError
from orlop.store.base import Clock, StoreLimits, wall_clock
from orlop.store.blocks import Block, BlockSet, pack_loc, unpack_loc
from orlop.store.core import Entry, IndexedStore, file_msg_size
from orlop.store.records import (
    F_SNAPPY,
    HEADER,
    HEADER_SIZE,
    T_FLOOR,
    T_SKIP,
    T_TOMBS,
    encode,
    encode_msg,
    pack_seqs,
    verify,
)

__all__ = ["FileStore"]

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _loc(entry: Entry) -> tuple[int, int, int]:
    """(block index, offset, record length) of a file-store index entry."""
    return unpack_loc(cast(int, entry.loc))


class FileStore(IndexedStore):
    """A stream persisted in ``directory`` (created or recovered by the constructor).

    ``read_calls`` and ``bytes_read`` count every read of block data since open
    (recovery included), for tests and diagnostics. Bytes are accounted as
    nats-server's file streams do (:func:`orlop.store.core.file_msg_size`).
    Raises OSError when the directory cannot be created or read.
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
    ) -> None:
        if not 0 < block_size < 1 << 32:
            raise ValueError("block_size must be between 1 byte and 4 GiB")
        super().__init__(limits, clock)
        self.directory = Path(directory)
        self._sync_always = sync_always
        self._log = log or logging.getLogger("orlop.store.file")
        self._blocks = BlockSet(self.directory, block_size, self._log)
        self.read_calls = 0
        self.bytes_read = 0
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
        try:
            self._rebuild_index()
        finally:
            if gc_was_on:
                gc.enable()

    def _rebuild_index(self) -> None:
        """Index every message record, then drop those below the floor or tombstoned."""
        rec = self._blocks.recover(self._index_recovered)
        self.read_calls, self.bytes_read = rec.reads, rec.bytes_read
        dead: list[int] = []
        for seq in self._msgs:
            if seq >= rec.floor:
                break
            dead.append(seq)
        dead += sorted(s for s in rec.tombs if s >= rec.floor and s in self._msgs)
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
        self._last, self._last_ts = max(rec.last, rec.floor - 1), rec.last_ts
        self._first = next(iter(self._msgs)) if self._msgs else self._last + 1
        if self._msgs:
            self._dmap = {s for s in range(self._first, self._last + 1) if s not in self._msgs}
        self._persisted_floor = rec.floor
        # A crash can leave blocks that the last removals emptied: give that space back now.
        self._reclaim(list(self._blocks.by_index.values()))

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
        flags, body = 0, data
        if self._limits.compression == "s2" and len(data) > 64:
            packed = bytes(cramjam.snappy.compress_raw(data))
            if len(packed) < len(data):
                flags, body = F_SNAPPY, packed
        raw_subject = subject.encode("utf-8", "surrogateescape")  # any bytes, as nats-server stores them
        parts, total = encode_msg(seq, ts, raw_subject, hdr, body, flags, len(data), ttl)
        blk, offset = self._write(parts, total, new_block_ok=True)
        blk.note_msg(seq, total)
        return pack_loc(blk.index, offset, total)

    def _write(self, parts: list[bytes], total: int, *, new_block_ok: bool) -> tuple[Block, int]:
        """Append one record to the newest block; returns (block, offset).

        Raises DiskFullError (after truncating the partial record) or StoreClosedError.
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
            written = os.pwritev(fd, parts, start)
            if written < total:
                rest = b"".join(parts)[written:]
                while rest:
                    n = os.pwrite(fd, rest, start + total - len(rest))
                    if n <= 0:
                        raise OSError(errno.ENOSPC, "no progress writing a record")
                    rest = rest[n:]
            if self._sync_always:
                os.fsync(fd)
        except OSError as exc:
            self._truncate_quietly(fd, start)
            self._reraise(exc)
        blk.size = start + total
        blk.dirty = not self._sync_always
        if self._sync_always and self._blocks.dir_dirty:
            self._blocks.sync()  # a new block file: its directory entry must be durable too
        return blk, start

    def _reraise(self, exc: OSError) -> NoReturn:
        """Raise DiskFullError for the "no space" errnos, else ``exc`` itself."""
        if exc.errno in _DISK_FULL:
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
        if len(raw) != length or not verify(raw) or HEADER.unpack_from(raw)[7] != seq:
            self._log.warning("corrupt record for seq %d in %s (block %d at %d); not served",
                              seq, self.directory, bidx, offset)
            return None
        h = HEADER.unpack_from(raw)
        flags, slen, hlen = h[3], h[4], h[5]
        start = HEADER_SIZE + slen
        hdr = raw[start : start + hlen]
        data = raw[start + hlen :]
        if flags & F_SNAPPY:
            data = bytes(cramjam.snappy.decompress_raw(data))
        return hdr, data

    def _persist_removal(self, removed: list[tuple[int, Entry]], floor: int) -> None:
        if not self._msgs:
            try:
                self._blocks.reset(floor, self._last_ts)
            except OSError as exc:
                self._reraise(exc)
            self._persisted_floor = floor
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
        self._reclaim(list(touched.values()))
        self._write_removal_records(removed, floor)

    def _write_removal_records(self, removed: list[tuple[int, Entry]], floor: int) -> None:
        """Floor record (when it moved) and tombstones for removed seqs whose block still exists."""
        parts: list[bytes] = []
        total = 0
        new_floor = floor > self._persisted_floor
        if new_floor:
            p, n = encode(T_FLOOR, floor, self._last_ts)
            parts += p
            total += n
        tomb = [seq for seq, _ in removed if seq >= floor and self._blocks.block_for_seq(seq) is not None]
        if tomb:
            p, n = encode(T_TOMBS, 0, self._last_ts, body=pack_seqs(tomb))
            parts += p
            total += n
        if parts:
            blk, _ = self._write(parts, total, new_block_ok=False)
            blk.tombs.update(tomb)
            blk.has_meta = blk.has_meta or new_floor
            self._persisted_floor = max(self._persisted_floor, floor)

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
            self._blocks.sync()
        except OSError as exc:
            self._log.error("could not sync %s on close: %s", self.directory, exc)
        self._blocks.close()

    # ----------------------------------------------------------------- compaction

    def _reclaim(self, blocks: list[Block]) -> None:
        """Delete blocks with nothing live; rewrite blocks that are mostly dead."""
        newest = self._blocks.newest
        for blk in blocks:
            if blk.index not in self._blocks.by_index:
                continue
            if blk.live == 0 and blk is not newest:
                self._carry_meta(blk)
                self._blocks.delete(blk)
            elif blk.size > min(4096, self._blocks.block_size // 2) and blk.live_bytes * 2 < blk.size:
                self._rewrite(blk)

    def _needed_tombs(self, blk: Block) -> list[int]:
        """Tombstones held by ``blk`` that still hide a record in another existing block."""
        out = []
        for seq in sorted(blk.tombs):
            if seq < self._persisted_floor:
                continue
            holder = self._blocks.block_for_seq(seq)
            if holder is not None and holder is not blk:
                out.append(seq)
        return out

    def _meta_records(self, tombs: list[int]) -> tuple[list[bytes], int]:
        parts, total = encode(T_FLOOR, self._persisted_floor, self._last_ts)
        p, n = encode(T_SKIP, self._last + 1, self._last_ts)
        parts += p
        total += n
        if tombs:
            p, n = encode(T_TOMBS, 0, self._last_ts, body=pack_seqs(tombs))
            parts += p
            total += n
        return parts, total

    def _carry_meta(self, blk: Block) -> None:
        """Re-write what a dying block knows about other blocks into the newest block."""
        # Always carry floor and skip: the dying block may hold the highest seq ever written.
        tombs = self._needed_tombs(blk)
        parts, total = self._meta_records(tombs)
        newest, _ = self._write(parts, total, new_block_ok=False)
        newest.tombs.update(tombs)
        newest.has_meta = True

    def _rewrite(self, blk: Block) -> None:
        """Copy the live records of ``blk`` (and the metadata it must keep) to a new file."""
        moved: list[tuple[Entry, bytes]] = []
        old_fd = self._blocks.fd(blk)
        for seq in range(blk.min_seq, blk.max_seq + 1):
            entry = self._msgs.get(seq)
            if entry is None or _loc(entry)[0] != blk.index:
                continue
            _, offset, length = _loc(entry)
            raw = os.pread(old_fd, length, offset)
            if len(raw) == length:  # copied even if corrupt: the next load reports and drops it
                moved.append((entry, raw))
        tombs = self._needed_tombs(blk)
        meta, _ = self._meta_records(tombs)  # keeps last_seq even if the newest records go
        offsets = self._blocks.replace(blk, [raw for _, raw in moved] + meta)
        for (entry, raw), offset in zip(moved, offsets, strict=False):
            entry.loc = pack_loc(blk.index, offset, len(raw))
        blk.live = len(moved)
        blk.live_bytes = sum(len(raw) for _, raw in moved)
        blk.tombs = set(tombs)
        blk.has_meta = True
        self._log.info("compacted block %d of %s to %d bytes", blk.index, self.directory, blk.size)

    def compact(self) -> None:
        """Run compaction over every block now (it also runs after each removal)."""
        self._check_open()
        self._reclaim(list(self._blocks.by_index.values()))

    # ----------------------------------------------------------------- lifecycle

    def flush(self) -> None:
        """Nothing is buffered in user space: every append is already with the OS."""
        self._check_open()

    def sync(self) -> None:
        """fsync every block written since the last sync. Raises StoreClosedError."""
        self._check_open()
        self._blocks.sync()

    def disk_usage(self) -> int:
        """Bytes of block files on disk."""
        return sum(b.size for b in self._blocks.by_index.values())


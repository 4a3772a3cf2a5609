"""How the file engine gives disk space back, without ever risking what is still live.

Three ways, cheapest first:

1. **Dead blocks are deleted.** A block with no live message goes, once what it
   knows about other blocks (floor, last sequence, tombstones that still hide
   records elsewhere) is re-written to the newest block and synced.
2. **Dead records are punched out.** Once the removal record of a message is
   on disk (synced), the whole pages inside its record are freed in place with
   ``fallocate(PUNCH_HOLE)``. This needs no free space at all, so it works on a
   full disk, and an object's chunks come back as soon as it is deleted. The
   record's header page stays, so a scan still walks the block; its payload now
   reads as zeros and fails its checksum, which recovery expects of a removed
   record. Punches are batched (``PUNCH_BATCH``) behind one fsync, except that a
   removal freeing ``PUNCH_AT_ONCE`` or more (a deleted object) is punched at once.
3. **Blocks of small dead records are rewritten**: live records are copied to
   a new file that replaces the block only once it was written whole, read back
   and synced (:meth:`orlop.store.blocks.BlockSet.replace`). A rewrite needs
   free space for the live part, so it is skipped while the disk lacks it and
   tried again at the next sync; a failed rewrite leaves the block as it was.

This is a mixin of :class:`orlop.store.file.FileStore` (one class, two files:
this one is everything about reclaiming).
"""

from __future__ import annotations

import logging
import os
from abc import abstractmethod
from pathlib import Path
from typing import cast

from orlop.errors import DiskFullError
from orlop.store import fsio
from orlop.store.blocks import Block, BlockSet, pack_loc, unpack_loc
from orlop.store.core import Entry, IndexedStore
from orlop.store.records import HEADER_SIZE, T_FLOOR, T_SKIP, T_TOMBS, encode, pack_seqs

__all__ = ["PUNCH_AT_ONCE", "PUNCH_BATCH", "Reclaimer"]

PUNCH_BATCH = 1 << 20
"""Dead bytes queued before punching (each batch costs one fsync of the removal records)."""
PUNCH_AT_ONCE = 64 << 10
"""A single removal that frees this much is punched at once (an object's chunks: one fsync per
deleted object is small next to what it gives back); smaller ones wait for the batch or a sync."""

_MIN_PUNCH = 2 * fsio.PAGE  # a record must span this much before punching can free a page of it
_REWRITE_MARGIN = 1 << 20  # free space a rewrite must leave behind


class Reclaimer(IndexedStore):
    """Space reclaiming for the file engine (see module docstring)."""

    directory: Path
    _blocks: BlockSet
    _log: logging.Logger
    _punch_ok: bool
    _persisted_floor: int = 0
    _punch_queued: int = 0
    _subject_overhead: int = 0  # bytes a stored subject takes beyond its own (a sealed one's nonce + tag)
    _compact_wanted: set[int]

    @abstractmethod
    def _write(self, parts: list[bytes], total: int, *, new_block_ok: bool) -> tuple[Block, int]:
        """Append one record to the newest block (FileStore)."""

    # ----------------------------------------------------------------- dead blocks

    def _reclaim(self, blocks: list[Block], *, rewrite: bool) -> None:
        """Delete blocks with nothing live; with ``rewrite``, rewrite blocks mostly dead on disk."""
        newest = self._blocks.newest
        for blk in blocks:
            if blk.index not in self._blocks.by_index:
                continue
            if blk.live == 0 and blk is not newest:
                self._delete_dead(blk)
            elif rewrite and self._worth_rewriting(blk):
                self._try_rewrite(blk)

    def _delete_dead(self, blk: Block) -> None:
        try:
            carried_to = self._carry_meta(blk)
            # What was carried is on disk before the block is gone: that one block (and the
            # directory, should the block be new), not every block written since the last
            # sync. Syncing them all forced the writeback of whatever had just been stored:
            # an object overwritten took ~0.4 s more per 512 MiB, as its old chunks' blocks
            # died while the new ones were being written. The rest waits for the periodic sync,
            # as every write does (docs/reliability.md).
            self._blocks.sync_block(carried_to)
        except (DiskFullError, OSError) as exc:
            self._log.warning("%s: empty block %d kept for now (%s)", self.directory, blk.index, exc)
            self._wanted().add(blk.index)
            return
        self._blocks.delete(blk)

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

    def _carry_meta(self, blk: Block) -> Block:
        """Re-write what a dying block knows about other blocks into the newest block; returns it."""
        # Always carry floor and skip: the dying block may hold the highest seq ever written.
        tombs = self._needed_tombs(blk)
        parts, total = self._meta_records(tombs)
        newest, _ = self._write(parts, total, new_block_ok=False)
        newest.tombs.update(tombs)
        newest.has_meta = True
        return newest

    # ----------------------------------------------------------------- punching

    def _queue_punches(self, removed: list[tuple[int, Entry]]) -> None:
        """Queue the pages of removed records (their removal records are written) for punching."""
        if not self._punch_ok:
            return
        queued = self._punch_queued
        for _, entry in removed:
            bidx, offset, length = unpack_loc(cast(int, entry.loc))
            if length < _MIN_PUNCH:
                continue
            blk = self._blocks.by_index.get(bidx)
            if blk is None:
                continue
            # The header and subject stay, so a scan still walks the block (a sealed subject is longer).
            keep = HEADER_SIZE + len(entry.subject.encode("utf-8", "surrogateescape"))
            keep += self._subject_overhead
            blk.punches.append((offset + keep, length - keep))
            self._punch_queued += length - keep
        if self._punch_queued >= PUNCH_BATCH or self._punch_queued - queued >= PUNCH_AT_ONCE:
            self._punch_all()

    def _punch_all(self) -> None:
        """Sync the removal records, then punch every queued range."""
        if not self._punch_queued:
            return
        self._punch_queued = 0
        try:
            self._blocks.sync()
            for blk in list(self._blocks.by_index.values()):
                if blk.punches and self._blocks.punch(blk) < 0:
                    self._punch_ok = False
                    self._log.info(
                        "%s: the filesystem cannot punch holes; space comes back by rewriting blocks instead",
                        self.directory,
                    )
                    for b in self._blocks.by_index.values():
                        b.punches.clear()
                    return
        except OSError as exc:
            self._log.warning("%s: could not free the space of removed messages yet: %s", self.directory, exc)

    # ----------------------------------------------------------------- rewriting

    def _wanted(self) -> set[int]:
        if not hasattr(self, "_compact_wanted"):
            self._compact_wanted = set()
        return self._compact_wanted

    def _worth_rewriting(self, blk: Block) -> bool:
        """True when the block's dead bytes still on disk outweigh its live ones."""
        pending = sum(length for _, length in blk.punches)
        on_disk = blk.allocated - pending
        return blk.size > min(4096, self._blocks.block_size // 2) and blk.live_bytes * 2 < on_disk

    def _try_rewrite(self, blk: Block) -> None:
        free = fsio.free_bytes(self.directory)
        if 0 <= free < blk.live_bytes + _REWRITE_MARGIN:
            self._wanted().add(blk.index)  # no room to copy the live part now: after the next sync
            return
        try:
            self._rewrite(blk)
        except OSError as exc:
            self._log.warning(
                "%s: compaction of block %d failed, block kept as it was: %s", self.directory, blk.index, exc
            )
            self._wanted().add(blk.index)
        else:
            self._wanted().discard(blk.index)

    def _rewrite(self, blk: Block) -> None:
        """Copy the live records of ``blk`` (and the metadata it must keep) to a new file."""
        moved: list[tuple[Entry, bytes]] = []
        old_fd = self._blocks.fd(blk)
        for seq in range(blk.min_seq, blk.max_seq + 1):
            entry = self._msgs.get(seq)
            if entry is None or unpack_loc(cast(int, entry.loc))[0] != blk.index:
                continue
            _, offset, length = unpack_loc(cast(int, entry.loc))
            raw = os.pread(old_fd, length, offset)
            if len(raw) != length:
                raise OSError(5, f"live record of seq {seq} reads short in block {blk.index}")
            moved.append((entry, raw))  # copied even if corrupt: the next load reports and drops it
        tombs = self._needed_tombs(blk)
        meta, _ = self._meta_records(tombs)  # keeps last_seq even if the newest records go
        meta_records = [b"".join(meta[i : i + 4]) for i in range(0, len(meta), 4)]
        offsets = self._blocks.replace(blk, [raw for _, raw in moved] + meta_records)
        for (entry, raw), offset in zip(moved, offsets, strict=False):
            entry.loc = pack_loc(blk.index, offset, len(raw))
        blk.live = len(moved)
        blk.live_bytes = sum(len(raw) for _, raw in moved)
        blk.tombs = set(tombs)
        blk.has_meta = True
        self._log.info("compacted block %d of %s to %d bytes", blk.index, self.directory, blk.size)

    def _retry_compaction(self) -> None:
        """Blocks a full disk kept from being deleted or rewritten: try again."""
        wanted = self._wanted()
        if not wanted:
            return
        blocks = [self._blocks.by_index[i] for i in sorted(wanted) if i in self._blocks.by_index]
        wanted.clear()
        self._reclaim(blocks, rewrite=True)

    def compact(self) -> None:
        """Run every kind of reclaiming over every block now (it also runs after each removal)."""
        self._check_open()
        self._punch_all()
        self._reclaim(list(self._blocks.by_index.values()), rewrite=True)

"""The block files of one FileStore: naming, fds, recovery scan, rewrite and deletion.

Kept apart from :mod:`orlop.store.file` so that the store itself reads as
stream semantics over "append a record / read a record", while everything about
files — which fd is open, how a torn tail is cut off, how a block is replaced
atomically — lives here. Block ``n`` is the file ``%010d.blk``; a higher index
always holds higher message seqs, which recovery relies on.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orlop.store.core import file_msg_size
from orlop.store.records import T_FLOOR, T_MSG, T_SKIP, T_TOMBS, BlockScan, ScannedRecord, encode, unpack_seqs

__all__ = ["Block", "BlockSet", "MsgSink", "Recovery", "pack_loc", "unpack_loc"]

VERIFY_TAIL = 1 << 20  # bytes at the end of the newest block checksummed at open
_MAX_OPEN = 128
_U32 = 0xFFFFFFFF


def pack_loc(block: int, offset: int, length: int) -> int:
    """One int for a record's place: an index entry then costs one object, not a tuple of three."""
    return (block << 64) | (offset << 32) | length


def unpack_loc(loc: int) -> tuple[int, int, int]:
    """(block index, offset, record length) of a packed location."""
    return loc >> 64, (loc >> 32) & _U32, loc & _U32


@dataclass(eq=False, slots=True)
class Block:
    """Bookkeeping of one block file. ``min_seq..max_seq`` bounds the message records it holds."""

    index: int
    path: Path
    size: int = 0
    live: int = 0
    live_bytes: int = 0
    min_seq: int = 0
    max_seq: int = 0
    tombs: set[int] = field(default_factory=set)
    has_meta: bool = False
    dirty: bool = False

    def note_msg(self, seq: int, length: int) -> None:
        """A message record of ``length`` bytes for ``seq`` was appended."""
        if self.min_seq == 0:
            self.min_seq = seq
        self.max_seq = seq
        self.live += 1
        self.live_bytes += length


MsgSink = Callable[[int, str, int, int, int, int], None]
"""Receives each message record found: (seq, subject, ts, accounted size, ttl, packed location)."""


@dataclass(slots=True)
class Recovery:
    """What the recovery scan found besides the messages (which go to ``on_msg``)."""

    on_msg: MsgSink
    tombs: set[int] = field(default_factory=set)
    floor: int = 0
    last: int = 0
    last_ts: int = 0
    reads: int = 0
    bytes_read: int = 0

    def note_last(self, last: int, ts: int) -> None:
        if last >= self.last:
            self.last, self.last_ts = last, ts


class BlockSet:
    """The ordered block files of a directory, with a small cache of open fds."""

    def __init__(self, directory: Path, block_size: int, log: logging.Logger) -> None:
        self.directory = directory
        self.block_size = block_size
        self.log = log
        directory.mkdir(parents=True, exist_ok=True)
        self.by_index: dict[int, Block] = {}
        self._fds: dict[int, int] = {}
        self._ranges: tuple[tuple[int, int], list[int], list[Block]] | None = None
        self.dir_dirty = False  # a block file was created, replaced or deleted since the last sync

    @property
    def newest(self) -> Block | None:
        """The block appends go to (None before the first append)."""
        return self.by_index[next(reversed(self.by_index))] if self.by_index else None

    def _path(self, index: int) -> Path:
        return self.directory / f"{index:010d}.blk"

    def _create(self) -> Block:
        newest = self.newest
        index = 1 if newest is None else newest.index + 1
        blk = Block(index, self._path(index))
        fd = os.open(blk.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self._fds[index] = fd
        self.dir_dirty = True
        self.by_index[index] = blk
        self._ranges = None
        return blk

    def writable(self, need: int) -> Block:
        """The newest block, or a new one when ``need`` more bytes would overflow it."""
        blk = self.newest
        if blk is None or (need and blk.size and blk.size + need > self.block_size):
            blk = self._create()
        return blk

    def fd(self, blk: Block) -> int:
        """An open read/write fd of ``blk``, from the cache."""
        fd = self._fds.get(blk.index)
        if fd is None:
            if len(self._fds) >= _MAX_OPEN:
                newest = self.newest
                for index in [i for i in self._fds if newest is None or i != newest.index][: _MAX_OPEN // 2]:
                    os.close(self._fds.pop(index))
            fd = os.open(blk.path, os.O_RDWR)
            self._fds[blk.index] = fd
        return fd

    def block_for_seq(self, seq: int) -> Block | None:
        """The block whose message range covers ``seq``, if it still exists."""
        newest = self.newest
        key = (len(self.by_index), 0 if newest is None else newest.min_seq)
        if self._ranges is None or self._ranges[0] != key:
            blocks = [b for b in self.by_index.values() if b.min_seq]
            self._ranges = (key, [b.min_seq for b in blocks], blocks)
        _, starts, blocks = self._ranges
        i = bisect_right(starts, seq) - 1
        if i < 0 or blocks[i].max_seq < seq:
            return None
        return blocks[i]

    # ----------------------------------------------------------------- recovery

    def recover(self, on_msg: MsgSink) -> Recovery:
        """Scan every block file, feeding message records to ``on_msg`` in file order.

        Torn tails are cut and corrupt records skipped (both logged).
        """
        for tmp in self.directory.glob("*.tmp"):
            tmp.unlink()
        rec = Recovery(on_msg)
        indexes = sorted(int(p.stem) for p in self.directory.glob("*.blk") if p.stem.isdigit())
        for index in indexes:
            blk = Block(index, self._path(index))
            self.by_index[index] = blk
            self._recover_block(blk, rec, newest=index == indexes[-1])
        self._ranges = None
        return rec

    def _recover_block(self, blk: Block, rec: Recovery, *, newest: bool) -> None:
        """Stream one block's records into ``rec``; a bad record is judged once the next one shows.

        Only the newest block can be torn by a crash (older ones were complete before
        it was started), so its last MiB is checksummed, and a bad final record or an
        invalid header there is cut off: appends continue from that point. Elsewhere a
        bad checksum is corruption (logged, skipped) and an invalid header makes the rest
        of that block unreadable (logged, left on disk for a later compaction to drop).
        """
        fd = self.fd(blk)
        scan = BlockScan(fd, os.fstat(fd).st_size, VERIFY_TAIL if newest else 1)
        bad = None
        for r in scan:
            if bad is not None:
                self.log.warning("corrupt record in %s at offset %d (seq %d); skipped",
                                 blk.path, bad.offset, bad.header[7])
                bad = None
            if r.ok:
                self._apply(blk, r, rec)
            else:
                bad = r
        rec.reads += scan.reads
        rec.bytes_read += scan.bytes_read
        end = scan.end if bad is None else bad.offset
        what = "torn record" if bad is not None else scan.error
        if what is not None and newest:
            self.log.warning("%s in %s at offset %d; truncated", what, blk.path, end)
            os.ftruncate(fd, end)
            blk.size = end
        else:
            if what is not None:
                self.log.warning("%s in %s at offset %d; rest of the block skipped", what, blk.path, end)
            blk.size = scan.size

    def _apply(self, blk: Block, r: ScannedRecord, rec: Recovery) -> None:
        _, total, rtype, _, slen, hlen, dlen, seq, ts, ttl = r.header
        if rtype == T_MSG:
            # Any bytes, as they were published (the record's crc32 already vouches for them).
            subject = sys.intern(r.subject.decode("utf-8", "surrogateescape"))
            loc = pack_loc(blk.index, r.offset, total)
            rec.on_msg(seq, subject, ts, file_msg_size(slen, hlen, dlen), ttl, loc)
            if blk.min_seq == 0:
                blk.min_seq = seq
            blk.max_seq = max(blk.max_seq, seq)
            rec.note_last(seq, ts)
        elif rtype == T_TOMBS:
            seqs = unpack_seqs(r.body)
            rec.tombs.update(seqs)
            blk.tombs.update(seqs)
        elif rtype in (T_FLOOR, T_SKIP):
            blk.has_meta = True
            rec.note_last(seq - 1, ts)
            if rtype == T_FLOOR:
                rec.floor = max(rec.floor, seq)

    # ----------------------------------------------------------------- mutation

    def reset(self, floor: int, last_ts: int) -> None:
        """Replace every block by one holding only a floor record (a purge of everything).

        The new block is written before the old ones go, so a crash in between
        keeps the sequence counter; on a full disk the old blocks go first to make
        room. Raises OSError when even that cannot be written.
        """
        old = list(self.by_index.values())
        parts, total = encode(T_FLOOR, floor, last_ts)
        record = b"".join(parts)
        blk = self._create()
        try:
            self._write_synced(blk, record)
        except OSError:
            self.delete(blk)
            for b in old:
                self.delete(b)
            blk = self._create()
            self._write_synced(blk, record)
            old = []
        blk.size, blk.has_meta = total, True
        for b in old:
            self.delete(b)

    def _write_synced(self, blk: Block, record: bytes) -> None:
        fd = self._fds[blk.index]
        if os.pwrite(fd, record, 0) != len(record):
            raise OSError(errno.ENOSPC, "short write")
        os.fsync(fd)

    def delete(self, blk: Block) -> None:
        """Close and unlink a block file."""
        fd = self._fds.pop(blk.index, None)
        if fd is not None:
            os.close(fd)
        self.by_index.pop(blk.index, None)
        self._ranges = None
        blk.path.unlink(missing_ok=True)
        self.dir_dirty = True

    def replace(self, blk: Block, buffers: list[bytes]) -> list[int]:
        """Atomically replace ``blk``'s file by ``buffers`` concatenated; returns each buffer's offset."""
        tmp = blk.path.with_suffix(".tmp")
        offsets, pos = [], 0
        for b in buffers:
            offsets.append(pos)
            pos += len(b)
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, b"".join(buffers))
            os.fsync(fd)
        except OSError:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, blk.path)
        self.dir_dirty = True
        old = self._fds.pop(blk.index, None)
        if old is not None:
            os.close(old)
        self._fds[blk.index] = fd
        blk.size, blk.dirty = pos, False
        return offsets

    def sync(self) -> None:
        """fsync every block written since the last sync, and the directory when files changed."""
        for blk in self.by_index.values():
            if blk.dirty:
                os.fsync(self.fd(blk))
                blk.dirty = False
        if self.dir_dirty:
            dfd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
            self.dir_dirty = False

    def close(self) -> None:
        """Close every fd."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

"""The block files of one FileStore: naming, fds, index files, recovery, rewrite, punching.

Kept apart from :mod:`orlop.store.file` so that the store itself reads as
stream semantics over "append a record / read a record", while everything about
files — which fd is open, how a torn tail is cut off, how a block is replaced
atomically, which index file describes it — lives here. Block ``n`` is the file
``%010d.blk`` (a higher index always holds higher message seqs, which recovery
relies on), its index ``%010d.idx`` (:mod:`orlop.store.blockindex`).

Rules that keep acknowledged data safe on a full or failing disk:

* a block is replaced only by a copy that was written whole, read back,
  checked and fsynced (:meth:`BlockSet.replace`); a failed copy is removed and
  the old block stays;
* an index file is deleted *before* its block changes in place, so an index
  that exists always describes its block;
* a bad record is judged only after the whole directory is scanned: a record
  whose pages were punched out is dead (tombstoned or below the floor) and is
  expected to fail its checksum; anything else is reported as corrupt.
"""

from __future__ import annotations

import logging
import os
import struct
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from orlop.crc import crc32
from orlop.store import fsio
from orlop.store.blockindex import entry_of_record, index_entry, read_index, write_index
from orlop.store.cipher import SealError, StoreCipher
from orlop.store.core import file_msg_size
from orlop.store.records import (
    F_SEALED,
    HEADER,
    T_FLOOR,
    T_MSG,
    T_SKIP,
    T_TOMBS,
    BlockScan,
    ScannedRecord,
    encode,
    record_aad,
    unpack_seqs,
)

__all__ = ["Block", "BlockSet", "MsgSink", "Recovery", "Suspect", "pack_loc", "unpack_loc"]

VERIFY_TAIL = 1 << 20  # bytes at the end of the newest block checksummed at open
_MAX_OPEN = 128
_TOTAL = struct.Struct("<I")
_U32 = 0xFFFFFFFF


def pack_loc(block: int, offset: int, length: int) -> int:
    """One int for a record's place: an index entry then costs one object, not a tuple of three."""
    return (block << 64) | (offset << 32) | length


def unpack_loc(loc: int) -> tuple[int, int, int]:
    """(block index, offset, record length) of a packed location."""
    return loc >> 64, (loc >> 32) & _U32, loc & _U32


@dataclass(eq=False, slots=True)
class Block:
    """Bookkeeping of one block file. ``min_seq..max_seq`` bounds the message records it holds.

    ``entries`` is the index of a block still being appended to (None once its
    index file is written); ``freed`` counts bytes given back by punching;
    ``punches`` are dead ranges waiting for their removal records to be synced.
    """

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
    entries: bytearray | None = None
    entry_count: int = 0
    freed: int = 0
    punches: list[tuple[int, int]] = field(default_factory=list)

    def note_msg(self, seq: int, length: int) -> None:
        """A message record of ``length`` bytes for ``seq`` was appended."""
        if self.min_seq == 0:
            self.min_seq = seq
        self.max_seq = seq
        self.live += 1
        self.live_bytes += length

    def note_msgs(self, first: int, last: int, count: int, length: int) -> None:
        """``count`` message records (seqs ``first..last``, ``length`` bytes in all) were appended."""
        if self.min_seq == 0:
            self.min_seq = first
        self.max_seq = last
        self.live += count
        self.live_bytes += length

    @property
    def allocated(self) -> int:
        """Bytes this block still occupies on disk (punched ranges excluded)."""
        return self.size - self.freed


MsgSink = Callable[[int, str, int, int, int, int], None]
"""Receives each message record found: (seq, subject, ts, accounted size, ttl, packed location)."""


@dataclass(slots=True)
class Suspect:
    """A record that failed its checksum during recovery; judged once tombstones are known."""

    path: Path
    offset: int
    seq: int


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
    suspects: list[Suspect] = field(default_factory=list)
    indexed_blocks: int = 0
    scanned_blocks: int = 0
    damaged_spans: int = 0

    def note_last(self, last: int, ts: int) -> None:
        if last >= self.last:
            self.last, self.last_ts = last, ts


class BlockSet:
    """The ordered block files of a directory, with a small cache of open fds."""

    def __init__(
        self, directory: Path, block_size: int, log: logging.Logger, cipher: StoreCipher | None = None
    ) -> None:
        self.directory = directory
        self.cipher = cipher
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

    def idx_path(self, blk: Block) -> Path:
        """Where ``blk``'s index file lives."""
        return blk.path.with_suffix(".idx")

    def _create(self, *, seal: bool = True) -> Block:
        newest = self.newest
        if newest is not None and seal:
            self.seal(newest)
        index = 1 if newest is None else newest.index + 1
        blk = Block(index, self._path(index), entries=bytearray())
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

    # ----------------------------------------------------------------- index files

    @staticmethod
    def note_records(blk: Block, offset: int, parts: list[bytes]) -> None:
        """Add the records just appended at ``offset`` to ``blk``'s index.

        ``parts`` are one or more records' :func:`~orlop.store.records.encode` parts, four per record.
        """
        if blk.entries is None:
            return
        for i in range(0, len(parts), 4):
            head = parts[i]
            blk.entries += index_entry(offset, head, parts[i + 1], parts[i + 3])
            blk.entry_count += 1
            offset += _TOTAL.unpack_from(head, 4)[0]

    def seal(self, blk: Block, covered: int = -1) -> bool:
        """Write ``blk``'s index file from its entries (best effort: False and kept for later).

        ``covered`` is where the indexed records end (default: the block's size).
        """
        if blk.entries is None:
            return True
        try:
            end = blk.size if covered < 0 else covered
            write_index(self.idx_path(blk), end, blk.entry_count, blk.entries, self.cipher)
        except OSError as exc:
            self.log.debug("could not write the index of %s: %s", blk.path, exc)
            return False
        if blk is not self.newest:
            blk.entries = None  # sealed: the file is the index now, the memory can go
        return True

    # ----------------------------------------------------------------- recovery

    def recover(self, on_msg: MsgSink) -> Recovery:
        """Scan every block (through its index file where one is valid), feeding messages to ``on_msg``.

        Torn tails of the newest block are cut; bad records become :class:`Suspect` s for the
        caller to judge; index files are written for blocks that lacked one.
        """
        for tmp in self.directory.glob("*.tmp"):
            tmp.unlink()
        rec = Recovery(on_msg)
        indexes = sorted(int(p.stem) for p in self.directory.glob("*.blk") if p.stem.isdigit())
        for idx in self.directory.glob("*.idx"):
            if not idx.stem.isdigit() or int(idx.stem) not in indexes:
                idx.unlink()  # a block deleted after its index was written
        for index in indexes:
            blk = Block(index, self._path(index))
            self.by_index[index] = blk
            self._recover_block(blk, rec, newest=index == indexes[-1])
        self._ranges = None
        return rec

    def _indexed(self, blk: Block, size: int) -> tuple[list[ScannedRecord], int]:
        """The records of ``blk``'s index file and the offset it covers to ([], 0 when unusable)."""
        path = self.idx_path(blk)
        try:
            found = read_index(path, self.cipher)
        except ValueError as exc:
            self.log.warning("index %s ignored (%s); block rescanned", path, exc)
            path.unlink(missing_ok=True)
            return [], 0
        if found is None:
            return [], 0
        covered, records, _ = found
        if covered > size:
            self.log.warning(
                "index %s covers %d bytes but the block has %d; block rescanned", path, covered, size
            )
            path.unlink(missing_ok=True)
            return [], 0
        return records, covered

    def _recover_block(self, blk: Block, rec: Recovery, *, newest: bool) -> None:
        """Feed one block's records into ``rec``; a bad record is judged once the next one shows.

        Only the newest block can be torn by a crash (older ones were complete before
        it was started), so its last MiB is checksummed, and a bad final record or an
        invalid header there is cut off: appends continue from that point. Elsewhere a
        bad checksum is a suspect (judged by the caller) and an invalid header makes the
        rest of that block unreadable (logged, left on disk for a later compaction to drop).
        """
        fd = self.fd(blk)
        st = os.fstat(fd)
        size = st.st_size
        blk.freed = max(0, size - st.st_blocks * 512)
        records, resume = self._indexed(blk, size)
        rec.indexed_blocks += resume > 0
        if newest:  # the tail is checksummed whatever the index says
            cut = next(
                (i for i, r in enumerate(records) if r.offset + r.header[1] > size - VERIFY_TAIL),
                len(records),
            )
            if cut < len(records):
                resume = records[cut].offset
                del records[cut:]
        rec.scanned_blocks += resume < size
        entries = bytearray() if newest or resume < size else None
        for r in records:
            self._apply(blk, r, rec, entries)
        scan = BlockScan(fd, size, VERIFY_TAIL if newest else 1, start=resume)
        bad: ScannedRecord | None = None
        prev_seq = noted = 0
        for r in scan:
            if len(scan.skipped) > noted:  # this record is the first one past a damaged span
                noted += 1
                self._note_skipped(blk, scan.skipped[-1], prev_seq, r.header[7])
            prev_seq = r.header[7]
            if bad is not None:
                rec.suspects.append(Suspect(blk.path, bad.offset, bad.header[7]))
                bad = None
            if r.ok:
                self._apply(blk, r, rec, entries)
            else:
                bad = r
        rec.reads += scan.reads
        rec.bytes_read += scan.bytes_read
        end = scan.end if bad is None else bad.offset
        what = "torn record" if bad is not None else scan.error
        if what is not None and newest:
            self.log.warning("%s in %s at offset %d; truncated", what, blk.path, end)
            self.idx_path(blk).unlink(missing_ok=True)
            os.ftruncate(fd, end)
            blk.size = end
        else:
            if what is not None:
                self.log.warning("%s in %s at offset %d; rest of the block skipped", what, blk.path, end)
            blk.size = scan.size
        blk.entries = entries
        rec.damaged_spans += noted
        if entries is not None and not newest:
            self.seal(blk, end)  # the next start reads this block's index instead of scanning it

    def _note_skipped(self, blk: Block, span: tuple[int, int], before: int, after: int) -> None:
        self.log.warning(
            "%d unreadable bytes in %s at offsets %d-%d (after seq %d, before seq %d); the records there "
            "are skipped, the rest of the block is kept",
            span[1] - span[0],
            blk.path,
            span[0],
            span[1],
            before,
            after,
        )

    def _apply(self, blk: Block, r: ScannedRecord, rec: Recovery, entries: bytearray | None) -> None:
        _, total, rtype, flags, slen, hlen, dlen, seq, ts, ttl = r.header
        raw_subject = r.subject
        if rtype == T_MSG and flags & F_SEALED:
            try:
                if self.cipher is None:
                    raise SealError("the stream has no key")
                raw_subject = self.cipher.block(blk.index).open_subject(record_aad(r.header), r.subject)
            except SealError as exc:
                self.log.debug("sealed record of seq %d in %s at %d: %s", seq, blk.path, r.offset, exc)
                rec.suspects.append(Suspect(blk.path, r.offset, seq))
                return
        if entries is not None:
            entries += _entry_of_scanned(r)
            blk.entry_count += 1
        if rtype == T_MSG:
            # Any bytes, as they were published (the record's crc32 already vouches for them).
            subject = sys.intern(raw_subject.decode("utf-8", "surrogateescape"))
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

    def reset(self, floor: int, last_ts: int) -> Block:
        """Replace every block by one holding only a floor record (a purge of everything).

        The new block is written before the old ones go, so a crash in between
        keeps the sequence counter; on a full disk the old blocks go first to make
        room. Raises OSError when even that cannot be written.
        """
        old = list(self.by_index.values())
        parts, total = encode(T_FLOOR, floor, last_ts)
        blk = self._create(seal=False)
        try:
            self._write_synced(blk, parts)
        except OSError:
            self.delete(blk)
            for b in old:
                self.delete(b)
            blk = self._create(seal=False)
            self._write_synced(blk, parts)
            old = []
        blk.size, blk.has_meta = total, True
        for b in old:
            self.delete(b)
        return blk

    def _write_synced(self, blk: Block, parts: list[bytes]) -> None:
        fd = self._fds[blk.index]
        fsio.pwrite_all(fd, b"".join(parts), 0)
        os.fsync(fd)
        self.note_records(blk, 0, parts)

    def delete(self, blk: Block) -> None:
        """Close and unlink a block file and its index."""
        fd = self._fds.pop(blk.index, None)
        if fd is not None:
            os.close(fd)
        self.by_index.pop(blk.index, None)
        self._ranges = None
        blk.path.unlink(missing_ok=True)
        self.idx_path(blk).unlink(missing_ok=True)
        blk.punches.clear()
        self.dir_dirty = True

    def replace(self, blk: Block, records: list[bytes]) -> list[int]:
        """Replace ``blk``'s file by ``records`` concatenated; returns each record's offset.

        The copy is written whole, read back and compared, and fsynced before it
        takes the block's name; on any failure it is removed, ``blk`` is unchanged
        and the OSError is raised.
        """
        data = b"".join(records)
        offsets, pos = [], 0
        for r in records:
            offsets.append(pos)
            pos += len(r)
        tmp = blk.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            fsio.pwrite_all(fd, data, 0)
            os.fsync(fd)
            back = os.pread(fd, len(data) + 1, 0)
            if len(back) != len(data) or crc32(back) != crc32(data):
                raise OSError(5, f"copy of {blk.path} did not read back as written")
        except OSError:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        self.idx_path(blk).unlink(missing_ok=True)
        os.replace(tmp, blk.path)
        fsio.fsync_dir(self.directory)
        old = self._fds.pop(blk.index, None)
        if old is not None:
            os.close(old)
        self._fds[blk.index] = fd
        blk.size, blk.dirty, blk.freed = pos, False, 0
        blk.punches.clear()
        blk.entries = bytearray()
        blk.entry_count = 0
        for r, offset in zip(records, offsets, strict=True):
            blk.entries += entry_of_record(offset, r)
            blk.entry_count += 1
        if blk is not self.newest:
            self.seal(blk)
        return offsets

    def punch(self, blk: Block) -> int:
        """Free the pages of ``blk``'s pending dead ranges; returns bytes freed, -1 when unsupported."""
        fd = self.fd(blk)
        freed = 0
        while blk.punches:
            offset, length = blk.punches.pop()
            if not fsio.punch_hole(fd, offset, length):
                blk.punches.clear()
                return -1
            start = -(-offset // fsio.PAGE) * fsio.PAGE
            freed += max(0, (offset + length) // fsio.PAGE * fsio.PAGE - start)
        blk.freed += freed
        return freed

    def sync_block(self, blk: Block) -> None:
        """fsync ``blk`` when written since its last sync, and the directory when files changed.

        What must be on disk before another block may be deleted (see
        ``Reclaimer._delete_dead``); the other blocks wait for :meth:`sync`.
        """
        self._fsync([blk])

    def sync(self) -> None:
        """fsync every block written since the last sync, and the directory when files changed."""
        self._fsync(self.by_index.values())
        newest = self.newest
        for blk in self.by_index.values():
            if blk.entries is not None and blk is not newest:
                self.seal(blk)  # an index that could not be written at rollover

    def _fsync(self, blocks: Iterable[Block]) -> None:
        for blk in blocks:
            if blk.dirty:
                os.fsync(self.fd(blk))
                blk.dirty = False
        if self.dir_dirty:
            fsio.fsync_dir(self.directory)
            self.dir_dirty = False

    def close(self) -> None:
        """Write the index of every block (the newest one's covers what it holds now); close every fd."""
        for blk in self.by_index.values():
            self.seal(blk)
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def _entry_of_scanned(r: ScannedRecord) -> bytes:
    """The index entry of a record seen by a scan or read from an index."""
    head = HEADER.pack(*r.header)
    return index_entry(r.offset, head, bytes(r.subject), bytes(r.body))

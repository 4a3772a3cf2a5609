"""Per-block index files: what a recovery scan of a block would find, in one small file.

Why: recovery used to walk every record header of every block. On a cold page
cache each header is a random read, so a 5 GB store of 128 KiB object chunks
took one disk seek per chunk (7 s for 40,000 records here, minutes on a busy
disk). A block file never changes once the next block exists, so its scan
result can be written once, next to it, as ``<n>.idx``: recovery then reads
one small sequential file per block and only scans what no index covers.

An index is a cache, never the truth: it is written with a rename (no fsync
needed), checked with a crc32 over the whole file, and believed only when the
block is at least as long as the index says it covered. Whoever changes a
block in place (a rewrite, a truncation) deletes its index first, so an index
that exists always describes the block beside it. A missing, short or corrupt
index only costs a scan.

Layout (little endian)::

    magic "OIX1" | covered u64 | count u32 | entries ... | crc32 u32 (of all before it)
    entry: offset u32 | the record header without its crc (40 bytes) | subject | tombstone body

A sealed record's subject is copied as stored (its sealed segment). In an
encrypted stream the whole file is also sealed (:meth:`StoreCipher.seal_blob`,
purpose ``index <n>``); an index that does not open is only a rescan.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from orlop.crc import crc32
from orlop.store.cipher import SealError, StoreCipher
from orlop.store.records import HEADER_SIZE, T_TOMBS, Header, ScannedRecord, stored_subject_len

__all__ = ["entry_of_record", "index_entry", "read_index", "write_index"]

_MAGIC = b"OIX1"
_HEAD = struct.Struct("<4sQI")
_OFFSET = struct.Struct("<I")
_CRC = struct.Struct("<I")
_TAIL = struct.Struct("<IBBHIIqqq")  # the record header after its crc field


def index_entry(offset: int, head: bytes, subject: bytes, body: bytes) -> bytes:
    """The index entry of a record written at ``offset`` (``head`` is its 44-byte header)."""
    rtype = head[8]
    return _OFFSET.pack(offset) + head[4:HEADER_SIZE] + subject + (body if rtype == T_TOMBS else b"")


def entry_of_record(offset: int, record: bytes | memoryview) -> bytes:
    """The index entry of a whole record held in memory."""
    raw = bytes(record[:HEADER_SIZE])
    slen, hlen = struct.unpack_from("<HI", raw, 10)
    slen = stored_subject_len(raw[9], slen)
    subject = bytes(record[HEADER_SIZE : HEADER_SIZE + slen])
    body = bytes(record[HEADER_SIZE + slen + hlen :]) if raw[8] == T_TOMBS else b""
    return index_entry(offset, raw, subject, body)


def _purpose(path: Path) -> str:
    return f"index {path.stem}"


def write_index(
    path: Path, covered: int, count: int, entries: bytes | bytearray, cipher: StoreCipher | None = None
) -> None:
    """Write an index covering the block's first ``covered`` bytes, sealed with ``cipher``. Raises OSError."""
    data = bytearray(_HEAD.pack(_MAGIC, covered, count))
    data += entries
    data += _CRC.pack(crc32(data))
    out = bytes(data) if cipher is None else cipher.seal_blob(_purpose(path), bytes(data))
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(out)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def read_index(
    path: Path, cipher: StoreCipher | None = None
) -> tuple[int, list[ScannedRecord], bytes] | None:
    """(covered bytes, records, raw entries) of a valid index; None when missing.

    Raises ValueError (with the reason) when the file exists but cannot be believed
    (SealError, a ValueError, when it does not open with ``cipher``).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"unreadable: {exc.strerror}") from exc
    if cipher is not None:
        try:
            data = cipher.open_blob(_purpose(path), data)
        except SealError as exc:
            raise ValueError(f"sealed index did not open: {exc}") from exc
    if len(data) < _HEAD.size + _CRC.size or data[:4] != _MAGIC:
        raise ValueError("not an index file")
    if crc32(memoryview(data)[:-4]) != _CRC.unpack_from(data, len(data) - 4)[0]:
        raise ValueError("checksum mismatch")
    _, covered, count = _HEAD.unpack_from(data)
    records: list[ScannedRecord] = []
    pos, end = _HEAD.size, len(data) - 4
    start = pos
    for _ in range(count):
        if pos + 4 + _TAIL.size > end:
            raise ValueError("truncated entry")
        offset = _OFFSET.unpack_from(data, pos)[0]
        tail = _TAIL.unpack_from(data, pos + 4)
        header: Header = (0, *tail)
        total, rtype, slen, hlen = tail[0], tail[1], stored_subject_len(tail[2], tail[3]), tail[4]
        pos += 4 + _TAIL.size
        subject = data[pos : pos + slen]
        pos += slen
        body = b""
        if rtype == T_TOMBS:
            blen = total - HEADER_SIZE - slen - hlen
            body = data[pos : pos + blen]
            pos += blen
        if pos > end or offset + total > covered:
            raise ValueError("entry outside the covered range")
        records.append(ScannedRecord(offset, header, subject, body, True))
    if pos != end:
        raise ValueError("trailing bytes")
    return covered, records, data[start:end]

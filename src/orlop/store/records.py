"""The on-disk record format of the file engine, and a scanner for block files.

A block file is a plain sequence of records; nothing else. Each record is::

    offset size field
    0      4    crc32 (zlib) of bytes 4..end of the record
    4      4    total record length, header included
    8      1    type: 1 message, 2 tombstones, 3 skip, 4 floor
    9      1    flags: bit 0 = payload is a raw Snappy block; bit 1 = sealed (encrypted)
    10     2    subject length
    12     4    header length
    16     4    uncompressed payload length (for accounting without reading the payload)
    20     8    seq   (message seq; skip: next seq; floor: lowest seq that may be live)
    28     8    ts    (Unix ns; floor/skip: last_ts of the stream when written)
    36     8    ttl   (ns; 0 none, -1 never)
    44     ..   subject, header block, payload (tombstones: little-endian u64 seqs)

Why these choices: one checksum per record covers header and payload, so a
load verifies exactly the bytes it returns (zlib.crc32 runs at memory speed
here, so there is no reason for a second hash dependency). The fixed 44-byte
header carries every index field, so recovery reads headers and subjects only,
never payloads. Compression ("s2" streams) stores the payload as a raw Snappy
block — S2 decoders accept Snappy, and cramjam ships Snappy but not S2 — and
only when it actually shrinks the payload; the flag bit says which.

Sealed message records (encryption at rest, :mod:`orlop.store.cipher`) keep
the header in clear with the *plaintext* lengths, and store the subject as one
AEAD segment (``subject length + SEAL_OVERHEAD`` bytes) and the header block
and payload together as a second one; :func:`stored_subject_len` says how many
bytes follow the header before the rest.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from orlop.crc import crc32
from orlop.store.cipher import SEAL_OVERHEAD, BlockKeys

__all__ = [
    "F_SEALED",
    "F_SNAPPY",
    "HEADER",
    "HEADER_SIZE",
    "T_FLOOR",
    "T_MSG",
    "T_SKIP",
    "T_TOMBS",
    "BlockScan",
    "Header",
    "ScannedRecord",
    "encode",
    "encode_msg",
    "encode_sealed_msg",
    "pack_seqs",
    "record_aad",
    "stored_subject_len",
    "unpack_seqs",
    "verify",
]

HEADER = struct.Struct("<IIBBHIIqqq")
HEADER_SIZE = HEADER.size
T_MSG, T_TOMBS, T_SKIP, T_FLOOR = 1, 2, 3, 4
F_SNAPPY = 1
F_SEALED = 2
_MAX_SUBJECT = 0xFFFF
_SMALL_READ, _BIG_READ = 512, 65536
_RESYNC_READ = 1 << 20
# Where a record could begin: a known type byte at +8 followed by a flags byte of 0 to 3.
# The regex engine walks the bytes in C; each hit is then checked in full (header, crc).
_CANDIDATE = re.compile(rb"(?s)(?=.{8}[\x01-\x04][\x00-\x03])")

Header = tuple[int, int, int, int, int, int, int, int, int, int]
"""crc, total, type, flags, subject_len, hdr_len, data_len, seq, ts, ttl."""


def encode(
    rtype: int,
    seq: int,
    ts: int,
    *,
    subject: bytes = b"",
    hdr: bytes = b"",
    body: bytes = b"",
    flags: int = 0,
    data_len: int | None = None,
    ttl: int = 0,
) -> tuple[list[bytes], int]:
    """The buffers of one record (for ``os.pwritev``) and its total length.

    Raises ValueError for a subject longer than 65535 bytes.
    """
    if len(subject) > _MAX_SUBJECT:
        raise ValueError("subject too long for the record format")
    total = HEADER_SIZE + len(subject) + len(hdr) + len(body)
    dlen = len(body) if data_len is None else data_len
    head = bytearray(HEADER.pack(0, total, rtype, flags, len(subject), len(hdr), dlen, seq, ts, ttl))
    crc = crc32(memoryview(head)[4:])
    for part in (subject, hdr, body):
        if part:
            crc = crc32(part, crc)
    struct.pack_into("<I", head, 0, crc)
    return [bytes(head), subject, hdr, body], total


_TAIL = struct.Struct("<IBBHIIqqq")  # HEADER without its leading crc field
_CRC = struct.Struct("<I")


def encode_msg(
    seq: int, ts: int, subject: bytes, hdr: bytes, body: bytes, flags: int, data_len: int, ttl: int
) -> tuple[list[bytes], int]:
    """:func:`encode` for a message record, shaped for the publish path (same bytes).

    One checksum pass over the record (chained over its parts), no intermediate
    buffers. Raises ValueError for a subject longer than 65535 bytes.
    """
    slen = len(subject)
    if slen > _MAX_SUBJECT:
        raise ValueError("subject too long for the record format")
    total = HEADER_SIZE + slen + len(hdr) + len(body)
    tail = _TAIL.pack(total, T_MSG, flags, slen, len(hdr), data_len, seq, ts, ttl)
    crc = crc32(body, crc32(hdr, crc32(subject, crc32(tail))))
    return [_CRC.pack(crc) + tail, subject, hdr, body], total


def stored_subject_len(flags: int, slen: int) -> int:
    """Bytes the subject takes in a record of these flags (a sealed subject carries nonce and tag)."""
    return slen + SEAL_OVERHEAD if flags & F_SEALED else slen


def record_aad(header: Header) -> bytes:
    """The associated data of a sealed record: its header without the crc field."""
    return _TAIL.pack(*header[1:])


def encode_sealed_msg(
    keys: BlockKeys,
    seq: int,
    ts: int,
    subject: bytes,
    hdr: bytes,
    body: bytes,
    flags: int,
    data_len: int,
    ttl: int,
) -> tuple[list[bytes], int]:
    """:func:`encode_msg` with subject, headers and payload sealed by ``keys`` (flag F_SEALED).

    The header records the plaintext lengths and is bound into both segments.
    Raises ValueError for a subject longer than 65535 bytes.
    """
    slen = len(subject)
    if slen > _MAX_SUBJECT:
        raise ValueError("subject too long for the record format")
    flags |= F_SEALED
    total = HEADER_SIZE + slen + len(hdr) + len(body) + 2 * SEAL_OVERHEAD
    tail = _TAIL.pack(total, T_MSG, flags, slen, len(hdr), data_len, seq, ts, ttl)
    sealed_subject, nonce, sealed_rest = keys.seal_msg(tail, subject, hdr, body)
    crc = crc32(sealed_rest, crc32(nonce, crc32(sealed_subject, crc32(tail))))
    # Four parts like every record (head, subject, ..., ...): the index reads parts 0 and 1 only.
    return [_CRC.pack(crc) + tail, sealed_subject, nonce, sealed_rest], total


def verify(record: bytes) -> bool:
    """True when a whole record's checksum matches."""
    return len(record) >= HEADER_SIZE and crc32(memoryview(record)[4:]) == struct.unpack_from("<I", record)[0]


def pack_seqs(seqs: list[int]) -> bytes:
    """Tombstone body."""
    return struct.pack(f"<{len(seqs)}Q", *seqs)


def unpack_seqs(body: bytes) -> list[int]:
    """Seqs of a tombstone body."""
    return list(struct.unpack(f"<{len(body) // 8}Q", body))


def _structurally_valid(h: Header, offset: int, file_size: int) -> bool:
    _, total, rtype, flags, slen, hlen, dlen, seq, _, _ = h
    body = total - HEADER_SIZE - slen - hlen
    if rtype not in (T_MSG, T_TOMBS, T_SKIP, T_FLOOR) or body < 0 or offset + total > file_size:
        return False
    if rtype == T_MSG:
        if flags & F_SEALED:
            body -= 2 * SEAL_OVERHEAD
            if body < 0:
                return False
        return seq > 0 and flags <= F_SNAPPY | F_SEALED and (flags & F_SNAPPY != 0 or body == dlen)
    if rtype == T_TOMBS:
        return slen == 0 and hlen == 0 and body % 8 == 0
    return slen == 0 and hlen == 0 and body == 0


@dataclass(slots=True)
class ScannedRecord:
    """One record seen by :class:`BlockScan`. ``body`` is read for tombstones only.

    ``ok`` is False when the record was checksummed (it lies in the verified
    tail) and failed.
    """

    offset: int
    header: Header
    subject: bytes
    body: bytes
    ok: bool


class BlockScan:
    """Walk a block file's records, reading headers and subjects, never payloads.

    Records whose end lies within ``verify_tail`` bytes of the end of the file
    are read whole and checksummed. The walk begins at ``start`` (a record
    boundary). A structurally invalid record is skipped over when a record with
    a valid header *and* checksum follows it, from which valid headers lead to the
    end of the file (the damaged span is noted in ``skipped`` as ``(start, end)``),
    so one damaged header costs the records in that span, not the rest of the block. Iteration stops at an
    invalid or incomplete record that nothing valid follows (a torn tail);
    ``end`` is then the offset where valid data ends and ``error`` says why
    (None after a clean walk). ``bytes_read`` and ``reads`` count the IO done.
    """

    def __init__(self, fd: int, size: int, verify_tail: int, start: int = 0) -> None:
        self.fd = fd
        self.size = size
        self.verify_from = size - verify_tail
        self.start = start
        self.end = start
        self.error: str | None = None
        self.skipped: list[tuple[int, int]] = []
        self.bytes_read = 0
        self.reads = 0

    def _fill(self, offset: int, size: int) -> bytes:
        buf = os.pread(self.fd, size, offset)
        self.reads += 1
        self.bytes_read += len(buf)
        return buf

    def __iter__(self) -> Iterator[ScannedRecord]:
        # Hot loop of recovery: plain bytes + offsets, no memoryview slices per record.
        offset, hint, buf, base = self.start, _BIG_READ, b"", self.start
        unpack, size = HEADER.unpack_from, self.size
        unverified = -1  # offset of the previous record when its checksum was not read
        while offset < size:
            rel = offset - base
            if rel + HEADER_SIZE > len(buf):
                buf, base, rel = self._fill(offset, hint), offset, 0
            h: Header | None = unpack(buf, rel) if rel + HEADER_SIZE <= len(buf) else None
            if h is None or not _structurally_valid(h, offset, size):
                # The previous record's length may be what is damaged: look from just past its header.
                found = self._resync(unverified + HEADER_SIZE if unverified >= 0 else offset + 1)
                if found < 0:
                    self.error = "incomplete record header" if h is None else "invalid or incomplete record"
                    break
                self.skipped.append((offset, found))
                offset, buf, base, unverified = found, b"", found, -1
                continue
            total, rtype, slen = h[1], h[2], h[4]
            if h[3] & F_SEALED:
                slen += SEAL_OVERHEAD
            whole = offset + total > self.verify_from or rtype == T_TOMBS
            need = total if whole else HEADER_SIZE + slen
            if rel + need > len(buf):
                buf, base, rel = self._fill(offset, max(need, hint)), offset, 0
            ok = not whole or crc32(memoryview(buf)[rel + 4 : rel + total]) == h[0]
            start = rel + HEADER_SIZE
            subject = buf[start : start + slen]
            body = buf[start + slen + h[5] : rel + total] if rtype == T_TOMBS else b""
            yield ScannedRecord(offset, h, subject, body, ok)
            unverified = -1 if whole else offset
            offset += total
            hint = _BIG_READ if total < 8192 else _SMALL_READ
        self.end = offset

    def _resync(self, start: int) -> int:
        """Offset of the first record at or after ``start`` whose header and checksum are valid, or -1."""
        pos = start
        while pos + HEADER_SIZE <= self.size:
            chunk = self._fill(pos, _RESYNC_READ + HEADER_SIZE)
            for m in _CANDIDATE.finditer(chunk):
                i = m.start()
                if i >= _RESYNC_READ or i + HEADER_SIZE > len(chunk):
                    break
                h: Header = HEADER.unpack_from(chunk, i)
                if not _structurally_valid(h, pos + i, self.size):
                    continue
                whole = chunk[i : i + h[1]] if i + h[1] <= len(chunk) else self._fill(pos + i, h[1])
                if crc32(memoryview(whole)[4:]) == h[0] and self._chains_to_end(pos + i):
                    return pos + i
            pos += _RESYNC_READ
        return -1

    def _chains_to_end(self, offset: int) -> bool:
        """True when valid headers lead from ``offset`` exactly to the end of the file.

        A block's records always run to its end, so this tells a real record after a
        damaged span from one that only looks real inside a torn record's payload (an
        object that holds a block file of its own): such a chain stops mid-record.
        """
        buf, base = b"", offset
        while offset < self.size:
            if offset + HEADER_SIZE > base + len(buf):
                buf, base = self._fill(offset, _BIG_READ), offset
                if len(buf) < HEADER_SIZE:
                    return False
            h: Header = HEADER.unpack_from(buf, offset - base)
            if not _structurally_valid(h, offset, self.size):
                return False
            offset += h[1]
        return offset == self.size

"""The stream's high-water mark, kept apart from the block files.

Why: the blocks alone say which sequence was last written only while their
tail is intact. If the end of the newest block is cut off (a torn write on
power loss, a truncated copy, a damaged disk), a scan finds a lower last
sequence, and the next publish would be handed a sequence number that was
already acknowledged. Consumers, KV revisions and object revisions all rely
on a sequence never being reused, so the file engine also records
(last seq, last timestamp, floor) here at every sync and at close, and
recovery takes the higher of this and what the blocks say (as nats-server
keeps its stream state in ``index.db``).

Layout: magic ``OST1`` | last_seq u64 | last_ts i64 | floor u64 | crc32 u32;
in an encrypted stream that whole layout is sealed (purpose ``stream state``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from orlop.crc import crc32
from orlop.store import fsio
from orlop.store.cipher import SealError, StoreCipher

__all__ = ["SeqState", "read_state", "write_state"]

_FORMAT = struct.Struct("<4sQqQ")
_CRC = struct.Struct("<I")
_MAGIC = b"OST1"
FILE_NAME = "stream.state"


@dataclass(frozen=True, slots=True)
class SeqState:
    """What the stream had reached when the state was written."""

    last_seq: int
    last_ts: int
    floor: int


_PURPOSE = "stream state"


def write_state(directory: Path, state: SeqState, cipher: StoreCipher | None = None) -> None:
    """Write the state durably (temp file, fsync, rename), sealed with ``cipher``. Raises OSError."""
    body = _FORMAT.pack(_MAGIC, state.last_seq, state.last_ts, state.floor)
    data = body + _CRC.pack(crc32(body))
    fsio.atomic_write(directory / FILE_NAME, data if cipher is None else cipher.seal_blob(_PURPOSE, data))


def read_state(directory: Path, cipher: StoreCipher | None = None) -> SeqState | None:
    """The recorded state; None when there is none. Raises ValueError when it is damaged.

    A plaintext state file is still read in an encrypted stream (one being converted).
    """
    try:
        data = (directory / FILE_NAME).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"unreadable: {exc.strerror}") from exc
    if cipher is not None and data[:4] != _MAGIC:
        try:
            data = cipher.open_blob(_PURPOSE, data)
        except SealError as exc:
            raise ValueError(f"sealed state did not open: {exc}") from exc
    if len(data) != _FORMAT.size + _CRC.size:
        raise ValueError("wrong length")
    body = data[: _FORMAT.size]
    if crc32(body) != _CRC.unpack_from(data, _FORMAT.size)[0]:
        raise ValueError("checksum mismatch")
    magic, last_seq, last_ts, floor = _FORMAT.unpack(body)
    if magic != _MAGIC:
        raise ValueError("not a stream state file")
    return SeqState(last_seq, last_ts, floor)

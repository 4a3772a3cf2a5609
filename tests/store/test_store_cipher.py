"""The file engine with a StoreCipher (encryption at rest): what is sealed, and what a change on disk does.

The conformance suite already runs every store behaviour over the ``file-encrypted``
engine; these tests look at the files themselves.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from pathlib import Path

import pytest

from orlop.store.base import StoreLimits
from orlop.store.cipher import SealError, StoreCipher
from orlop.store.file import FileStore
from orlop.store.records import F_SEALED

SEED = bytes(range(32))
SUBJECT = "orders.zqsecretsubject"
PAYLOAD = b"zqsecretpayload" * 300
HDR = b"NATS/1.0\r\nX-Zq: zqsecretheader\r\n\r\n"


def cipher(name: str = "chachapoly", seed: bytes = SEED) -> StoreCipher:
    return StoreCipher(name, seed)


def all_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


@pytest.mark.parametrize("name", ["chachapoly", "aes"])
def test_no_plaintext_in_blocks_index_or_state(tmp_path: Path, name: str) -> None:
    s = FileStore(tmp_path, StoreLimits(), cipher=cipher(name), block_size=4096)
    for i in range(20):
        s.store_msg(f"{SUBJECT}.{i}", HDR, PAYLOAD + b"%d" % i)
    s.close()
    assert len(list(tmp_path.glob("*.idx"))) > 1  # sealed blocks got their index files
    raw = all_bytes(tmp_path)
    for secret in (b"zqsecretsubject", b"zqsecretpayload", b"zqsecretheader", b"orders"):
        assert secret not in raw
    s = FileStore(tmp_path, StoreLimits(), cipher=cipher(name), block_size=4096)
    assert "through their index" in s.recovery_note and " 0 of" not in s.recovery_note
    msg = s.load(7)
    assert msg is not None and (msg.subject, msg.hdr, msg.data) == (f"{SUBJECT}.6", HDR, PAYLOAD + b"6")
    assert s.state().msgs == 20
    s.close()


def test_plaintext_records_stay_readable_beside_sealed_ones(tmp_path: Path) -> None:
    """A store part way through conversion holds both kinds; the flag of each record decides."""
    s = FileStore(tmp_path, StoreLimits())
    s.store_msg("a", b"", b"plain")
    s.close()
    s = FileStore(tmp_path, StoreLimits(), cipher=cipher())
    s.store_msg("b", b"", b"sealed")
    s.close()
    s = FileStore(tmp_path, StoreLimits(), cipher=cipher())
    assert [m.data for m in (s.load(1), s.load(2)) if m is not None] == [b"plain", b"sealed"]
    s.close()


def test_wrong_key_serves_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = FileStore(tmp_path, StoreLimits(), cipher=cipher())
    s.store_msg("a", b"", b"x" * 100)
    s.close()
    for idx in tmp_path.glob("*.idx"):
        idx.unlink()
    with caplog.at_level(logging.WARNING):
        s = FileStore(tmp_path, StoreLimits(), cipher=cipher(seed=b"\x01" * 32))
    assert s.state().msgs == 0  # the subject did not open: the record is not indexed at all
    assert "corrupt record" in caplog.text
    s.close()


def _sealed_record(tmp_path: Path, seq: int) -> tuple[Path, bytearray, int, int]:
    blk = next(tmp_path.glob("*.blk"))
    data = bytearray(blk.read_bytes())
    offset = 0
    while True:
        total = struct.unpack_from("<I", data, offset + 4)[0]
        if struct.unpack_from("<q", data, offset + 20)[0] == seq:
            assert data[offset + 9] & F_SEALED
            return blk, data, offset, total
        offset += total


def _fix_crc(data: bytearray, offset: int, total: int) -> None:
    struct.pack_into("<I", data, offset, zlib.crc32(bytes(data[offset + 4 : offset + total])))


@pytest.mark.parametrize("where", ["payload", "seq in the header", "timestamp in the header"])
def test_a_changed_sealed_record_is_not_served(tmp_path: Path, where: str) -> None:
    s = FileStore(tmp_path, StoreLimits(), cipher=cipher())
    for i in range(3):
        s.store_msg("a", b"", bytes([i]) * 500)
    s.close()
    blk, data, offset, total = _sealed_record(tmp_path, 2)
    if where == "payload":
        data[offset + total - 100] ^= 0x40
    elif where == "timestamp in the header":
        struct.pack_into("<q", data, offset + 28, struct.unpack_from("<q", data, offset + 28)[0] + 1)
    else:  # a record moved to another seq: its header is bound into both sealed segments
        struct.pack_into("<q", data, offset + 20, 9)
    _fix_crc(data, offset, total)  # so only the AEAD can tell
    blk.write_bytes(bytes(data))
    for idx in tmp_path.glob("*.idx"):
        idx.unlink()
    s = FileStore(tmp_path, StoreLimits(), cipher=cipher())
    got = s.load(1)
    assert got is not None and got.data == b"\x00" * 500
    assert s.load(2) is None and s.load(9) is None
    got = s.load(3)
    assert got is not None and got.data == b"\x02" * 500
    s.close()


def test_punched_sealed_records_keep_the_block_walkable(tmp_path: Path) -> None:
    s = FileStore(tmp_path, StoreLimits(), cipher=cipher())
    big = os.urandom(64 * 1024)
    for i in range(6):
        s.store_msg(f"big.{i}", b"", big)
    s.remove(2)
    s.remove(4)
    s.sync()  # removal records synced, the dead pages punched out
    s.close()
    for idx in tmp_path.glob("*.idx"):
        idx.unlink()  # force a scan over the punched records
    s = FileStore(tmp_path, StoreLimits(), cipher=cipher())
    assert sorted(s.subjects()) == ["big.0", "big.2", "big.4", "big.5"]
    for seq in (1, 3, 5, 6):
        m = s.load(seq)
        assert m is not None and m.data == big
    s.close()


def test_compressed_and_sealed(tmp_path: Path) -> None:
    s = FileStore(tmp_path, StoreLimits(compression="s2"), cipher=cipher())
    s.store_msg("z", b"", b"zqsecretpayload" * 10_000)
    s.close()
    raw = (next(tmp_path.glob("*.blk"))).read_bytes()
    assert len(raw) < 20_000 and b"zqsecret" not in raw
    s = FileStore(tmp_path, StoreLimits(compression="s2"), cipher=cipher())
    m = s.load(1)
    assert m is not None and m.data == b"zqsecretpayload" * 10_000
    s.close()


def test_sealed_files_are_bound_to_their_purpose() -> None:
    c = cipher()
    blob = c.seal_blob("consumer state a", b'{"x":1}')
    assert c.open_blob("consumer state a", blob) == b'{"x":1}'
    with pytest.raises(SealError):
        c.open_blob("consumer state b", blob)
    with pytest.raises(SealError):
        cipher(seed=b"\x02" * 32).open_blob("consumer state a", blob)

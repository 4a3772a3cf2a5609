"""The file engine on a really full disk (small tmpfs mounts): nothing stored is ever lost, space comes back.

The failure these guard against: a compaction on a full disk replaced a block by
a short copy, and every object in it was gone after the next restart.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from orlop.errors import DiskFullError
from orlop.store import FileStore, StoreLimits
from orlop.store.blocks import BlockSet
from orlop.store.reclaim import PUNCH_AT_ONCE, PUNCH_BATCH

KIB = 1024
MIB = 1024 * KIB


def mount_tmpfs(d: Path, size: str) -> None:
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], check=True)


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs mount (tests run as root here; ``make test`` relies on it, nothing skips)."""
    d = tmp_path / "tiny"
    mount_tmpfs(d, "8m")
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


def fill(d: Path, leave: int = 0) -> Path:
    """Write a filler file until at most ``leave`` bytes are free; returns it."""
    filler = d / "filler"
    with open(filler, "wb") as f:
        chunk = b"\0" * (64 * KIB)
        try:
            while os.statvfs(d).f_bavail * os.statvfs(d).f_frsize > leave + len(chunk):
                f.write(chunk)
                f.flush()
            tail = os.statvfs(d).f_bavail * os.statvfs(d).f_frsize - leave
            if tail > 0:
                f.write(b"\0" * tail)
        except OSError:
            pass
    return filler


def used(d: Path) -> int:
    st = os.statvfs(d)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def payload(i: int, size: int) -> bytes:
    return (b"%08d" % i) * (size // 8)


def test_replace_on_a_full_disk_keeps_the_old_block(tiny: Path) -> None:
    blocks = BlockSet(tiny / "st", 64 * MIB, logging.getLogger("test"))
    s = FileStore(tiny / "st", StoreLimits())
    for i in range(20):
        s.store_msg("x", b"", payload(i, 100 * KIB))
    s.close()
    blocks.recover(lambda *a: None)
    (blk,) = blocks.by_index.values()
    before = blk.path.read_bytes()
    fill(tiny, leave=50 * KIB)
    with pytest.raises(OSError):
        blocks.replace(blk, [before[: 1 * MIB], before[1 * MIB :]])  # a copy that cannot fit
    assert blk.path.read_bytes() == before
    assert not list((tiny / "st").glob("*.tmp"))
    blocks.close()


def test_deletes_on_a_full_disk_give_space_back_at_once(tiny: Path) -> None:
    s = FileStore(tiny / "st", StoreLimits())
    stored = 0
    with pytest.raises(DiskFullError):
        for i in range(200):
            s.store_msg(f"obj.{i % 2}", b"", payload(i, 128 * KIB))
            stored += 1
    full = used(tiny)
    gone = s.purge("obj.0")  # half of the bytes, spread over the whole block
    assert gone * 128 * KIB >= PUNCH_BATCH
    freed = full - used(tiny)
    # Each record keeps the partial pages at its two ends (~4 KiB of 128 KiB) until its block goes.
    assert freed > 0.9 * gone * 128 * KIB, (freed, gone)
    again = int(gone * 0.9)
    for i in range(again):  # about as many new bytes fit again
        s.store_msg("new", b"", payload(i, 128 * KIB))
    kept = [q for q in range(1, stored + 1) if q % 2 == 0]
    for seq in kept:
        assert s.load(seq).data == payload(seq - 1, 128 * KIB)  # type: ignore[union-attr]
    s.close()
    s = FileStore(tiny / "st", StoreLimits())
    assert s.state().msgs == len(kept) + again
    for seq in kept:
        assert s.load(seq).data == payload(seq - 1, 128 * KIB)  # type: ignore[union-attr]
    s.close()


def test_one_deleted_object_is_punched_at_once(tiny: Path) -> None:
    """Below the batch size: a single removal of PUNCH_AT_ONCE or more (an object's chunks) frees
    its pages at once, not at the next batch or sync."""
    s = FileStore(tiny / "st", StoreLimits())
    for i in range(6):
        s.store_msg(f"obj.{i}", b"", payload(i, 160 * KIB))
    before = used(tiny)
    assert s.purge("obj.2") == 1 and 160 * KIB >= PUNCH_AT_ONCE and 160 * KIB < PUNCH_BATCH
    assert before - used(tiny) > 140 * KIB
    s.close()


def test_compaction_without_room_keeps_the_block_and_retries(
    tiny: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Small records (no page to punch) need a rewrite, and a rewrite needs room: it waits for it."""
    s = FileStore(tiny / "st", StoreLimits(), block_size=4 * MIB)
    for i in range(3000):
        s.store_msg("keep" if i % 4 == 0 else "drop", b"", payload(i, 1000))
    filler = fill(tiny, leave=100 * KIB)
    with caplog.at_level(logging.WARNING):
        s.purge("drop")
    kept = [q for q in range(1, 3001) if (q - 1) % 4 == 0]
    assert all(s.load(q).data == payload(q - 1, 1000) for q in kept)  # type: ignore[union-attr]
    assert not list((tiny / "st").glob("*.tmp"))
    before = s.allocated_bytes()
    filler.unlink()
    s.sync()  # room again: the postponed compaction runs
    assert s.allocated_bytes() < before / 2
    assert all(s.load(q).data == payload(q - 1, 1000) for q in kept)  # type: ignore[union-attr]
    s.close()
    s = FileStore(tiny / "st", StoreLimits(), block_size=4 * MIB)
    assert s.state().msgs == len(kept)
    assert all(s.load(q).data == payload(q - 1, 1000) for q in kept)  # type: ignore[union-attr]
    s.close()


def test_removal_that_cannot_be_recorded_is_retried(tiny: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = FileStore(tiny / "st", StoreLimits(), punch=False)
    for i in range(10):  # records of exactly three pages: the block ends on a page boundary
        s.store_msg(f"s.{i}", b"", b"r" * (3 * 4096 - 44 - 3))
    filler = fill(tiny, leave=0)
    with caplog.at_level(logging.WARNING):
        assert s.remove(3)  # the tombstone cannot be written: the removal holds in memory
    assert "not yet recorded on disk" in caplog.text
    assert s.load(3) is None
    filler.unlink()
    s.sync()  # now it is written
    s.close()
    s = FileStore(tiny / "st", StoreLimits(), punch=False)
    assert s.load(3) is None and s.state().msgs == 9
    s.close()


def test_appends_into_a_disk_filled_by_others_refuse_and_keep_everything(tiny: Path) -> None:
    s = FileStore(tiny / "st", StoreLimits(), block_size=1 * MIB)
    for i in range(20):
        s.store_msg("a", b"", payload(i, 50 * KIB))
    filler = fill(tiny, leave=20 * KIB)
    with pytest.raises(DiskFullError):
        for i in range(20, 40):
            s.store_msg("a", b"", payload(i, 50 * KIB))
    last = s.state().last_seq
    s.close()
    filler.unlink()
    s = FileStore(tiny / "st", StoreLimits(), block_size=1 * MIB)
    assert s.state().last_seq == last
    assert all(s.load(q).data == payload(q - 1, 50 * KIB) for q in range(1, last + 1))  # type: ignore[union-attr]
    s.close()


def test_a_batch_that_does_not_fit_on_the_disk_leaves_no_record(tiny: Path) -> None:
    """store_msgs writes a whole batch at once: on a full disk none of it is stored, now or after restart."""
    s = FileStore(tiny / "st", StoreLimits())
    s.store_msgs([("a", b"", payload(i, 10 * KIB), 0) for i in range(10)])
    filler = fill(tiny, leave=200 * KIB)
    batch = [("b", b"", payload(i, 10 * KIB), 0) for i in range(100)]  # 1 MiB, about 200 KiB free
    with pytest.raises(DiskFullError):
        s.store_msgs(batch)
    assert s.state().msgs == 10 and s.state().last_seq == 10
    s.close()
    filler.unlink()
    s = FileStore(tiny / "st", StoreLimits())
    assert (s.state().msgs, s.state().last_seq) == (10, 10)
    assert s.subjects() == {"a": 10}
    assert [m.seq for m in s.store_msgs(batch)] == list(range(11, 111))  # room again: the whole batch goes in
    assert s.load(110).data == payload(99, 10 * KIB)  # type: ignore[union-attr]
    s.close()

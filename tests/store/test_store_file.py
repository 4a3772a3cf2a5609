"""FileStore-only behaviour: recovery, corruption, compaction, IO economy, durability, full disk."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from orlop.errors import DiskFullError
from orlop.store import FileStore, StoreLimits
from orlop.store.core import file_msg_size
from orlop.store.records import HEADER_SIZE, encode_msg
from orlop.store.testing import FakeClock

KIB = 1024


def blocks(d: Path) -> list[Path]:
    return sorted(d.glob("*.blk"))


def disk_bytes(d: Path) -> int:
    """Apparent size of the block files (index and state files are small metadata)."""
    return sum(p.stat().st_size for p in d.glob("*.blk"))


def allocated(d: Path) -> int:
    """Bytes the block files really occupy (punched holes excluded), as ``du`` counts them."""
    return sum(p.stat().st_blocks * 512 for p in d.glob("*.blk"))


def record_len(subject: str, hdr: bytes, data: bytes) -> int:
    return HEADER_SIZE + len(subject) + len(hdr) + len(data)


def test_restart_keeps_messages_tombstones_and_sequence(tmp_path: Path) -> None:
    clock = FakeClock()
    s = FileStore(tmp_path, StoreLimits(), clock=clock, block_size=4 * KIB)
    for i in range(100):
        s.store_msg(f"sub.{i % 7}", b"NATS/1.0\r\nI: %d\r\n\r\n" % i, bytes([i]) * 300)
    for seq in (5, 50, 51, 99):
        assert s.remove(seq)
    s.purge("sub.3")
    before = s.state()
    subjects = s.subjects()
    assert len(blocks(tmp_path)) > 5
    s.close()
    s = FileStore(tmp_path, StoreLimits(), clock=clock, block_size=4 * KIB)
    assert s.state() == before
    assert s.subjects() == subjects
    for seq in (5, 50, 51, 99, 4):
        assert s.load(seq) is None
    m = s.load(7)
    assert m is not None and m.data == bytes([6]) * 300 and m.hdr == b"NATS/1.0\r\nI: 6\r\n\r\n"
    assert s.store_msg("new", b"", b"").seq == 101
    s.close()


def test_torn_tail_is_truncated_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = FileStore(tmp_path, StoreLimits())
    for i in range(10):
        s.store_msg("t", b"", b"%d" % i * 100)
    s.close()
    (blk,) = blocks(tmp_path)
    good = blk.stat().st_size - record_len("t", b"", b"9" * 100)
    with open(blk, "r+b") as f:
        f.truncate(good + 30)  # the last record is cut in the middle of its payload
    with caplog.at_level(logging.WARNING):
        s = FileStore(tmp_path, StoreLimits())
    assert any("truncated" in r.getMessage() for r in caplog.records)
    assert any("seqs 10-10 are lost" in r.getMessage() for r in caplog.records)
    assert blk.stat().st_size == good
    st = s.state()
    # Seq 10 was handed out once: it is lost, and never handed out again (as nats-server).
    assert (st.msgs, st.last_seq) == (9, 10)
    assert s.load(10) is None
    assert s.store_msg("t", b"", b"after").seq == 11
    s.close()
    s = FileStore(tmp_path, StoreLimits())
    assert s.load(11).data == b"after"  # type: ignore[union-attr]
    assert s.state().last_seq == 11
    s.close()


def test_torn_tail_after_a_crash_keeps_the_synced_high_water_mark(tmp_path: Path) -> None:
    """A crash (no close) after a sync: the state written at the sync still guards the sequence."""
    s = FileStore(tmp_path, StoreLimits())
    for i in range(5):
        s.store_msg("t", b"", b"%d" % i * 100)
    s.sync()
    (blk,) = blocks(tmp_path)
    os.truncate(blk, blk.stat().st_size - 7)  # the newest record is damaged while the process still runs
    del s  # never closed: no index and no state written at close
    s = FileStore(tmp_path, StoreLimits())
    assert (s.state().msgs, s.state().last_seq) == (4, 5)
    assert s.store_msg("t", b"", b"x").seq == 6
    s.close()


def test_torn_tail_with_bad_checksum_is_truncated(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = FileStore(tmp_path, StoreLimits())
    for _ in range(3):
        s.store_msg("t", b"", b"x" * 50)
    s.close()
    (blk,) = blocks(tmp_path)
    with open(blk, "r+b") as f:
        f.seek(-5, os.SEEK_END)
        f.write(b"\0\0\0\0\0")  # payload bytes never reached the disk
    with caplog.at_level(logging.WARNING):
        s = FileStore(tmp_path, StoreLimits())
    assert any("torn" in r.getMessage() for r in caplog.records)
    assert s.state().msgs == 2
    s.close()


def flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def test_corrupt_record_found_at_open_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = FileStore(tmp_path, StoreLimits())
    for i in range(5):
        s.store_msg("c", b"", bytes([65 + i]) * 100)
    s.close()
    (blk,) = blocks(tmp_path)
    rec = record_len("c", b"", b"A" * 100)
    flip(blk, 2 * rec + HEADER_SIZE + 10)  # payload of seq 3
    with caplog.at_level(logging.WARNING):
        s = FileStore(tmp_path, StoreLimits())
    assert any("corrupt" in r.getMessage() for r in caplog.records)
    assert s.load(3) is None
    assert [m.seq for m in (s.load_next("c", 1), s.load_next("c", 3)) if m] == [1, 4]
    st = s.state()
    assert (st.msgs, st.last_seq, st.deleted) == (4, 5, [3])
    s.close()


def test_corrupt_record_found_on_load_is_never_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = FileStore(tmp_path, StoreLimits())
    payload = b"p" * (64 * KIB)
    for _ in range(40):  # 2.5 MiB: the first records are outside the tail checksummed at open
        s.store_msg("big", b"", payload)
    s.close()
    (blk,) = blocks(tmp_path)
    flip(blk, record_len("big", b"", payload) + HEADER_SIZE + 1000)  # payload of seq 2
    s = FileStore(tmp_path, StoreLimits())
    removed: list[int] = []
    s.set_remove_callback(lambda seq, subj: removed.append(seq))
    with caplog.at_level(logging.WARNING):
        assert s.load(2) is None
    assert any("corrupt" in r.getMessage() for r in caplog.records)
    assert removed == [2]
    nxt = s.load_next("big", 2)
    assert nxt is not None and nxt.seq == 3 and nxt.data == payload
    s.close()
    s = FileStore(tmp_path, StoreLimits())
    assert s.load(2) is None and s.state().deleted == [2]
    s.close()


def test_invalid_header_costs_only_that_record(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = FileStore(tmp_path, StoreLimits())
    for _ in range(4):
        s.store_msg("h", b"", b"z" * 10)
    s.close()
    (blk,) = blocks(tmp_path)
    rec = record_len("h", b"", b"z" * 10)
    flip(blk, 2 * rec + 8)  # record type byte of seq 3
    with caplog.at_level(logging.WARNING):
        s = FileStore(tmp_path, StoreLimits())
    assert blk.stat().st_size == 4 * rec  # seq 4 lies past the damage: the block is not cut
    st = s.state()
    assert (st.msgs, st.last_seq, st.deleted) == (3, 4, [3])
    assert s.load(4).data == b"z" * 10  # type: ignore[union-attr]
    assert any(f"at offsets {2 * rec}-{3 * rec} (after seq 2, before seq 4)" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    assert s.store_msg("h", b"", b"after").seq == 5  # appends go on past the damaged span
    s.close()
    s = FileStore(tmp_path, StoreLimits())
    assert [s.load(q).data for q in (1, 2, 4, 5)] == [b"z" * 10] * 3 + [b"after"]  # type: ignore[union-attr]
    s.close()


def test_record_inside_a_torn_tail_is_not_taken_for_a_real_one(tmp_path: Path) -> None:
    """A payload may hold Orlop records of its own (a backup of a store): when the record
    around them is torn, recovery cuts it off instead of indexing what it contains."""
    parts = [encode_msg(seq, 0, b"inner", b"", b"i" * 50, 0, 50, 0)[0] for seq in (90, 91, 92)]
    inner = b"".join(b"".join(p) for p in parts)
    s = FileStore(tmp_path, StoreLimits())
    s.store_msg("a", b"", b"first")
    s.store_msg("b", b"", b"x" * 100 + inner + b"y" * 100)
    s.close()
    (blk,) = blocks(tmp_path)
    first = record_len("a", b"", b"first")
    os.truncate(blk, first + HEADER_SIZE + 1 + 100 + len(inner) - 10)  # cut inside seq 92's copy
    s = FileStore(tmp_path, StoreLimits())
    st = s.state()
    assert (st.msgs, st.first_seq) == (1, 1) and st.last_seq == 2  # seq 2 torn; 90-92 never seen
    assert blk.stat().st_size == first
    s.close()


def test_compaction_gives_space_back(tmp_path: Path) -> None:
    s = FileStore(tmp_path, StoreLimits(), block_size=64 * KIB)
    for i in range(300):
        s.store_msg("keep" if i % 10 == 0 else "drop", b"", b"d" * KIB)
    full = disk_bytes(tmp_path)
    assert full > 300 * KIB
    assert s.purge("drop") == 270
    after = disk_bytes(tmp_path)
    assert after < full * 0.25
    assert after == s.disk_usage()
    state, subjects = s.state(), s.subjects()
    s.close()
    s = FileStore(tmp_path, StoreLimits(), block_size=64 * KIB)
    assert (s.state(), s.subjects()) == (state, subjects)
    assert all(s.load(seq).data == b"d" * KIB for seq in range(1, 301, 10))  # type: ignore[union-attr]
    s.close()


def test_dead_blocks_are_deleted_and_tombstones_carried(tmp_path: Path) -> None:
    s = FileStore(tmp_path, StoreLimits(), block_size=2 * KIB)
    for i in range(60):
        s.store_msg(f"s.{i}", b"", b"v" * 200)
    n_blocks = len(blocks(tmp_path))
    for seq in range(2, 60):  # everything but seq 1 and 60: middle blocks die
        s.remove(seq)
    assert len(blocks(tmp_path)) < n_blocks / 2
    s.close()
    s = FileStore(tmp_path, StoreLimits(), block_size=2 * KIB)
    st = s.state()
    assert (st.msgs, st.first_seq, st.last_seq, st.num_deleted) == (2, 1, 60, 58)
    assert s.subjects() == {"s.0": 1, "s.59": 1}
    s.close()


def test_an_overwrite_leaves_the_new_blocks_to_the_periodic_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object overwritten: its old chunks' blocks die while the new ones are unsynced.

    What a dying block knows is carried into the newest block and that block is fsynced
    before the old one goes; the other new blocks are not forced to disk then (that cost an
    overwrite of 512 MiB ~0.4 s of writeback), and everything reads back after a restart.
    """
    s = FileStore(tmp_path, StoreLimits(), block_size=4 * KIB)
    for i in range(40):
        s.store_msg("old", b"", b"o%03d" % i * 100)
    s.sync()
    for i in range(40):
        s.store_msg("new", b"", b"n%03d" % i * 100)
    n_blocks = len(blocks(tmp_path))
    newest = max(blocks(tmp_path), key=lambda b: int(b.stem))
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:  # which files the purge forces to disk
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    assert s.purge("old") == 40
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert len(blocks(tmp_path)) < n_blocks  # the old blocks are gone
    forced = {Path(f).name for f in synced if Path(f).suffix == newest.suffix}
    assert forced == {newest.name}, forced  # only where the dying blocks' meta went
    s.close()
    s = FileStore(tmp_path, StoreLimits(), block_size=4 * KIB)
    st = s.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (40, 41, 80)
    assert s.subjects() == {"new": 40}
    assert all(s.load(41 + i).data == b"n%03d" % i * 100 for i in range(40))  # type: ignore[union-attr]
    s.close()


def test_purge_everything_then_restart(tmp_path: Path) -> None:
    s = FileStore(tmp_path, StoreLimits(), block_size=4 * KIB)
    for _ in range(50):
        s.store_msg("a", b"", b"q" * 500)
    assert s.purge() == 50
    assert disk_bytes(tmp_path) < 200
    s.close()
    s = FileStore(tmp_path, StoreLimits(), block_size=4 * KIB)
    st = s.state()
    assert (st.msgs, st.bytes, st.first_seq, st.last_seq) == (0, 0, 51, 50)
    assert s.store_msg("a", b"", b"").seq == 51
    s.close()


def test_filtered_reads_never_read_chunk_payloads(tmp_path: Path) -> None:
    """Listing an object bucket's meta messages reads only the meta records."""
    s = FileStore(tmp_path, StoreLimits())
    chunk = os.urandom(128 * KIB)
    meta_len = 0
    for obj in range(8):
        for _ in range(16):
            s.store_msg(f"$O.bkt.C.nuid{obj}", b"", chunk)
        meta = b'{"name": "object-%d", "size": 2097152}' % obj
        s.store_msg(f"$O.bkt.M.b2JqZWN0LT{obj}", b"", meta)
        meta_len += record_len(f"$O.bkt.M.b2JqZWN0LT{obj}", b"", meta)
    s.close()
    s = FileStore(tmp_path, StoreLimits())
    total = 8 * 16 * len(chunk)
    assert s.bytes_read < total / 8, "recovery must read headers, not payloads"
    reads0, bytes0 = s.read_calls, s.bytes_read
    assert len(s.last_seqs_per_subject("$O.bkt.M.>")) == 8
    assert s.num_pending(1, "$O.bkt.M.>") == 8
    assert s.load_last("$O.bkt.M.>") is not None
    listed = []
    seq = 0
    while (m := s.load_next("$O.bkt.M.>", seq + 1)) is not None:
        listed.append(m.data)
        seq = m.seq
    assert len(listed) == 8
    assert s.read_calls - reads0 == 9
    last_meta = record_len("$O.bkt.M.b2JqZWN0LT7", b"", b'{"name": "object-7", "size": 2097152}')
    assert s.bytes_read - bytes0 == meta_len + last_meta
    s.close()


def test_compressed_records_are_smaller_on_disk(tmp_path: Path) -> None:
    plain = FileStore(tmp_path / "plain", StoreLimits())
    packed = FileStore(tmp_path / "s2", StoreLimits(compression="s2"))
    data = b"0123456789abcdef" * 8192
    for s in (plain, packed):
        s.store_msg("x", b"", data)
        assert s.state().bytes == file_msg_size(1, 0, len(data))
    assert packed.disk_usage() < plain.disk_usage() / 5
    packed.close()
    packed = FileStore(tmp_path / "s2", StoreLimits(compression="s2"))
    assert packed.load(1).data == data  # type: ignore[union-attr]
    plain.close()
    packed.close()


def test_sync_always_and_sync(tmp_path: Path) -> None:
    s = FileStore(tmp_path, StoreLimits(), sync_always=True)
    s.store_msg("a", b"", b"1")
    s.sync()
    s.flush()
    s.close()
    assert FileStore(tmp_path, StoreLimits()).load(1).data == b"1"  # type: ignore[union-attr]


def test_destroy_removes_directory(tmp_path: Path) -> None:
    d = tmp_path / "stream"
    s = FileStore(d, StoreLimits())
    s.store_msg("a", b"", b"1")
    s.destroy()
    assert not d.exists()


def test_killed_process_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """Every store_msg that returned is on disk even when the process is killed with SIGKILL."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from orlop.store import FileStore, StoreLimits
        s = FileStore({str(tmp_path)!r}, StoreLimits(), block_size=256 * 1024)
        for i in range(500):
            s.store_msg("k.%d" % (i % 5), b"", b"v%d" % i * 50)
        s.remove(7)
        sys.stdout.write("done\\n"); sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL and proc.stdout == "done\n"
    s = FileStore(tmp_path, StoreLimits())
    st = s.state()
    assert (st.msgs, st.last_seq, st.deleted) == (499, 500, [7])
    assert s.load(500).data == b"v499" * 50  # type: ignore[union-attr]
    s.close()


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mount (this sandbox runs tests as root and allows it)."""
    d = tmp_path / "tiny"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(d)], check=True)
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


def test_full_disk_raises_and_store_stays_usable(tiny_fs: Path) -> None:
    s = FileStore(tiny_fs / "st", StoreLimits(), block_size=256 * KIB)
    payload = b"f" * (100 * KIB)
    stored = 0
    with pytest.raises(DiskFullError):
        for _ in range(100):
            s.store_msg("f", b"", payload)
            stored += 1
    assert 10 < stored < 25
    st = s.state()
    assert (st.msgs, st.last_seq) == (stored, stored)
    assert s.disk_usage() == stored * record_len("f", b"", payload)  # partial record truncated away
    assert all(s.load(q).data == payload for q in range(1, stored + 1))  # type: ignore[union-attr]
    with pytest.raises(DiskFullError):
        s.store_msg("f", b"", payload)
    s.purge(up_to_seq=stored)  # drop all but the newest: the dead block(s) give space back
    assert s.store_msg("f", b"", b"small").seq == stored + 1
    s.close()
    s = FileStore(tiny_fs / "st", StoreLimits(), block_size=256 * KIB)
    st = s.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (2, stored, stored + 1)
    s.close()


def test_file_size_limit_is_treated_like_a_full_disk(tmp_path: Path) -> None:
    """RLIMIT_FSIZE (SIGXFSZ ignored) makes write fail with EFBIG mid-record: same contract as ENOSPC."""
    script = textwrap.dedent(f"""
        import resource, signal
        from orlop.errors import DiskFullError
        from orlop.store import FileStore, StoreLimits
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (300 * 1024, 300 * 1024))
        s = FileStore({str(tmp_path)!r}, StoreLimits())
        n = 0
        try:
            while True:
                s.store_msg("f", b"", b"e" * 70000)
                n += 1
        except DiskFullError:
            pass
        s.remove(1)
        print(n, s.state().msgs, s.disk_usage())
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    stored, msgs, usage = map(int, proc.stdout.split())
    rec = record_len("f", b"", b"e" * 70000)
    assert (stored, msgs) == (4, 3)
    assert usage <= 300 * 1024 and usage >= stored * rec
    s = FileStore(tmp_path, StoreLimits())
    st = s.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (3, 2, 4)
    assert s.load(4).data == b"e" * 70000  # type: ignore[union-attr]
    s.close()


def test_index_holds_no_payloads(tmp_path: Path) -> None:
    """Writing and reading back 256 MiB barely moves RSS: payloads stay on disk."""
    proc = psutil.Process()
    s = FileStore(tmp_path, StoreLimits())
    chunk = os.urandom(128 * KIB)
    s.store_msg("warm", b"", chunk)
    s.load(1)
    base = proc.memory_info().rss
    for i in range(2048):
        s.store_msg(f"$O.b.C.{i // 64}", b"", chunk)
    seq = 0
    while (m := s.load_next(">", seq + 1)) is not None:
        seq = m.seq
    s.close()
    s = FileStore(tmp_path, StoreLimits())
    assert s.state().msgs == 2049
    grown = proc.memory_info().rss - base
    assert grown < 32 * 1024 * KIB, f"RSS grew by {grown} bytes"
    s.close()


def test_full_disk_while_recording_a_limit_removal_keeps_the_append(tmp_path: Path) -> None:
    """An append stands even when the record of the removal it causes cannot be written."""
    rec = record_len("f", b"", b"z" * 1000)
    script = textwrap.dedent(f"""
        import resource, signal
        from orlop.store import FileStore, StoreLimits
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({4 * rec}, {4 * rec}))
        s = FileStore({str(tmp_path)!r}, StoreLimits(max_msgs=3))
        seqs = [s.store_msg("f", b"", b"z" * 1000).seq for _ in range(4)]  # the 4th fills the file exactly
        st = s.state()
        print(seqs[-1], st.msgs, st.first_seq)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["4", "3", "2"]
    s = FileStore(tmp_path, StoreLimits(max_msgs=3))
    assert s.state().msgs == 4  # the removal was not durable ...
    s.store_msg("f", b"", b"again")
    st = s.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (3, 3, 5)  # ... and the limit applies again
    s.close()


def test_invalid_header_in_an_older_block_costs_only_that_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rec = record_len("o", b"", b"y" * 100)
    s = FileStore(tmp_path, StoreLimits(), block_size=4 * rec)
    for _ in range(12):
        s.store_msg("o", b"", b"y" * 100)
    s.close()
    _, second, _ = blocks(tmp_path)
    flip(second, rec + 8)  # record type of seq 6; the block holds seqs 5-8
    for idx in tmp_path.glob("*.idx"):
        idx.unlink()  # without index files recovery scans the headers
    with caplog.at_level(logging.WARNING):
        s = FileStore(tmp_path, StoreLimits(), block_size=4 * rec)
    assert any("unreadable bytes" in r.getMessage() for r in caplog.records)
    st = s.state()
    assert (st.msgs, st.first_seq, st.last_seq, st.deleted) == (11, 1, 12, [6])
    assert s.load(7).data == b"y" * 100  # type: ignore[union-attr]
    assert s.load(9).data == b"y" * 100  # type: ignore[union-attr]
    assert s.store_msg("o", b"", b"").seq == 13
    s.close()


def test_damaged_header_under_an_index_costs_only_that_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The index file still knows where seq 7 and 8 are: only seq 6 is lost, reported on first load."""
    rec = record_len("o", b"", b"y" * 100)
    s = FileStore(tmp_path, StoreLimits(), block_size=4 * rec)
    for _ in range(12):
        s.store_msg("o", b"", b"y" * 100)
    s.close()
    _, second, _ = blocks(tmp_path)
    assert second.with_suffix(".idx").exists()
    flip(second, rec + 8)
    s = FileStore(tmp_path, StoreLimits(), block_size=4 * rec)
    got: list[int] = []
    with caplog.at_level(logging.WARNING):
        while (msg := s.load_next("o", got[-1] + 1 if got else 1)) is not None:
            got.append(msg.seq)
    assert got == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]
    assert any("corrupt record for seq 6" in r.getMessage() for r in caplog.records)
    assert s.state().msgs == 11
    s.close()


def test_damaged_index_file_is_ignored_and_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rec = record_len("o", b"", b"y" * 100)
    s = FileStore(tmp_path, StoreLimits(), block_size=4 * rec)
    for i in range(12):
        s.store_msg(f"o.{i}", b"", b"y" * 100)
    s.remove(3)
    st = s.state()
    s.close()
    first_idx = sorted(tmp_path.glob("*.idx"))[0]
    flip(first_idx, 30)
    with caplog.at_level(logging.WARNING):
        s = FileStore(tmp_path, StoreLimits(), block_size=4 * rec)
    assert any("checksum mismatch" in r.getMessage() for r in caplog.records)
    assert s.state() == st
    n = len(blocks(tmp_path))
    assert f"{n - 1} of {n} blocks through their index, 2 scanned" in s.recovery_note  # it and the tail
    s.close()
    s = FileStore(tmp_path, StoreLimits(), block_size=4 * rec)  # rebuilt: nothing scanned but the tail
    assert s.state() == st
    assert f"{n} of {n} blocks through their index, 1 scanned" in s.recovery_note
    s.close()


def test_removed_last_message_keeps_its_seq_without_the_state_file(tmp_path: Path) -> None:
    """The state file is damaged or gone: the tombstone of the removed last message still
    says its seq was used (its record's pages may have been punched out)."""
    s = FileStore(tmp_path, StoreLimits())
    for _ in range(5):
        s.store_msg("t", b"", b"p" * 20_000)
    assert s.remove(5)
    s.close()
    (tmp_path / "stream.state").unlink()
    s = FileStore(tmp_path, StoreLimits())
    assert s.state().last_seq == 5
    assert s.store_msg("t", b"", b"next").seq == 6
    s.close()

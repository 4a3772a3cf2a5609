"""DirectSink: downloads written with O_DIRECT land byte for byte, at their exact length."""

from __future__ import annotations

import errno
import os
import resource
import signal
from pathlib import Path

import pytest

from orlop.objects import Bucket, direct_sink
from orlop.objects.direct_sink import DirectSink, open_download
from orlop.objects.sink import FdSink


async def _write(path: Path, pieces: list[bytes]) -> type:
    fd, sink = open_download(str(path))
    try:
        for piece in pieces:
            await sink.write(piece)
        await sink.flush()
    finally:
        os.close(fd)
    return type(sink)


@pytest.mark.parametrize(
    "sizes",
    [
        (),
        (1,),
        (4096,),
        (10, 200_000, 5, 1 << 20, 70_000, 3, 300_000) * 5,
        (4 * 1024 * 1024, 4 * 1024 * 1024),
        (4 * 1024 * 1024 + 1, 4095),
    ],
    ids=["empty", "one-byte", "one-block", "mixed", "two-buffers", "odd-tail"],
)
async def test_pieces_land_in_order_at_exact_length(tmp_path: Path, sizes: tuple[int, ...]) -> None:
    pieces = [os.urandom(n) for n in sizes]
    path = tmp_path / "out.bin"
    kind = await _write(path, pieces)
    assert path.read_bytes() == b"".join(pieces)
    assert path.stat().st_size == sum(sizes)
    assert kind is DirectSink  # tmp_path is on a disk filesystem, which takes O_DIRECT


async def test_existing_file_is_replaced_not_merged(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"x" * 3_000_000)
    await _write(path, [b"short"])
    assert path.read_bytes() == b"short"


async def test_filesystem_refusing_o_direct_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tmpfs takes O_DIRECT since Linux 6.6 and FUSE mounts are not at hand in a test:
    # the refusal (EINVAL from open, as such filesystems answer) is injected.
    real_open = os.open

    def refusing_open(path: str, flags: int, *args: int) -> int:
        if direct_sink._O_DIRECT and flags & direct_sink._O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(direct_sink.os, "open", refusing_open)
    data = os.urandom(1_000_003)
    path = tmp_path / "out.bin"
    assert await _write(path, [data]) is FdSink
    assert path.read_bytes() == data


async def test_platform_without_o_direct_uses_buffered_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(direct_sink, "_O_DIRECT", 0)
    data = os.urandom(70_001)
    path = tmp_path / "out.bin"
    assert await _write(path, [data]) is FdSink
    assert path.read_bytes() == data


def test_refused_direct_write_finishes_buffered(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | direct_sink._O_DIRECT)
    writer = direct_sink._Writer(fd)
    data = os.urandom(9000)
    try:
        # A view at an odd address: the device refuses it with EINVAL under O_DIRECT.
        writer._write(memoryview(b"\0" + data)[1:])
    finally:
        writer.close()
        os.close(fd)
    assert not writer.direct
    assert path.read_bytes() == data


async def test_write_error_surfaces_from_flush(tmp_path: Path) -> None:
    path = tmp_path / "ro.bin"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)  # every write fails with EBADF
    try:
        sink = DirectSink(fd)
        await sink.write(os.urandom(5 * 1024 * 1024))
        with pytest.raises(OSError):
            await sink.flush()
        sink.abandon()
    finally:
        os.close(fd)


def test_fifo_is_written_without_o_direct(tmp_path: Path) -> None:
    """O_DIRECT on a FIFO means packet mode; a download into one must stay a plain stream."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        fd, sink = open_download(str(fifo))
        os.close(fd)
    finally:
        os.close(reader)
    assert type(sink) is FdSink


async def test_download_that_cannot_be_written_leaves_nothing(bucket: Bucket, tmp_path: Path) -> None:
    """A write error mid-download (here EFBIG past RLIMIT_FSIZE) raises it and removes the partial file."""
    data = os.urandom(12 * 1024 * 1024 + 7)
    await bucket.put("big", data)
    dest = tmp_path / "big.bin"
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (6 * 1024 * 1024, old_limit[1]))
    try:
        with pytest.raises(OSError) as failed:
            await bucket.download("big", dest)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert failed.value.errno == errno.EFBIG
    assert list(tmp_path.iterdir()) == []
    await bucket.download("big", dest)
    assert dest.read_bytes() == data

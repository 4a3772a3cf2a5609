"""FdSink: downloads written on a helper thread keep their order and report write errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orlop.objects.sink import FdSink


async def test_pieces_land_in_order(tmp_path: Path) -> None:
    pieces = [os.urandom(n) for n in (10, 200_000, 5, 1 << 20, 70_000, 3, 300_000) * 5]
    path = tmp_path / "out.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        sink = FdSink(fd, max_pending=3)
        for piece in pieces:
            await sink.write(piece)
        await sink.flush()
    finally:
        os.close(fd)
    assert path.read_bytes() == b"".join(pieces)


async def test_write_error_surfaces(tmp_path: Path) -> None:
    path = tmp_path / "ro.bin"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)  # every write fails with EBADF
    try:
        sink = FdSink(fd)
        with pytest.raises(OSError):
            await sink.write(os.urandom(1 << 20))
            await sink.flush()
        sink.abandon()
    finally:
        os.close(fd)
    assert path.read_bytes() == b""

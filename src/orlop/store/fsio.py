"""The few file operations the file engine trusts with acknowledged data.

Each one exists because the obvious call is wrong on a full or failing disk:

* ``os.write``/``os.pwrite`` may write *part* of a buffer and return a short
  count (ENOSPC arrives only on the next call): :func:`pwrite_all` loops until
  every byte is down, or raises.
* "write a temp file, rename it over the old one" loses the old file when the
  temp copy is short or was never flushed: :func:`atomic_write` writes all,
  fsyncs, renames, fsyncs the directory, and on any failure removes the temp
  file and leaves the old one untouched.
* Deleting data gives no space back while the file lives: :func:`punch_hole`
  frees the pages of a dead range in place (``fallocate(PUNCH_HOLE)``, which
  needs no free space at all), where the filesystem supports it.

Nothing here knows records or streams; the store layers above decide what to
write and when.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import cast

__all__ = [
    "DISK_FULL_ERRNOS",
    "PAGE",
    "atomic_write",
    "free_bytes",
    "fsync_dir",
    "punch_hole",
    "pwrite_all",
    "pwritev_all",
]

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""The errnos that mean "no room", as opposed to a failing device."""

PAGE = 4096
"""Allocation unit assumed for hole punching: only whole pages inside a range are punched."""

_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02


def _load_fallocate() -> Callable[[int, int, int, int], int] | None:
    """libc's fallocate(2), which Python does not expose with mode flags (None when absent)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        fn = libc.fallocate
    except (OSError, AttributeError, TypeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    fn.restype = ctypes.c_int
    return cast("Callable[[int, int, int, int], int]", fn)


_fallocate = _load_fallocate()


def pwrite_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """Write every byte of ``data`` at ``offset``. Raises OSError (ENOSPC when no byte goes down)."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        if n <= 0:
            raise OSError(errno.ENOSPC, "no progress writing to disk")
        view = view[n:]
        offset += n


IOV_MAX = 1024
"""Buffers one ``pwritev`` call takes on Linux (larger lists are written in slices)."""


def pwritev_all(fd: int, parts: list[bytes], offset: int) -> int:
    """Write the buffers one after the other from ``offset``; returns the bytes written.

    Many records go down in a few system calls. Raises OSError as :func:`pwrite_all`.
    """
    start = offset
    for i in range(0, len(parts), IOV_MAX):
        piece = parts[i : i + IOV_MAX]
        want = sum(map(len, piece))
        n = os.pwritev(fd, piece, offset)
        if n < want:  # a short write (a nearly full disk): finish it, or raise trying
            pwrite_all(fd, b"".join(piece)[n:], offset + n)
        offset += want
    return offset - start


def fsync_dir(directory: Path) -> None:
    """fsync a directory, so a created, renamed or removed entry in it is durable."""
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def atomic_write(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Replace ``path`` by ``data``: all bytes written (and fsynced) before the rename.

    On any failure the temp file is removed and the old ``path`` is untouched;
    the OSError is re-raised. With ``sync`` the directory is fsynced too, so
    the new content survives a power loss once this returns.
    """
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            pwrite_all(fd, data, 0)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    if sync:
        fsync_dir(path.parent)


def punch_hole(fd: int, offset: int, length: int) -> bool:
    """Free the whole pages of ``[offset, offset + length)``; the file keeps its size.

    Returns False when the filesystem (or libc) cannot punch holes, so the
    caller falls back to rewriting. Other errors raise OSError.
    """
    start = -(-offset // PAGE) * PAGE
    end = (offset + length) // PAGE * PAGE
    if end <= start:
        return True
    if _fallocate is None:
        return False
    if _fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, start, end - start) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
        return False
    raise OSError(err, os.strerror(err))


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on ``path``'s filesystem (-1 when unknown)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return -1
    return st.f_bavail * st.f_frsize

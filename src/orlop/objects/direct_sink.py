"""Downloads to a path written with ``O_DIRECT``: no page cache, so no fresh pages per MiB.

Why: a buffered ``os.write`` of a download has to find a page-cache page for
every 4 KiB. On these VMs (virtio-balloon with free page reporting) memory freed
more than about a second ago has gone back to the host, so most of those pages
fault on the host first, which made a get to a file swing by a factor of three
from run to run. ``O_DIRECT`` writes go from one reused, aligned buffer straight
to the device, at a small fraction of the CPU (figures: docs/performance.md, lab notes). A big download
also no longer evicts the page cache other programs rely on.

How: pieces are gathered on the event loop into batches of ``_BATCH`` bytes; one
job per batch, on a writer thread of its own (:func:`_writer_pool`, jobs in
order), copies them into a page-aligned buffer and writes each full buffer. The
last, partial block is written padded with zeros and the file is then cut to
its real length with ``ftruncate``. A filesystem that refuses ``O_DIRECT``
(tmpfs, some FUSE filesystems) is detected when the file is opened
(:func:`open_download`), and the download uses the buffered :class:`.sink.FdSink`.
A write that the device refuses with EINVAL (an unusual block size) drops
``O_DIRECT`` on the descriptor and finishes with buffered writes.

The file is not fsynced, as with buffered writes: the data is on its way to the
device, not guaranteed through a power loss.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import errno
import fcntl
import mmap
import os
import stat
from typing import Any

from orlop.objects.sink import FdSink, outcome, single_thread

__all__ = ["DirectSink", "open_download"]

_ALIGN = 4096
_BATCH = 4 * 1024 * 1024
_BUFFER = 4 * 1024 * 1024  # a multiple of _ALIGN
_O_DIRECT = getattr(os, "O_DIRECT", 0)


def open_download(path: str) -> tuple[int, DirectSink | FdSink]:
    """Create/truncate ``path`` for writing; the descriptor and the sink to write it with."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    if _O_DIRECT:
        try:
            fd = os.open(path, flags | _O_DIRECT, 0o666)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
        else:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                return fd, DirectSink(fd)
            # Not a regular file (a FIFO in O_DIRECT turns into packet mode): reopen.
            os.close(fd)
    fd = os.open(path, flags, 0o666)
    return fd, FdSink(fd)


def _writer_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The one thread that writes O_DIRECT downloads (jobs in submission order).

    Not :func:`.sink.helper_pool`, which hashes downloads: a direct write of 4 MiB
    waits ~1.4 ms for the device, time in which the hashing should go on.
    A thread of its own was faster than sharing the hashing thread (figures:
    docs/performance.md, lab notes). It waits more than it computes, so it does not compete
    with the event loop and the server for the two cores as a second hashing
    thread did.
    """
    return single_thread("orlop-direct")


class _Writer:
    """The writer thread's side: an aligned buffer and the bytes written so far."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = mmap.mmap(-1, _BUFFER)
        self.view = memoryview(self.buf)
        self.fill = 0
        self.size = 0
        self.direct = True

    def _write(self, data: Any) -> None:
        view = memoryview(data).cast("B")
        while view:
            try:
                n = os.write(self.fd, view)
            except OSError as e:
                if not self.direct or e.errno != errno.EINVAL:
                    raise
                self._drop_direct()
                continue
            if n < len(view) and self.direct:
                # A short direct write would leave the next one unaligned.
                self._drop_direct()
            view = view[n:]

    def _drop_direct(self) -> None:
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~_O_DIRECT)
        self.direct = False

    def add(self, pieces: list[Any]) -> None:
        for piece in pieces:
            src = memoryview(piece).cast("B")
            while src:
                n = min(len(src), _BUFFER - self.fill)
                self.view[self.fill : self.fill + n] = src[:n]
                self.fill += n
                self.size += n
                src = src[n:]
                if self.fill == _BUFFER:
                    self._write(self.view)
                    self.fill = 0

    def finish(self) -> None:
        if self.fill:
            padded = -(-self.fill // _ALIGN) * _ALIGN
            self.view[self.fill : padded] = bytes(padded - self.fill)
            self._write(self.view[:padded])
            self.fill = 0
        os.ftruncate(self.fd, self.size)

    def close(self) -> None:
        self.view.release()
        # A failed write's traceback may still hold a view of the buffer: the
        # mapping then goes when that exception does.
        with contextlib.suppress(BufferError):
            self.buf.close()


class DirectSink:
    """The :class:`.sink.FdSink` interface for a descriptor opened with ``O_DIRECT``.

    Pieces must not change after :meth:`write` (``bytes`` never do). A failed
    write raises its OSError from a later :meth:`write` or from :meth:`flush`.
    """

    def __init__(self, fd: int, max_pending: int = 2) -> None:
        self._writer = _Writer(fd)
        self._batch: list[Any] = []
        self._batch_bytes = 0
        self._pending: collections.deque[concurrent.futures.Future[None]] = collections.deque()
        self._max = max_pending
        self._released = False

    async def write(self, data: Any) -> None:
        """Queue ``data``; waits only when ``max_pending`` batches are already queued."""
        self._batch.append(data)
        self._batch_bytes += len(data)
        if self._batch_bytes >= _BATCH:
            self._submit(self._writer.add, self._batch)
            self._batch, self._batch_bytes = [], 0
            while len(self._pending) > self._max or (self._pending and self._pending[0].done()):
                await outcome(self._pending.popleft())

    def _submit(self, fn: Any, *args: Any) -> None:
        self._pending.append(_writer_pool().submit(fn, *args))

    async def flush(self) -> None:
        """Write everything, cut the file to its length; raises the first write error."""
        if self._batch:
            self._submit(self._writer.add, self._batch)
            self._batch, self._batch_bytes = [], 0
        self._submit(self._writer.finish)
        while self._pending:
            await outcome(self._pending.popleft())
        self._release()

    def abandon(self) -> None:
        """Drop queued batches after an error; block until the one already running ends."""
        running = [fut for fut in self._pending if not fut.cancel()]
        self._pending.clear()
        concurrent.futures.wait(running)
        self._release()

    def _release(self) -> None:
        # Only once nothing of this sink is queued or running on the writer thread.
        if not self._released:
            self._released = True
            self._writer.close()

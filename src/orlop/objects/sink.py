"""Writing a download to a file descriptor on a helper thread, in order.

Downloads to a path use :mod:`.direct_sink` (``O_DIRECT``) where the filesystem
takes it; this buffered sink is the fallback and the writer for other descriptors.

``os.write`` of a chunk into the page cache costs ~0.3-0.4 ms per MiB here
and releases the GIL, so doing it on the event loop's thread lengthens the
loop's critical path (figures: docs/performance.md, lab notes). One worker thread, shared by
all downloads, takes the writes in submission order; at most
``max_pending`` writes of one sink wait, so memory stays bounded by that
many chunks. Small pieces are written inline when nothing is queued (a
thread hop would cost more than the write). The same thread hashes
downloads in batches (:mod:`.hashing`).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import os
import threading
from typing import Any, TypeVar

__all__ = ["FdSink", "helper_pool", "outcome", "single_thread"]

_THRESHOLD = 64 * 1024
T = TypeVar("T")

_executors: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
_lock = threading.Lock()


def single_thread(name: str) -> concurrent.futures.ThreadPoolExecutor:
    """The process's one-thread executor called ``name`` (made on first use; jobs run in order)."""
    with _lock:
        if name not in _executors:
            _executors[name] = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        return _executors[name]


def helper_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The one helper thread of :mod:`orlop.objects` (buffered file writes, batched hashing of downloads).

    One thread, not two: with the event loop and the server on two cores, a
    second helper only added GIL and core contention (see :mod:`.hashing`).
    Jobs run in submission order.
    """
    return single_thread("orlop-write")


async def outcome(job: concurrent.futures.Future[T]) -> T:
    """The result of a helper-thread job: taken at once when it is done, else awaited.

    ``asyncio.wrap_future`` hands even a finished job's result over with
    ``call_soon_threadsafe``: a write to the loop's self-pipe and a wake-up per
    job for nothing (~5% of the event loop's samples during a 512 MiB get).
    """
    if job.done():
        return job.result()
    return await asyncio.wrap_future(job)


def _write_all(fd: int, data: Any) -> None:
    """``os.write`` until every byte is written (regular files rarely write short)."""
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view) :]


class FdSink:
    """Ordered writes of bytes-like pieces to an open file descriptor (not closed here).

    A failed write (disk full, ...) raises its OSError from a later :meth:`write`
    or from :meth:`flush`.
    """

    def __init__(self, fd: int, max_pending: int = 8) -> None:
        self._fd = fd
        self._pending: collections.deque[concurrent.futures.Future[None]] = collections.deque()
        self._max = max_pending

    async def write(self, data: Any) -> None:
        """Queue ``data`` (must not change afterwards); waits only when the queue is full."""
        if len(data) < _THRESHOLD and not self._pending:
            _write_all(self._fd, data)
            return
        self._pending.append(helper_pool().submit(_write_all, self._fd, data))
        while len(self._pending) > self._max or (self._pending and self._pending[0].done()):
            await outcome(self._pending.popleft())

    async def flush(self) -> None:
        """Wait until everything queued is written; raises the first write error."""
        while self._pending:
            await outcome(self._pending.popleft())

    def abandon(self) -> None:
        """Drop queued writes after an error; block until the one already running ends.

        Afterwards no write of this sink can touch the descriptor, so it may be
        closed (a late write could otherwise hit a reused descriptor number).
        Blocking is brief: one chunk into the page cache, on a failure path only.
        """
        running = [fut for fut in self._pending if not fut.cancel()]
        self._pending.clear()
        concurrent.futures.wait(running)

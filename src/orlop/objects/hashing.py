"""SHA-256 of a transfer, computed in order on a helper thread.

hashlib releases the GIL while it hashes a large buffer, so moving the
digest of 128 KiB chunks to a thread lets it overlap with the event loop's
socket work instead of adding to it (SHA-256 is a third of a put's or a
get's CPU otherwise). One worker thread, shared by all transfers, keeps
every hasher's updates in submission order; at most ``max_pending_bytes``
of one hasher wait in the queue (8 MiB: 64 chunks of 128 KiB or 8 of 1 MiB),
so memory stays bounded whatever the chunk size. Small pieces are hashed
inline: a thread hop would cost more.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import hashlib
import threading
from typing import Any

__all__ = ["Sha256"]

_THRESHOLD = 32 * 1024
_executor: concurrent.futures.ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="orlop-sha256"
            )
        return _executor


class Sha256:
    """An ordered SHA-256 whose large updates run on the shared hashing thread."""

    def __init__(self, max_pending_bytes: int = 8 * 1024 * 1024) -> None:
        self._sha = hashlib.sha256()
        self._pending: collections.deque[tuple[concurrent.futures.Future[None], int]] = collections.deque()
        self._queued = 0
        self._max = max_pending_bytes

    async def update(self, data: Any) -> None:
        """Queue ``data`` (bytes-like, must not change afterwards); waits only when the queue is full."""
        if len(data) < _THRESHOLD and not self._pending:
            self._sha.update(data)
            return
        size = len(data)
        self._pending.append((_pool().submit(self._sha.update, data), size))
        self._queued += size
        while self._pending and self._pending[0][0].done():
            fut, done = self._pending.popleft()
            self._queued -= done
            fut.result()
        while self._queued > self._max and len(self._pending) > 1:
            await self._wait_oldest()

    async def _wait_oldest(self) -> None:
        fut, size = self._pending.popleft()
        self._queued -= size
        await asyncio.wrap_future(fut)

    async def digest(self) -> bytes:
        """The digest of everything queued so far (waits for the queue)."""
        while self._pending:
            await self._wait_oldest()
        return self._sha.digest()

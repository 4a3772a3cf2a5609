"""SHA-256 of a transfer, computed in order on a helper thread.

hashlib releases the GIL while it hashes a large buffer, so moving the
digest of 128 KiB chunks to a thread lets it overlap with the event loop's
socket work instead of adding to it (SHA-256 is a third of a put's or a
get's CPU otherwise). One worker thread, shared by all transfers, keeps
every hasher's updates in submission order; at most ``max_pending`` updates
of one hasher wait in the queue, so memory stays bounded by that many
chunks. Small pieces are hashed inline: a thread hop would cost more.
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

    def __init__(self, max_pending: int = 32) -> None:
        self._sha = hashlib.sha256()
        self._pending: collections.deque[concurrent.futures.Future[None]] = collections.deque()
        self._max = max_pending

    async def update(self, data: Any) -> None:
        """Queue ``data`` (bytes-like, must not change afterwards); waits only when the queue is full."""
        if len(data) < _THRESHOLD and not self._pending:
            self._sha.update(data)
            return
        self._pending.append(_pool().submit(self._sha.update, data))
        while len(self._pending) > self._max:
            await asyncio.wrap_future(self._pending.popleft())

    async def digest(self) -> bytes:
        """The digest of everything queued so far (waits for the queue)."""
        while self._pending:
            await asyncio.wrap_future(self._pending.popleft())
        return self._sha.digest()

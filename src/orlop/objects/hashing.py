"""SHA-256 of a transfer, in order: on the event loop's thread, or in batches on the helper thread.

Why not per chunk on a thread (as this module first did): hashlib releases
the GIL while it hashes a big buffer, but the worker must take the GIL back
after every buffer, and while the event loop is busy that waits for the
interpreter's switch interval (5 ms). Handed one chunk per job, the worker ran
in bursts, mostly when the loop blocked on it: a serial hand-off plus thread
wake-ups, and both puts and downloads were slower than hashing inline (figures:
docs/performance.md, lab notes). So puts hash inline (the default).

Why batches on the sink's thread for reads (``offload=True``): SHA-256 costs
~0.6 ms per MiB here, about 40% of the event loop's CPU on a get, and the
loop is the get's critical path. The loop now only appends each chunk to a
list; every ``_BATCH`` bytes one job hashes the list on the one helper thread
that also writes downloads to disk (:func:`.sink.helper_pool`), so there is no
extra thread competing for two cores, and one job per batch, not per chunk.
At most ``_IN_FLIGHT`` batches wait, so memory stays bounded by a few
batches; that roughly halves the event loop's CPU per MiB on a get, for ~7 MB
more peak RSS (figures: docs/performance.md, lab notes).

The API is awaitable either way (``await sha.update(data)``).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
from collections import deque
from typing import Any

from orlop.objects.sink import helper_pool, outcome

__all__ = ["Sha256"]

_BATCH = 4 * 1024 * 1024
_IN_FLIGHT = 2
# A tail this small is hashed on the loop's thread when nothing is queued: a job on the
# helper thread costs a thread wake-up and a loop wake-up, far more than hashing 128 KiB
# (~75 us). Small objects are all tail: a 1 KiB get no longer crosses threads.
_INLINE_TAIL = 128 * 1024


def _hash_all(sha: Any, parts: list[Any]) -> None:
    for part in parts:
        sha.update(part)


class Sha256:
    """An ordered SHA-256 over the stored bytes of a transfer.

    With ``offload`` the pieces passed to :meth:`update` are hashed later on
    the helper thread, so they must not change afterwards (``bytes`` never do).
    """

    def __init__(self, *, offload: bool = False) -> None:
        self._sha = hashlib.sha256()
        self._offload = offload
        self._batch: list[Any] = []
        self._batch_bytes = 0
        self._running: deque[concurrent.futures.Future[None]] = deque()

    async def update(self, data: Any) -> None:
        """Add ``data`` (bytes-like) to the digest."""
        if not self._offload:
            self._sha.update(data)
            return
        self._batch.append(data)
        self._batch_bytes += len(data)
        if self._batch_bytes >= _BATCH:
            self._submit()
            while len(self._running) > _IN_FLIGHT:
                await outcome(self._running.popleft())

    def _submit(self) -> None:
        if self._batch:
            self._running.append(helper_pool().submit(_hash_all, self._sha, self._batch))
            self._batch, self._batch_bytes = [], 0

    async def digest(self) -> bytes:
        """The digest of everything added so far (waits for queued batches)."""
        while self._running and self._running[0].done():
            self._running.popleft().result()
        if not self._running and self._batch_bytes <= _INLINE_TAIL:
            _hash_all(self._sha, self._batch)
            self._batch, self._batch_bytes = [], 0
            return self._sha.digest()
        self._submit()
        while self._running:
            await outcome(self._running.popleft())
        return self._sha.digest()

"""SHA-256 of a transfer, computed in order on the event loop's thread.

Why not on a helper thread (as this module first did): hashlib releases the
GIL while it hashes a big buffer, but the worker must take the GIL back after
every chunk, and while the event loop is busy that waits for the
interpreter's switch interval (5 ms). The worker then runs in bursts, mostly
when the loop blocks on it, so the "overlap" turned into a serial hand-off
plus thread wake-ups. Measured A/B against nats-server on the 2-vCPU machines
(256 MiB, back to back, four rounds each): a download to a file went from
236-413 MB/s with the thread to 319-733 MB/s inline, a put from 137-223 to
138-304 MB/s, and the client's total CPU per MiB dropped (get 1.55-1.69 ->
1.39-1.64 ms). With client and server sharing two cores there is no idle core
for the thread to use anyway (on a machine with cores to spare a hashing
thread would pay again). In the benchmark harness, same A/B: get 512 MiB
217/376 MB/s (thread) vs 389/454 (inline), put 504/328 vs 371/388 (noise).
Large files are still written on a thread (:mod:`.sink`): that measured even
or better.

The API stays awaitable (``await sha.update(data)``) so callers need not
change if hashing ever moves off the loop again.
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["Sha256"]


class Sha256:
    """An ordered SHA-256 over the stored bytes of a transfer."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()

    async def update(self, data: Any) -> None:
        """Add ``data`` (bytes-like) to the digest."""
        self._sha.update(data)

    async def digest(self) -> bytes:
        """The digest of everything added so far."""
        return self._sha.digest()

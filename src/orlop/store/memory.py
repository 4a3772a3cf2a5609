"""MemoryStore: the shared index of :mod:`orlop.store.core` with payloads held in RAM.

The index entry's location is simply the ``(hdr, data)`` pair, so every rule
(limits, purge, TTL, per-subject reads) is the one the file engine runs too.
Payloads are kept uncompressed even when ``limits.compression == "s2"``, as
nats-server's memstore does: compression would cost CPU to save RAM that a
memory stream has already chosen to spend. Removals need no persistence.
"""

from __future__ import annotations

from orlop.store.base import Clock, StoreLimits, wall_clock
from orlop.store.core import Entry, IndexedStore

__all__ = ["MemoryStore"]


class MemoryStore(IndexedStore):
    """A stream held entirely in memory; lost when the process ends."""

    def __init__(self, limits: StoreLimits, *, clock: Clock = wall_clock) -> None:
        super().__init__(limits, clock)

    def _append(self, seq: int, subject: str, hdr: bytes, data: bytes, ts: int, ttl: int) -> object:
        return (hdr, data)

    def _fetch(self, seq: int, entry: Entry) -> tuple[bytes, bytes] | None:
        loc = entry.loc
        assert isinstance(loc, tuple)
        return loc[0], loc[1]

    def _persist_removal(self, removed: list[tuple[int, Entry]], floor: int) -> None:
        return None

    def _persist_skip(self, next_seq: int) -> None:
        return None

    def _release(self, delete: bool) -> None:
        return None

    def flush(self) -> None:
        """Nothing is buffered."""
        self._check_open()

    def sync(self) -> None:
        """Nothing to sync."""
        self._check_open()

"""Server-wide JetStream resources: ``max_memory_store`` and ``max_file_store``.

nats-server enforces them in two places, and so does Orlop:

* **Reservations** at stream create and update (``checkBytesLimits``): the
  ``max_bytes`` of every stream of one storage type on the server, plus the new
  one (a stream without ``max_bytes`` counts 1 byte, and reserves nothing once
  created), must stay within the limit, else 10047 (file) or 10028 (memory).
* **Usage** at publish (``limitsExceeded``): when what the streams of that
  storage type already hold exceeds the limit, the publish is refused with
  503 10023 "insufficient resources" (the message that crossed the limit was
  still stored, as in nats-server).

Unset limits (``-1``) are derived from the machine once, when the service
starts, as nats-server does: 75% of RAM, and 75% of the store disk's free space
(at most 1 TB); /jsz reports the same figures. The usage check sums the
stores' byte counters (O(streams)), so it runs only when a limit was set
explicitly; with derived limits the store's own refusal on a full disk
(10077) is what a publisher sees.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orlop.jsapi.errors import Err, js_error

if TYPE_CHECKING:
    from orlop.server.jetstream.service import JetStreamService
    from orlop.server.jetstream.stream import Stream

__all__ = ["ServerLimits", "check_reservation", "machine_limits", "usage_exceeded"]

_ONE_TB = 1 << 40


def machine_limits(max_memory: int, max_store: int, store_root: Path) -> tuple[int, int]:
    """(memory, storage) limits: the configured ones, or nats-server's machine defaults (-1 unknown)."""
    if max_memory < 0:
        try:
            max_memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 3 // 4
        except (ValueError, OSError):
            max_memory = -1
    if max_store < 0:
        try:
            max_store = min(shutil.disk_usage(store_root).free * 3 // 4, _ONE_TB)
        except OSError:
            max_store = -1
    return max_memory, max_store


class ServerLimits:
    """The effective limits of one server, fixed at start (see module docstring)."""

    __slots__ = ("check_usage", "max_memory", "max_store")

    def __init__(self, configured_memory: int, configured_store: int, store_root: Path) -> None:
        self.max_memory, self.max_store = machine_limits(configured_memory, configured_store, store_root)
        self.check_usage = configured_memory >= 0 or configured_store >= 0
        """True when a limit was configured: only then does publish check usage."""

    def limit(self, storage: str) -> int:
        return self.max_memory if storage == "memory" else self.max_store


def _streams(svc: JetStreamService, storage: str) -> Iterator[Stream]:
    for js in svc.accounts.values():
        for st in js.streams.values():
            if st.config.get("storage", "file") == storage:
                yield st


def check_reservation(svc: JetStreamService, config: dict[str, Any], replacing: Stream | None = None) -> None:
    """Raise 10047/10028 when ``config``'s max_bytes does not fit the server's storage limit.

    ``replacing`` is the stream being updated (its current reservation is not counted).
    """
    storage = config["storage"]
    limit = svc.limits.limit(storage)
    if limit < 0:
        return
    reserved = sum(max(0, st.config["max_bytes"]) for st in _streams(svc, storage) if st is not replacing)
    wanted = config["max_bytes"] if config["max_bytes"] > 0 else 1
    if reserved + wanted > limit:
        memory = storage == "memory"
        raise js_error(Err.MEMORY_RESOURCES_EXCEEDED if memory else Err.STORAGE_RESOURCES_EXCEEDED)


def usage_exceeded(st: Stream) -> bool:
    """True when the streams of ``st``'s storage type already hold more than the server limit."""
    svc = st.js.service
    storage = st.config.get("storage", "file")
    limit = svc.limits.limit(storage)
    if limit < 0:
        return False
    return sum(s.store.fast_state().bytes for s in _streams(svc, storage)) > limit

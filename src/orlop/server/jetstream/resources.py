"""Server-wide JetStream resources: ``max_memory_store``, ``max_file_store`` and the disk reserve.

nats-server enforces its limits in two places, and so does Orlop:

* **Reservations** at stream create and update (``checkBytesLimits``): the
  ``max_bytes`` of every stream of one storage type on the server, plus the new
  one (a stream without ``max_bytes`` counts 1 byte, and reserves nothing once
  created), must stay within the limit, else 10047 (file) or 10028 (memory).
* **Usage** at publish (``limitsExceeded``): when what the streams of that
  storage type already hold exceeds the limit, the publish is refused with
  503 10023 "insufficient resources" (the message that crossed the limit was
  still stored, as in nats-server).

Unset limits (``-1``) are derived from the machine as nats-server does: 75% of
RAM, and 75% of the store disk's free space (at most 1 TB); /jsz reports the
same figures. One difference: the free space counts what the recovered streams
already occupy as free, so a restart on a disk the store itself filled does not
shrink the limit below what is stored (nats-server's would).

Orlop adds a **disk reserve**: a publish is also refused with 10023 while the
store's filesystem has less than ``store_reserve`` bytes free, whatever filled
it. That room is what a full store needs to keep working: removal records of
deletes and purges, consumer acks, index and state files, and the space a
compaction copies into. Default: 2% of the filesystem, at least 1 MiB and at
most 256 MiB (room for a few 64 MiB blocks to be rewritten while every
publisher is refused).

Both checks run on every publish in O(1): :class:`UsageMeter` counts admitted
bytes between measurements (summing stream counters, ``statvfs``), taken every
``REFRESH`` seconds and, when messages were removed meanwhile (streams call
:meth:`UsageMeter.note_freed`), again before anything is refused.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from orlop.jsapi.errors import Err, js_error
from orlop.server.jetstream.stream import Stream
from orlop.store import fsio

__all__ = [
    "Holdings",
    "ServerLimits",
    "UsageMeter",
    "check_reservation",
    "default_reserve",
    "machine_limits",
]

_ONE_TB = 1 << 40
_MIB = 1 << 20
REFRESH = 0.1  # seconds between measurements while nothing is refused


def machine_limits(max_memory: int, max_store: int, store_root: Path, used_store: int = 0) -> tuple[int, int]:
    """(memory, storage) limits: the configured ones, or the machine defaults (-1 unknown).

    ``used_store`` is what the store already occupies on disk (counted as free).
    """
    if max_memory < 0:
        try:
            max_memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 3 // 4
        except (ValueError, OSError):
            max_memory = -1
    if max_store < 0:
        try:
            max_store = min((shutil.disk_usage(store_root).free + used_store) * 3 // 4, _ONE_TB)
        except OSError:
            max_store = -1
    return max_memory, max_store


def default_reserve(store_root: Path) -> int:
    """2% of the store's filesystem, clamped to [1 MiB, 256 MiB] (see module docstring)."""
    try:
        total = shutil.disk_usage(store_root).total
    except OSError:
        return _MIB
    return max(_MIB, min(total // 50, 256 * _MIB))


class ServerLimits:
    """The effective limits of one server (see module docstring)."""

    __slots__ = ("max_memory", "max_store", "reserve")

    def __init__(
        self,
        configured_memory: int,
        configured_store: int,
        store_root: Path,
        *,
        reserve: int = -1,
        used_store: int = 0,
    ) -> None:
        self.max_memory, self.max_store = machine_limits(
            configured_memory, configured_store, store_root, used_store
        )
        self.reserve = default_reserve(store_root) if reserve < 0 else reserve
        """Free bytes the store's filesystem keeps; publishes are refused below it."""

    def limit(self, storage: str) -> int:
        return self.max_memory if storage == "memory" else self.max_store


class _Streams(Protocol):
    @property
    def streams(self) -> Mapping[str, Stream]: ...


class Holdings(Protocol):
    """What the limits are checked against (the JetStream service): every account's streams."""

    @property
    def accounts(self) -> Mapping[str, _Streams]: ...

    @property
    def limits(self) -> ServerLimits: ...

    @property
    def store_root(self) -> Path: ...


def _streams(svc: Holdings, storage: str) -> Iterator[Stream]:
    for js in svc.accounts.values():
        for st in js.streams.values():
            if st.config.get("storage", "file") == storage:
                yield st


def check_reservation(svc: Holdings, config: dict[str, Any], replacing: object | None = None) -> None:
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


def stored_bytes(svc: Holdings, storage: str) -> int:
    """What the streams of one storage type hold now (their accounted bytes)."""
    return sum(s.store.fast_state().bytes for s in _streams(svc, storage))


class UsageMeter:
    """Decides, in O(1) per publish, whether the server may store more (see module docstring)."""

    def __init__(self, svc: Holdings, clock: Callable[[], float] = time.monotonic) -> None:
        self._svc = svc
        self._clock = clock
        self._at = -1.0
        self._used = {"file": 0, "memory": 0}
        self._free = -1
        self._since = 0
        self._freed = False  # messages were removed since the last measurement
        self._estimated = False  # publishes were admitted since then: the figures are estimates

    def note_freed(self) -> None:
        """Messages were removed: a publish over the limits measures again before it is refused."""
        self._freed = True

    def _measure(self) -> None:
        svc = self._svc
        self._used = {"file": stored_bytes(svc, "file"), "memory": stored_bytes(svc, "memory")}
        self._free = fsio.free_bytes(svc.store_root)
        self._since = 0
        self._freed = self._estimated = False
        self._at = self._clock()

    def _over(self, storage: str) -> bool:
        limits = self._svc.limits
        limit = limits.limit(storage)
        if 0 <= limit < self._used[storage]:
            return True
        return storage == "file" and self._free >= 0 and self._free - self._since < limits.reserve

    def admit(self, storage: str, nbytes: int) -> bool:
        """True when a message of ``nbytes`` may be stored in a stream of ``storage`` type."""
        changed = self._estimated or self._freed
        if self._clock() - self._at >= REFRESH or (changed and self._over(storage)):
            # Never refuse on an estimate, nor on a figure older than the last removal (a purge's
            # room is usable at once); a flood of refusals after one measurement costs nothing.
            self._measure()
        if self._over(storage):
            return False
        self._used[storage] += nbytes
        if storage == "file":
            self._since += nbytes
        self._estimated = True
        return True

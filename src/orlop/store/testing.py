"""Testing toolkit for stores: a fake clock and a factory that builds either engine.

Public (the trio model) so that layers above — JetStream streams, consumers —
can run their own tests over both engines, with time that moves only when told.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from orlop.store.base import StoreLimits, StreamStore
from orlop.store.cipher import StoreCipher
from orlop.store.core import file_msg_size, memory_msg_size
from orlop.store.file import FileStore
from orlop.store.memory import MemoryStore

__all__ = ["ENGINE_KINDS", "EngineFactory", "FakeClock"]

ENGINE_KINDS = ("memory", "file", "file-small-blocks", "file-encrypted")
"""``file-small-blocks`` uses 512-byte blocks, so rollover and compaction run constantly;
``file-encrypted`` is the same with encryption at rest (ChaCha20-Poly1305, one key per factory)."""


class FakeClock:
    """A store clock returning Unix ns that only moves through :meth:`advance`."""

    def __init__(self, start: int = 1_700_000_000_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, ns: int) -> None:
        """Move time forward by ``ns`` nanoseconds."""
        self.now += ns


@dataclass
class EngineFactory:
    """Builds stores of one kind (see ENGINE_KINDS) under ``root``, all on one FakeClock.

    :meth:`reopen` closes a file store and recovers it from its directory (a
    memory store is returned unchanged), so a test can check what survives a
    restart with the same code for every engine. :meth:`close_all` closes
    everything made.
    """

    kind: str
    root: Path
    clock: FakeClock = field(default_factory=FakeClock)
    made: list[StreamStore] = field(default_factory=list)
    seed: bytes = b"orlop-test-stream-key-32-bytes!!"

    @property
    def persistent(self) -> bool:
        """True for the file engines."""
        return self.kind != "memory"

    def msg_size(self, subject: str, hdr: bytes, data: bytes) -> int:
        """The bytes this engine accounts for one message (nats-server's sizes)."""
        fn = memory_msg_size if self.kind == "memory" else file_msg_size
        return fn(len(subject.encode("utf-8", "surrogateescape")), len(hdr), len(data))

    def make(self, limits: StoreLimits | None = None) -> StreamStore:
        """A new empty store with ``limits`` (default: unlimited)."""
        limits = limits or StoreLimits()
        store: StreamStore
        if self.kind == "memory":
            store = MemoryStore(limits, clock=self.clock)
        else:
            store = self.open_dir(self.root / f"s{len(self.made)}", limits)
        self.made.append(store)
        return store

    def open_dir(self, directory: Path, limits: StoreLimits) -> FileStore:
        """Open (create or recover) a file store of this factory's block size."""
        block = 64 * 1024 * 1024 if self.kind == "file" else 512
        cipher = StoreCipher("chachapoly", self.seed) if self.kind == "file-encrypted" else None
        store = FileStore(directory, limits, clock=self.clock, block_size=block, cipher=cipher)
        self.made.append(store)
        return store

    def reopen(self, store: StreamStore) -> StreamStore:
        """Close and recover a file store with its current limits."""
        if not isinstance(store, FileStore):
            return store
        store.close()
        return self.open_dir(store.directory, store.limits)

    def and_reopened(self, store: StreamStore) -> Iterator[StreamStore]:
        """Yield ``store``, then (for file engines) the same store reopened from disk."""
        yield store
        if isinstance(store, FileStore):
            yield self.reopen(store)

    def close_all(self) -> None:
        """Close every store this factory made."""
        for s in self.made:
            s.close()

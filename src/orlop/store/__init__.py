"""Stream storage engines: one interface (:class:`StreamStore`), a memory and a file engine."""

from orlop.store.base import StoredMsg, StoreLimits, StreamState, StreamStore, wall_clock
from orlop.store.file import FileStore
from orlop.store.memory import MemoryStore

__all__ = ["FileStore", "MemoryStore", "StoreLimits", "StoredMsg", "StreamState", "StreamStore", "wall_clock"]

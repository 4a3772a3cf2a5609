"""The one narrow interface every stream storage engine implements.

A store holds the messages of one stream: sequence numbers, subjects, header
bytes, payload bytes, timestamps, and the limits that bound them. It knows
nothing of the network, of JSON, of consumers or of JetStream headers; the
JetStream layer turns publish headers (rollup, expected-*, msg-id, TTL) into
calls on this interface. Removals are reported upward through a callback so
consumers can adjust pending counts without the store importing them.

Time is injected: every store takes a ``clock`` returning Unix nanoseconds,
and expiry runs only when :meth:`StreamStore.expire` is called, so tests drive
max_age and TTL without sleeping.

Both engines (``MemoryStore`` and ``FileStore``) pass the same conformance
suite, ``tests/store/test_store_conformance.py``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Clock",
    "NewMsg",
    "RemoveCallback",
    "StoreLimits",
    "StoredMsg",
    "StreamState",
    "StreamStore",
    "wall_clock",
]

Clock = Callable[[], int]
"""Returns the current time as Unix nanoseconds."""

NewMsg = tuple[str, bytes, bytes, int]
"""A message to append: subject, header bytes, payload, TTL in ns (see :meth:`StreamStore.store_msgs`)."""

RemoveCallback = Callable[[int, str], None]
"""Called as ``fn(seq, subject)`` for every message removed for any reason."""


def wall_clock() -> int:
    """The real clock: Unix time in nanoseconds."""
    return time.time_ns()


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """Limits a store enforces on append. ``-1`` (or ``0`` for ages) means unlimited.

    ``discard`` is ``"old"`` (drop the oldest messages to make room) or ``"new"``
    (refuse the append with :class:`orlop.errors.StoreLimitError`).
    ``discard_new_per_subject`` makes max_msgs_per_subject refuse instead of
    dropping (only meaningful with discard ``"new"``).
    ``compression`` is ``"none"`` or ``"s2"`` (payload stored compressed; reads
    return the original bytes).
    """

    max_msgs: int = -1
    max_bytes: int = -1
    max_age_ns: int = 0
    max_msgs_per_subject: int = -1
    max_msg_size: int = -1
    discard: str = "old"
    discard_new_per_subject: bool = False
    compression: str = "none"


@dataclass(frozen=True, slots=True)
class StoredMsg:
    """One stored message. ``hdr`` is the raw NATS/1.0 header block or ``b""``.

    ``ttl_ns`` is the per-message TTL (0 = none; -1 = never expires even under max_age).
    """

    seq: int
    subject: str
    hdr: bytes
    data: bytes
    ts: int
    ttl_ns: int = 0


@dataclass(slots=True)
class StreamState:
    """Counters of a store, as STREAM.INFO reports them.

    With no messages, ``first_seq`` is ``last_seq + 1`` (nats-server's convention),
    ``first_ts`` is 0 and ``last_ts`` keeps the time of the last message ever stored
    (as nats-server's purge does). ``deleted`` lists the interior gaps, ascending.
    """

    msgs: int = 0
    bytes: int = 0
    first_seq: int = 0
    first_ts: int = 0
    last_seq: int = 0
    last_ts: int = 0
    num_deleted: int = 0
    num_subjects: int = 0
    deleted: list[int] = field(default_factory=list)


class StreamStore(ABC):
    """Storage of one stream's messages. Not thread-safe: one event loop owns it.

    ``bytes`` accounting uses nats-server's per-message sizes (uncompressed), so
    STREAM.INFO and max_bytes match it: memory streams count
    ``len(subject) + len(hdr) + len(data) + 16`` (memStoreMsgSize), file streams
    ``30 + len(subject) + len(data)`` without headers and
    ``34 + len(subject) + len(hdr) + len(data)`` with (fileStoreMsgSize).
    """

    @abstractmethod
    def store_msg(self, subject: str, hdr: bytes, data: bytes, *, ttl_ns: int = 0) -> StoredMsg:
        """Append a message at the next sequence, stamped with the store's clock.

        Enforces the limits (dropping old messages, reported through the remove
        callback, or refusing new ones). When this returns, the record has been
        handed to the OS (and fsynced if the store was opened with sync_always).

        Raises StoreLimitError (discard new), MsgTooLargeError, DiskFullError,
        StoreClosedError.
        """

    def store_msgs(self, msgs: Sequence[NewMsg]) -> list[StoredMsg]:
        """Append several messages at consecutive sequences, all or none of them.

        ``msgs`` are ``(subject, hdr, data, ttl_ns)``. The result is what the same
        :meth:`store_msg` calls in order would give, except that a refusal part way
        (a limit, a full disk) leaves none of them stored. An engine may write them
        with fewer system calls (the file store writes a block's share at once), so
        an atomic batch commit costs a few writes instead of one per message.
        """
        stored: list[StoredMsg] = []
        try:
            for subject, hdr, data, ttl_ns in msgs:
                stored.append(self.store_msg(subject, hdr, data, ttl_ns=ttl_ns))
        except BaseException:
            for msg in stored:
                self.remove(msg.seq)
            raise
        return stored

    @abstractmethod
    def skip_msgs(self, seq: int) -> None:
        """Move the next sequence to ``seq`` (used by purge-with-seq to leave a gap)."""

    @abstractmethod
    def load(self, seq: int) -> StoredMsg | None:
        """The message at ``seq``, or None when it never existed or was removed."""

    @abstractmethod
    def load_next(self, filter_subject: str, start_seq: int) -> StoredMsg | None:
        """The first message with seq >= ``start_seq`` whose subject matches the filter.

        ``filter_subject`` may contain wildcards; ``""`` or ``">"`` match everything.
        Must not read payloads of non-matching messages.
        """

    @abstractmethod
    def load_last(self, filter_subject: str) -> StoredMsg | None:
        """The highest-sequence message matching the filter (wildcards allowed), or None."""

    @abstractmethod
    def last_seq_for_subject(self, subject: str) -> int:
        """Sequence of the last message on a literal subject, 0 when there is none."""

    @abstractmethod
    def last_seqs_per_subject(self, filter_subject: str) -> list[int]:
        """Ascending sequences of the newest message of each subject matching the filter."""

    @abstractmethod
    def num_pending(self, start_seq: int, filter_subject: str, *, last_per_subject: bool = False) -> int:
        """Messages with seq >= start_seq matching the filter.

        With ``last_per_subject``, counts only subjects whose newest message is >= start_seq
        (one per subject).
        """

    @abstractmethod
    def subjects(self, filter_subject: str = ">") -> dict[str, int]:
        """Message count per subject, for subjects matching the filter."""

    @abstractmethod
    def remove(self, seq: int) -> bool:
        """Delete one message (a tombstone on disk). False when it was not there."""

    @abstractmethod
    def purge(self, filter_subject: str = "", *, up_to_seq: int = 0, keep: int = 0) -> int:
        """Remove messages; returns how many.

        ``filter_subject`` restricts to matching subjects (``""`` = all).
        ``up_to_seq`` removes only messages with seq < up_to_seq.
        ``keep`` keeps the newest ``keep`` messages matching the filter, counted over all
        matching subjects together, not per subject (nats-server's ``PurgeEx``).
        Without a filter, ``keep`` removes every seq below ``last_seq - keep + 1`` (so
        interior gaps count against it, as in nats-server), and ``up_to_seq`` beyond the
        last sequence empties the store and makes ``up_to_seq`` the next sequence.
        A purge of everything with no seq keeps the sequence counter (first_seq = last_seq + 1).
        """

    @abstractmethod
    def state(self) -> StreamState:
        """Current counters (no IO), with the ``deleted`` list (O(gaps) to copy)."""

    @abstractmethod
    def fast_state(self) -> StreamState:
        """Current counters without the ``deleted`` list (``[]``): O(1), for hot paths."""

    @abstractmethod
    def update_limits(self, limits: StoreLimits) -> None:
        """Apply new limits, removing what no longer fits (reported via the callback)."""

    @abstractmethod
    def expire(self, now_ns: int | None = None) -> int:
        """Remove messages past max_age or their TTL at ``now_ns`` (default: the clock)."""

    @abstractmethod
    def next_expiry(self) -> int | None:
        """Unix ns of the earliest future expiry, or None; lets the owner schedule a timer."""

    @abstractmethod
    def set_remove_callback(self, fn: RemoveCallback | None) -> None:
        """Register the single upward removal callback."""

    @abstractmethod
    def flush(self) -> None:
        """Hand buffered writes to the OS."""

    @abstractmethod
    def sync(self) -> None:
        """fsync everything written so far."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release files. Further calls raise StoreClosedError."""

    @abstractmethod
    def destroy(self) -> None:
        """Close and delete all of this store's data."""

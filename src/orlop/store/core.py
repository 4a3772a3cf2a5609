"""The in-memory index and the stream semantics both engines share.

nats-server keeps its memstore and filestore as two copies of the same rules
(limits, purge, TTL, per-subject state); they drift. Here the rules live once,
in :class:`IndexedStore`, over an index of small per-message :class:`Entry`
records (subject, timestamp, accounted size, TTL and an engine-specific
location). An engine only says how a record is written, read back and how
removals are made durable, through five hooks:

``_append``            write one message, return its location (raise DiskFullError)
``_fetch``             read header and payload back, or None when the record is corrupt
``_persist_removal``   make removals durable (``floor``: every seq below it is gone)
``_persist_skip``      make a sequence jump durable
``_release``           close files (``destroy`` also deletes them)

Index layout: ``_msgs`` maps seq -> Entry in ascending insertion order (so a
dict walk is a seq walk); ``_subj`` maps each subject to the ascending list of
its live seqs, so filtered reads touch only matching subjects and never read
payloads; wildcard filters get a cached merged seq list (:mod:`orlop.store.filters`).
Subjects are interned (one ``str`` per subject). ``_dmap`` holds the interior
gaps (deleted seqs between first and last), which nats-server reports as
``num_deleted``.

Semantics follow nats-server's memstore/filestore: discard new refuses when
``bytes + size > max_bytes`` or ``msgs >= max_msgs`` unless the per-subject
limit will replace the subject's oldest; discard old drops the oldest until the
stream fits; TTL -1 exempts a message from max_age; ``PurgeEx`` rules for
filter/seq/keep (see :meth:`StreamStore.purge`).
"""

from __future__ import annotations

import heapq
import sys
from abc import abstractmethod
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence

from orlop.errors import DiskFullError, MsgTooLargeError, StoreClosedError, StoreLimitError
from orlop.store.base import (
    Clock,
    NewMsg,
    RemoveCallback,
    StoredMsg,
    StoreLimits,
    StreamState,
    StreamStore,
)
from orlop.store.filters import FilterCache, FilterIndex
from orlop.subjects import has_wildcard, matches

__all__ = ["Entry", "IndexedStore", "NewRecord", "file_msg_size", "memory_msg_size"]

NewRecord = tuple[int, str, bytes, bytes, int, int]
"""A message an engine appends: seq, subject, header bytes, payload, timestamp, TTL."""

_SCAN_LIMIT = 64  # seq-walk steps tried before falling back to a per-subject search


def memory_msg_size(subject_len: int, hdr_len: int, data_len: int) -> int:
    """nats-server's accounted size of one message in a memory stream (memStoreMsgSize)."""
    return subject_len + hdr_len + data_len + 16


def file_msg_size(subject_len: int, hdr_len: int, data_len: int) -> int:
    """nats-server's accounted size of one message in a file stream (fileStoreMsgSize)."""
    if hdr_len == 0:
        return 30 + subject_len + data_len
    return 34 + subject_len + hdr_len + data_len


class Entry:
    """Index record of one live message; ``loc`` is owned by the engine."""

    __slots__ = ("loc", "size", "subject", "ts", "ttl")

    def __init__(self, subject: str, ts: int, size: int, ttl: int, loc: object) -> None:
        self.subject = subject
        self.ts = ts
        self.size = size
        self.ttl = ttl
        self.loc = loc


def _is_all(filter_subject: str) -> bool:
    return filter_subject in ("", ">")


class IndexedStore(StreamStore):
    """Everything of :class:`StreamStore` except the bytes on disk (see module docstring)."""

    _msg_size = staticmethod(memory_msg_size)
    """Byte accounting; the file engine uses nats-server's file-stream sizes."""

    def __init__(self, limits: StoreLimits, clock: Clock) -> None:
        self._limits = limits
        self._clock = clock
        self._cb: RemoveCallback | None = None
        self._closed = False
        self._msgs: dict[int, Entry] = {}
        self._subj: dict[str, list[int]] = {}
        self._dmap: set[int] = set()
        self._ttl_heap: list[tuple[int, int]] = []
        self._first = 1
        self._last = 0
        self._last_ts = 0
        self._bytes = 0
        self._deleted_cache: tuple[tuple[int, int, int], list[int]] | None = None
        self._filters = FilterCache()

    # ----------------------------------------------------------------- engine hooks

    @abstractmethod
    def _append(self, seq: int, subject: str, hdr: bytes, data: bytes, ts: int, ttl: int) -> object:
        """Write one message durably enough for the engine; return its location."""

    def _append_many(self, records: list[NewRecord]) -> Sequence[object] | None:
        """Write several messages, all or none (raise and leave none); return their locations,
        or None when the engine cannot write them at once (they are then stored one by one)."""
        return [self._append(*r) for r in records]

    @abstractmethod
    def _fetch(self, seq: int, entry: Entry) -> tuple[bytes, bytes] | None:
        """Header and payload of a live message, or None when its record is corrupt."""

    @abstractmethod
    def _persist_removal(self, removed: list[tuple[int, Entry]], floor: int) -> None:
        """Make removals durable; every seq below ``floor`` is gone."""

    @abstractmethod
    def _persist_skip(self, next_seq: int) -> None:
        """Make a jump of the next sequence to ``next_seq`` durable."""

    @abstractmethod
    def _release(self, delete: bool) -> None:
        """Close the engine's files; delete all data when ``delete``."""

    # ----------------------------------------------------------------- index primitives

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("store is closed")

    def _index_add(self, seq: int, entry: Entry) -> None:
        """Insert a message (seq above every live seq) into the index."""
        if not self._msgs:
            self._first = seq
        self._msgs[seq] = entry
        lst = self._subj.get(entry.subject)
        if lst is None:
            self._subj[entry.subject] = [seq]
        else:
            lst.append(seq)
        self._filters.added(entry.subject, seq, lst is None)
        self._bytes += entry.size
        if entry.ttl > 0:
            heapq.heappush(self._ttl_heap, (entry.ts + entry.ttl, seq))

    def _unsubject(self, subject: str, gone: list[int]) -> None:
        """Take the ascending ``gone`` seqs out of ``subject``'s list, in one pass."""
        lst = self._subj[subject]
        if len(gone) == len(lst):
            del self._subj[subject]
        elif len(gone) == 1:
            del lst[bisect_left(lst, gone[0])]
        elif lst[: len(gone)] == gone:
            del lst[: len(gone)]
        else:
            drop = set(gone)
            lst[:] = [q for q in lst if q not in drop]

    def _advance_first(self) -> None:
        """Move ``_first`` to the lowest live seq after the old first was removed."""
        if not self._msgs:
            self._first = self._last + 1
            self._dmap.clear()
            return
        s = self._first
        for _ in range(_SCAN_LIMIT):
            if s in self._msgs:
                break
            self._dmap.discard(s)
            s += 1
        else:
            # Long gap: the dict's insertion order is seq order, its first key is the answer.
            s = next(iter(self._msgs))
            self._dmap = {d for d in self._dmap if d > s}
        self._first = s

    def _oldest(self) -> Iterator[tuple[int, Entry]]:
        """Live messages in seq order from the first, by seq walk while gaps are short.

        (Walking the dict from its start would skip every slot freed by past
        removals until the dict next resizes.) Do not remove while iterating.
        """
        msgs, s, misses = self._msgs, self._first, 0
        while s <= self._last:
            entry = msgs.get(s)
            if entry is not None:
                misses = 0
                yield s, entry
            else:
                misses += 1
                if misses > _SCAN_LIMIT:
                    yield from ((q, e) for q, e in msgs.items() if q > s)
                    return
            s += 1

    def _drop(self, seqs: Iterable[int]) -> int:
        """Remove ``seqs`` (ascending; those still live), persist, then report through the callback."""
        removed: list[tuple[int, Entry]] = []
        by_subject: dict[str, list[int]] = {}
        for seq in seqs:
            entry = self._msgs.pop(seq, None)
            if entry is not None:
                removed.append((seq, entry))
                by_subject.setdefault(entry.subject, []).append(seq)
                self._bytes -= entry.size
        if not removed:
            return 0
        for subject, gone in by_subject.items():
            self._unsubject(subject, gone)
        self._filters.removed(by_subject, [subj for subj in by_subject if subj not in self._subj])
        self._dmap.update(seq for seq, _ in removed)
        if self._first not in self._msgs:
            self._advance_first()
        self._persist_removal(removed, self._first)
        cb = self._cb
        if cb is not None:
            for seq, entry in removed:
                cb(seq, entry.subject)
        return len(removed)

    def _read(self, seq: int, entry: Entry) -> StoredMsg | None:
        got = self._fetch(seq, entry)
        if got is None:
            self._drop([seq])
            return None
        return StoredMsg(seq, entry.subject, got[0], got[1], entry.ts, entry.ttl)

    # ----------------------------------------------------------------- matching helpers

    def _matching(self, filter_subject: str) -> Iterable[tuple[str, list[int]]]:
        """(subject, seqs) pairs of the subjects matching the filter."""
        if _is_all(filter_subject):
            return self._subj.items()
        if not has_wildcard(filter_subject):
            lst = self._subj.get(filter_subject)
            return [] if lst is None else [(filter_subject, lst)]
        subj = self._subj
        return [(s, subj[s]) for s in self._wild(filter_subject).subjects]

    def _wild(self, filter_subject: str) -> FilterIndex:
        """The cached secondary index of a wildcard filter."""
        return self._filters.get(filter_subject, self._subj)

    # ----------------------------------------------------------------- append + limits

    def store_msg(self, subject: str, hdr: bytes, data: bytes, *, ttl_ns: int = 0) -> StoredMsg:
        """See :meth:`StreamStore.store_msg`."""
        # Runs once per published message: limit checks are skipped when unset.
        if self._closed:
            raise StoreClosedError("store is closed")
        lim = self._limits
        if lim.max_msg_size >= 0 and len(hdr) + len(data) > lim.max_msg_size:
            raise MsgTooLargeError(f"message size {len(hdr) + len(data)} exceeds maximum {lim.max_msg_size}")
        subject = sys.intern(subject)
        size = self._msg_size(len(subject.encode("utf-8", "surrogateescape")), len(hdr), len(data))
        if lim.discard == "new":
            self._check_discard_new(subject, size)
        seq = self._last + 1
        ts = self._clock()
        if type(hdr) is not bytes:
            hdr = bytes(hdr)
        if type(data) is not bytes:
            data = bytes(data)
        loc = self._append(seq, subject, hdr, data, ts, ttl_ns)
        self._last = seq
        self._last_ts = ts
        self._index_add(seq, Entry(subject, ts, size, ttl_ns, loc))
        if lim.max_msgs_per_subject > 0 or lim.max_msgs > 0 or lim.max_bytes > 0:
            self._apply_limits(subject)
        return StoredMsg(seq, subject, hdr, data, ts, ttl_ns)

    def _apply_limits(self, subject: str) -> None:
        """Drop what the limits no longer allow after an append of ``subject`` (discard old)."""
        lim = self._limits
        try:
            if lim.max_msgs_per_subject > 0:
                self._enforce_subject(subject)
            if lim.max_msgs > 0 or lim.max_bytes > 0:
                self._enforce_totals()
        except DiskFullError:
            # The message is stored and acknowledged; only the record of a limit removal
            # could not be written. The removal holds in memory; after a restart the
            # limits drop the same messages again on the next appends.
            pass

    def store_msgs(self, msgs: Sequence[NewMsg]) -> list[StoredMsg]:
        """See :meth:`StreamStore.store_msgs`: one engine write for all, then the index and limits."""
        if self._closed:
            raise StoreClosedError("store is closed")
        lim = self._limits
        if lim.discard == "new" or len(msgs) < 2:
            # Each refusal under discard new depends on the appends before it: one by one.
            return super().store_msgs(msgs)
        records: list[NewRecord] = []
        sizes: list[int] = []
        seq = self._last
        last_subject, subject_len = "", 0
        for subject, hdr, data, ttl_ns in msgs:
            if lim.max_msg_size >= 0 and len(hdr) + len(data) > lim.max_msg_size:
                raise MsgTooLargeError(
                    f"message size {len(hdr) + len(data)} exceeds maximum {lim.max_msg_size}"
                )
            if subject != last_subject:  # a batch is mostly one subject: its length once
                last_subject = subject = sys.intern(subject)
                subject_len = len(subject.encode("utf-8", "surrogateescape"))
            else:
                subject = last_subject
            sizes.append(self._msg_size(subject_len, len(hdr), len(data)))
            seq += 1
            records.append((seq, subject, bytes(hdr), bytes(data), self._clock(), ttl_ns))
        locs = self._append_many(records)
        if locs is None:
            return super().store_msgs(msgs)
        out: list[StoredMsg] = []
        limited = lim.max_msgs_per_subject > 0 or lim.max_msgs > 0 or lim.max_bytes > 0
        index_add = self._index_add
        # Indexed and limited one by one, as store_msg does: the same messages survive the limits.
        for (seq, subject, hdr, data, ts, ttl), size, loc in zip(records, sizes, locs, strict=True):
            index_add(seq, Entry(subject, ts, size, ttl, loc))
            if limited:
                self._last, self._last_ts = seq, ts  # what the removals below see
                self._apply_limits(subject)
            out.append(StoredMsg(seq, subject, hdr, data, ts, ttl))
        self._last, self._last_ts = records[-1][0], records[-1][4]
        return out

    def _check_discard_new(self, subject: str, size: int) -> None:
        """Refuse an append under discard new, as nats-server's storeRawMsg does."""
        lim = self._limits
        lst = self._subj.get(subject)
        at_subject_limit = (
            lim.max_msgs_per_subject > 0 and lst is not None and (len(lst) >= lim.max_msgs_per_subject)
        )
        if at_subject_limit and lim.discard_new_per_subject:
            raise StoreLimitError("subject", "maximum messages per subject exceeded")
        if lim.max_msgs > 0 and len(self._msgs) >= lim.max_msgs and not at_subject_limit:
            raise StoreLimitError("msgs", "maximum messages exceeded")
        # At the per-subject limit the oldest of the subject is replaced: fine if that frees enough.
        replaced_fits = at_subject_limit and lst is not None and self._msgs[lst[0]].size >= size
        if lim.max_bytes > 0 and self._bytes + size > lim.max_bytes and not replaced_fits:
            raise StoreLimitError("bytes", "maximum bytes exceeded")

    def _enforce_subject(self, subject: str) -> None:
        limit = self._limits.max_msgs_per_subject
        lst = self._subj.get(subject)
        if limit > 0 and lst is not None and len(lst) > limit:
            self._drop(list(lst[: len(lst) - limit]))

    def _enforce_totals(self) -> None:
        """Drop the oldest messages while over max_msgs / max_bytes (discard old only)."""
        lim = self._limits
        if lim.discard != "old":
            return

        def over(msgs: int, nbytes: int) -> bool:
            return (0 < lim.max_msgs < msgs) or (0 < lim.max_bytes < nbytes)

        msgs, nbytes = len(self._msgs), self._bytes
        if not over(msgs, nbytes):
            return
        victims: list[int] = []
        for seq, entry in self._oldest():
            if not over(msgs, nbytes):
                break
            victims.append(seq)
            msgs -= 1
            nbytes -= entry.size
        self._drop(victims)

    def update_limits(self, limits: StoreLimits) -> None:
        """See :meth:`StreamStore.update_limits`."""
        self._check_open()
        self._limits = limits
        if limits.max_msgs_per_subject > 0:
            for subject in [s for s, lst in self._subj.items() if len(lst) > limits.max_msgs_per_subject]:
                self._enforce_subject(subject)
        self._enforce_totals()
        if limits.max_age_ns > 0:
            self.expire()

    def skip_msgs(self, seq: int) -> None:
        """See :meth:`StreamStore.skip_msgs`; a ``seq`` at or below the next sequence does nothing."""
        self._check_open()
        if seq <= self._last + 1:
            return
        self._persist_skip(seq)
        if self._msgs:
            self._dmap.update(range(self._last + 1, seq))
        else:
            self._first = seq
        self._last = seq - 1

    # ----------------------------------------------------------------- reads

    def load(self, seq: int) -> StoredMsg | None:
        """See :meth:`StreamStore.load`."""
        self._check_open()
        entry = self._msgs.get(seq)
        return None if entry is None else self._read(seq, entry)

    def load_next(self, filter_subject: str, start_seq: int) -> StoredMsg | None:
        """See :meth:`StreamStore.load_next`. Corrupt records are dropped and skipped."""
        self._check_open()
        start = max(start_seq, self._first)
        while True:
            seq = self._next_seq(filter_subject, start)
            if seq is None:
                return None
            msg = self._read(seq, self._msgs[seq])
            if msg is not None:
                return msg
            start = seq + 1

    def _next_seq(self, filter_subject: str, start: int) -> int | None:
        """Lowest live seq >= start matching the filter, from the index alone."""
        if start > self._last or not self._msgs:
            return None
        literal = not _is_all(filter_subject) and not has_wildcard(filter_subject)
        if not literal:
            msgs = self._msgs
            stop = min(self._last + 1, start + _SCAN_LIMIT)
            for s in range(start, stop):
                entry = msgs.get(s)
                if entry is not None and (_is_all(filter_subject) or matches(entry.subject, filter_subject)):
                    return s
            if stop > self._last:
                return None
            start = stop
            if not _is_all(filter_subject):
                seqs = self._wild(filter_subject).seqs
                i = bisect_left(seqs, start)
                return seqs[i] if i < len(seqs) else None
        best: int | None = None
        for _, lst in self._matching(filter_subject):
            i = bisect_left(lst, start)
            if i < len(lst) and (best is None or lst[i] < best):
                best = lst[i]
        return best

    def load_last(self, filter_subject: str) -> StoredMsg | None:
        """See :meth:`StreamStore.load_last`."""
        self._check_open()
        while True:
            if _is_all(filter_subject):
                seq = next(reversed(self._msgs), None)
            elif has_wildcard(filter_subject):
                seqs = self._wild(filter_subject).seqs
                seq = seqs[-1] if seqs else None
            else:
                lst = self._subj.get(filter_subject)
                seq = lst[-1] if lst else None
            if seq is None:
                return None
            msg = self._read(seq, self._msgs[seq])
            if msg is not None:
                return msg

    def last_seq_for_subject(self, subject: str) -> int:
        """See :meth:`StreamStore.last_seq_for_subject`."""
        self._check_open()
        lst = self._subj.get(subject)
        return 0 if lst is None else lst[-1]

    def last_seqs_per_subject(self, filter_subject: str) -> list[int]:
        """See :meth:`StreamStore.last_seqs_per_subject`."""
        self._check_open()
        return sorted(lst[-1] for _, lst in self._matching(filter_subject))

    def num_pending(self, start_seq: int, filter_subject: str, *, last_per_subject: bool = False) -> int:
        """See :meth:`StreamStore.num_pending`."""
        self._check_open()
        if last_per_subject:
            return sum(1 for _, lst in self._matching(filter_subject) if lst[-1] >= start_seq)
        if _is_all(filter_subject):
            if start_seq <= self._first:
                return len(self._msgs)
            if self._last - start_seq < len(self._subj):
                return sum(1 for s in range(start_seq, self._last + 1) if s in self._msgs)
        elif has_wildcard(filter_subject):
            seqs = self._wild(filter_subject).seqs
            return len(seqs) - bisect_left(seqs, start_seq)
        return sum(len(lst) - bisect_left(lst, start_seq) for _, lst in self._matching(filter_subject))

    def subjects(self, filter_subject: str = ">") -> dict[str, int]:
        """See :meth:`StreamStore.subjects`."""
        self._check_open()
        return {s: len(lst) for s, lst in self._matching(filter_subject)}

    # ----------------------------------------------------------------- removals

    def remove(self, seq: int) -> bool:
        """See :meth:`StreamStore.remove`."""
        self._check_open()
        return self._drop([seq]) == 1

    def purge(self, filter_subject: str = "", *, up_to_seq: int = 0, keep: int = 0) -> int:
        """See :meth:`StreamStore.purge` (nats-server's ``PurgeEx`` semantics)."""
        self._check_open()
        if _is_all(filter_subject):
            if up_to_seq > 0:
                return self._compact(up_to_seq)
            if keep > 0:
                return 0 if keep >= len(self._msgs) else self._compact(self._last - keep + 1)
            return self._compact(self._last + 1)
        matched = [lst for _, lst in self._matching(filter_subject)]
        total = sum(len(lst) for lst in matched)
        if keep > 0 and keep >= total:
            return 0
        victims: list[int] = []
        for lst in matched:
            victims.extend(lst if up_to_seq <= 0 else lst[: bisect_left(lst, up_to_seq)])
        victims.sort()
        if keep > 0:
            victims = victims[: total - keep]
        return self._drop(victims)

    def _compact(self, seq: int) -> int:
        """Remove every message below ``seq``; past the end, the next message gets ``seq``."""
        if seq > self._last + 1:
            count = self._compact(self._last + 1)
            self.skip_msgs(seq)
            return count
        victims: list[int] = []
        for s, _ in self._oldest():
            if s >= seq:
                break
            victims.append(s)
        return self._drop(victims)

    def expire(self, now_ns: int | None = None) -> int:
        """See :meth:`StreamStore.expire`. TTL -1 exempts a message from max_age."""
        self._check_open()
        now = self._clock() if now_ns is None else now_ns
        victims: list[int] = []
        max_age = self._limits.max_age_ns
        if max_age > 0:
            cutoff = now - max_age
            for seq, entry in self._oldest():
                if entry.ttl == -1:
                    continue
                if entry.ts > cutoff:
                    break
                victims.append(seq)
        heap = self._ttl_heap
        while heap and heap[0][0] <= now:
            _, seq = heapq.heappop(heap)
            victims.append(seq)
        return self._drop(sorted(set(victims)))

    def next_expiry(self) -> int | None:
        """See :meth:`StreamStore.next_expiry` (may be in the past when expire() is overdue)."""
        self._check_open()
        heap = self._ttl_heap
        while heap and heap[0][1] not in self._msgs:
            heapq.heappop(heap)
        best = heap[0][0] if heap else None
        if self._limits.max_age_ns > 0:
            for _, entry in self._oldest():
                if entry.ttl != -1:
                    at = entry.ts + self._limits.max_age_ns
                    best = at if best is None else min(best, at)
                    break
        return best

    # ----------------------------------------------------------------- state + lifecycle

    def fast_state(self) -> StreamState:
        """See :meth:`StreamStore.fast_state`."""
        self._check_open()
        first_entry = self._msgs.get(self._first)
        return StreamState(
            msgs=len(self._msgs),
            bytes=self._bytes,
            first_seq=self._first,
            first_ts=0 if first_entry is None else first_entry.ts,
            last_seq=self._last,
            last_ts=self._last_ts,
            num_deleted=len(self._dmap),
            num_subjects=len(self._subj),
        )

    def state(self) -> StreamState:
        """See :meth:`StreamStore.state`. The sorted gap list is cached between changes."""
        st = self.fast_state()
        # Removals only grow the gap set or move first; appends and skips move last:
        # (first, last, count) therefore identifies the set exactly.
        key = (self._first, self._last, len(self._dmap))
        if self._deleted_cache is None or self._deleted_cache[0] != key:
            self._deleted_cache = (key, sorted(self._dmap))
        st.deleted = list(self._deleted_cache[1])
        return st

    def set_remove_callback(self, fn: RemoveCallback | None) -> None:
        """See :meth:`StreamStore.set_remove_callback`."""
        self._cb = fn

    @property
    def limits(self) -> StoreLimits:
        """The limits in force."""
        return self._limits

    def close(self) -> None:
        """See :meth:`StreamStore.close`. Closing twice is allowed."""
        if self._closed:
            return
        self._release(False)
        self._closed = True

    def destroy(self) -> None:
        """See :meth:`StreamStore.destroy`."""
        self._release(True)
        self._closed = True
        self._msgs.clear()
        self._subj.clear()
        self._filters.clear()

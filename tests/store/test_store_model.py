"""Each engine against a plain dict model, driven by hypothesis' RuleBasedStateMachine.

The model states nats-server's semantics directly (purge filter/keep/seq,
max_age and per-message TTL on a fake clock, discard-old max_msgs and
max_msgs_per_subject, sequence counter after purges);
the file engines also restart at random points and must come back identical.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from orlop.store import FileStore, MemoryStore, StoreLimits, StreamStore
from orlop.store.core import file_msg_size, memory_msg_size
from orlop.store.testing import FakeClock
from orlop.subjects import matches

SEC = 1_000_000_000
MAX_AGE = 60 * SEC
MAX_MSGS, MAX_PER_SUBJECT = 12, 4
SUBJECTS = ["a.1", "a.2", "b.1", "b.2.c"]
FILTERS = ["", ">", "a.*", "a.>", "b.1", "*.1", "b.>"]


class Model:
    """The expected contents: seq -> (subject, data, ts, ttl)."""

    def __init__(self) -> None:
        self.msgs: dict[int, tuple[str, bytes, int, int]] = {}
        self.last = 0
        self.last_ts = 0

    def first(self) -> int:
        return min(self.msgs) if self.msgs else self.last + 1

    def compact(self, seq: int) -> list[int]:
        gone = [s for s in sorted(self.msgs) if s < seq]
        for s in gone:
            del self.msgs[s]
        self.last = max(self.last, seq - 1)
        return gone

    def purge(self, flt: str, up_to: int, keep: int) -> list[int]:
        if flt in ("", ">"):
            if up_to > 0:
                return self.compact(up_to)
            if keep > 0:
                return [] if keep >= len(self.msgs) else self.compact(self.last - keep + 1)
            return self.compact(self.last + 1)
        matching = sorted(s for s, m in self.msgs.items() if matches(m[0], flt))
        if keep > 0 and keep >= len(matching):
            return []
        victims = [s for s in matching if up_to <= 0 or s < up_to]
        if keep > 0:
            victims = victims[: len(matching) - keep]
        for s in victims:
            del self.msgs[s]
        return victims

    def enforce(self, subject: str) -> list[int]:
        """Discard-old limits after an append: the subject's oldest, then the stream's oldest."""
        mine = sorted(q for q, m in self.msgs.items() if m[0] == subject)
        gone = mine[: max(0, len(mine) - MAX_PER_SUBJECT)]
        for q in gone:
            del self.msgs[q]
        over = sorted(self.msgs)[: max(0, len(self.msgs) - MAX_MSGS)]
        for q in over:
            del self.msgs[q]
        return gone + over

    def expire(self, now: int) -> list[int]:
        gone = sorted(
            s
            for s, (_, _, ts, ttl) in self.msgs.items()
            if (ttl != -1 and ts <= now - MAX_AGE) or (ttl > 0 and ts + ttl <= now)
        )
        for s in gone:
            del self.msgs[s]
        return gone


class StoreMachine(RuleBasedStateMachine):
    kind = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.dir = Path(tempfile.mkdtemp(prefix="orlop-model-"))
        self.model = Model()
        self.removed: list[int] = []
        self.store = self._open()

    def _open(self) -> StreamStore:
        limits = StoreLimits(max_age_ns=MAX_AGE, max_msgs=MAX_MSGS, max_msgs_per_subject=MAX_PER_SUBJECT)
        store: StreamStore
        if self.kind == "memory":
            store = MemoryStore(limits, clock=self.clock)
        else:
            block = 300 if self.kind == "file-small-blocks" else 1 << 20
            store = FileStore(self.dir, limits, clock=self.clock, block_size=block)
        store.set_remove_callback(lambda seq, subj: self.removed.append(seq))
        return store

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(
        subject=st.sampled_from(SUBJECTS),
        data=st.binary(max_size=40),
        ttl=st.sampled_from([0, 0, -1, -1, 5 * SEC, 90 * SEC]),
    )
    def append(self, subject: str, data: bytes, ttl: int) -> None:
        self.removed.clear()
        m = self.store.store_msg(subject, b"", data, ttl_ns=ttl)
        self.model.last += 1
        assert m.seq == self.model.last
        self.model.msgs[m.seq] = (subject, data, self.clock.now, ttl)
        self.model.last_ts = self.clock.now
        assert self.removed == self.model.enforce(subject)

    @rule(dt=st.integers(min_value=0, max_value=70 * SEC))
    def advance(self, dt: int) -> None:
        self.clock.advance(dt)

    @rule()
    def expire(self) -> None:
        expected = self.model.expire(self.clock.now)
        self.removed.clear()
        assert self.store.expire() == len(expected)
        assert sorted(self.removed) == expected

    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        seq = data.draw(st.integers(min_value=0, max_value=self.model.last + 2))
        present = seq in self.model.msgs
        assert self.store.remove(seq) is present
        self.model.msgs.pop(seq, None)

    @rule(
        flt=st.sampled_from(FILTERS),
        up_to=st.one_of(st.just(0), st.integers(min_value=1, max_value=30)),
        keep=st.integers(min_value=0, max_value=3),
    )
    def purge(self, flt: str, up_to: int, keep: int) -> None:
        expected = self.model.purge(flt, up_to, keep)
        self.removed.clear()
        assert self.store.purge(flt, up_to_seq=up_to, keep=keep) == len(expected)
        assert self.removed == expected

    @rule()
    def reopen(self) -> None:
        if self.kind != "memory":
            self.store.close()
            self.store = self._open()

    @invariant()
    def state_matches(self) -> None:
        m = self.model
        s = self.store.state()
        first = m.first()
        assert (s.msgs, s.first_seq, s.last_seq) == (len(m.msgs), first, m.last)
        size = memory_msg_size if self.kind == "memory" else file_msg_size
        assert s.bytes == sum(size(len(subj), 0, len(d)) for subj, d, _, _ in m.msgs.values())
        gaps = [q for q in range(first, m.last + 1) if q not in m.msgs] if m.msgs else []
        assert (s.deleted, s.num_deleted) == (gaps, len(gaps))
        counts: dict[str, int] = {}
        for subj, _, _, _ in m.msgs.values():
            counts[subj] = counts.get(subj, 0) + 1
        assert self.store.subjects() == counts

    @invariant()
    def reads_match(self) -> None:
        m = self.model
        for seq in range(max(1, m.first() - 1), m.last + 2):
            got = self.store.load(seq)
            want = m.msgs.get(seq)
            assert (got is None) == (want is None)
            if got is not None and want is not None:
                assert (got.subject, got.data, got.ts, got.ttl_ns) == want
        for flt in ("a.*", ">"):
            nxt = self.store.load_next(flt, 1)
            want_seqs = [q for q in sorted(m.msgs) if matches(m.msgs[q][0], flt)]
            assert (nxt.seq if nxt else None) == (want_seqs[0] if want_seqs else None)
            assert self.store.num_pending(1, flt) == len(want_seqs)


class FileStoreMachine(StoreMachine):
    kind = "file"


class SmallBlockFileStoreMachine(StoreMachine):
    kind = "file-small-blocks"


_settings = settings(
    max_examples=100, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

TestMemoryStoreModel = StoreMachine.TestCase
TestMemoryStoreModel.settings = _settings
TestFileStoreModel = FileStoreMachine.TestCase
TestFileStoreModel.settings = _settings
TestSmallBlockFileStoreModel = SmallBlockFileStoreMachine.TestCase
TestSmallBlockFileStoreModel.settings = _settings

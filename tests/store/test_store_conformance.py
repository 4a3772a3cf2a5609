"""The conformance suite every StreamStore engine passes (memory, file, file with tiny blocks).

Where a behaviour must survive a restart, the test reopens the store through
``engine.reopen`` (a no-op for memory) and asserts again.
"""

from __future__ import annotations

import pytest

import orlop.store
from orlop.errors import MsgTooLargeError, StoreClosedError, StoreLimitError
from orlop.store import StoreLimits, StreamStore
from orlop.store.testing import EngineFactory as Engine

SEC = 1_000_000_000


def fill(store: StreamStore, subjects: list[str], data: bytes = b"x") -> list[int]:
    return [store.store_msg(s, b"", data).seq for s in subjects]


def test_public_names() -> None:
    assert set(orlop.store.__all__) == {
        "StreamStore",
        "StoreLimits",
        "StoredMsg",
        "StreamState",
        "MemoryStore",
        "FileStore",
        "wall_clock",
    }
    for name in orlop.store.__all__:
        assert getattr(orlop.store, name) is not None


def test_append_and_load(engine: Engine) -> None:
    store = engine.make()
    hdr = b"NATS/1.0\r\nA: b\r\n\r\n"
    m1 = store.store_msg("orders.new", hdr, b"hello")
    engine.clock.advance(5)
    m2 = store.store_msg("orders.old", b"", b"")
    assert (m1.seq, m2.seq) == (1, 2)
    assert m1.ts == engine.clock.now - 5 and m2.ts == engine.clock.now
    for store in engine.and_reopened(store):  # noqa: B020 - later code uses the reopened store
        got = store.load(1)
        assert got is not None
        assert (got.seq, got.subject, got.hdr, got.data, got.ts) == (1, "orders.new", hdr, b"hello", m1.ts)
        got2 = store.load(2)
        assert got2 is not None and got2.data == b"" and got2.hdr == b""
        assert store.load(0) is None and store.load(3) is None
        st = store.state()
        assert (st.msgs, st.first_seq, st.last_seq, st.num_subjects) == (2, 1, 2, 2)
        sizes = engine.msg_size("orders.new", hdr, b"hello") + engine.msg_size("orders.old", b"", b"")
        assert st.bytes == sizes
        assert (st.first_ts, st.last_ts) == (m1.ts, m2.ts)


def test_empty_state(engine: Engine) -> None:
    st = engine.make().state()
    assert (st.msgs, st.bytes, st.first_seq, st.last_seq, st.first_ts, st.num_deleted) == (0, 0, 1, 0, 0, 0)


def test_load_next_filters(engine: Engine) -> None:
    store = engine.make()
    fill(store, ["a.1", "b.1", "a.2", "a.1.x", "b.2", "a.1"])
    store = engine.reopen(store)

    def nxt(f: str, start: int) -> int | None:
        m = store.load_next(f, start)
        return None if m is None else m.seq

    assert nxt("", 1) == 1 and nxt(">", 2) == 2
    assert nxt("a.1", 2) == 6
    assert nxt("a.*", 2) == 3
    assert nxt("a.>", 4) == 4
    assert nxt("b.*", 3) == 5
    assert nxt("c.*", 1) is None
    assert nxt("a.1", 7) is None
    assert nxt("*.2", 4) == 5
    store.remove(3)
    assert nxt("a.*", 2) == 6


def test_load_next_across_long_gap(engine: Engine) -> None:
    store = engine.make()
    fill(store, ["x"] + ["y"] * 200 + ["x.z"])
    assert store.purge("y") == 200
    m = store.load_next("x.*", 1)
    assert m is not None and m.seq == 202
    m = store.load_next(">", 2)
    assert m is not None and m.seq == 202


def test_load_last(engine: Engine) -> None:
    store = engine.make()
    fill(store, ["a.1", "b.1", "a.2", "b.2"])
    for store in engine.and_reopened(store):  # noqa: B020 - later code uses the reopened store
        assert [store.load_last(f).seq for f in ("a.*", ">", "", "b.1", "*.1")] == [3, 4, 4, 2, 2]  # type: ignore[union-attr]
        assert store.load_last("c") is None
    store.remove(4)
    last = store.load_last(">")
    assert last is not None and last.seq == 3


def test_last_seqs_and_subjects(engine: Engine) -> None:
    store = engine.make()
    fill(store, ["kv.a", "kv.b", "kv.a", "other", "kv.c", "kv.b"])
    for store in engine.and_reopened(store):  # noqa: B020 - later code uses the reopened store
        assert store.last_seq_for_subject("kv.a") == 3
        assert store.last_seq_for_subject("kv.z") == 0
        assert store.last_seqs_per_subject("kv.*") == [3, 5, 6]
        assert store.last_seqs_per_subject(">") == [3, 4, 5, 6]
        assert store.subjects() == {"kv.a": 2, "kv.b": 2, "other": 1, "kv.c": 1}
        assert store.subjects("kv.b") == {"kv.b": 2}
        assert store.subjects("kv.*") == {"kv.a": 2, "kv.b": 2, "kv.c": 1}


def test_num_pending(engine: Engine) -> None:
    store = engine.make()
    fill(store, ["kv.a", "kv.b", "kv.a", "other", "kv.c", "kv.b"])
    store.remove(2)
    store = engine.reopen(store)
    assert store.num_pending(1, ">") == 5
    assert store.num_pending(1, "") == 5
    assert store.num_pending(4, ">") == 3
    assert store.num_pending(1, "kv.*") == 4
    assert store.num_pending(4, "kv.*") == 2
    assert store.num_pending(1, "kv.b") == 1
    assert store.num_pending(7, ">") == 0
    assert store.num_pending(1, "kv.*", last_per_subject=True) == 3
    assert store.num_pending(4, "kv.*", last_per_subject=True) == 2
    assert store.num_pending(1, ">", last_per_subject=True) == 4


def test_remove_and_gaps(engine: Engine) -> None:
    store = engine.make()
    fill(store, ["a", "b", "c", "d", "e"])
    assert store.remove(3) is True
    assert store.remove(3) is False
    assert store.remove(99) is False
    for store in engine.and_reopened(store):  # noqa: B020 - later code uses the reopened store
        st = store.state()
        assert (st.msgs, st.first_seq, st.last_seq, st.num_deleted, st.deleted) == (4, 1, 5, 1, [3])
        assert store.load(3) is None
        assert store.subjects() == {"a": 1, "b": 1, "d": 1, "e": 1}
    store.remove(1)
    store.remove(2)
    st = store.state()
    assert (st.first_seq, st.num_deleted, st.deleted) == (4, 0, [])
    store.remove(5)
    st = engine.reopen(store).state()
    assert (st.msgs, st.first_seq, st.last_seq, st.deleted) == (1, 4, 5, [5])


def test_remove_last_keeps_sequence(engine: Engine) -> None:
    store = engine.make()
    fill(store, ["a", "b"])
    store.remove(2)
    store.remove(1)
    store = engine.reopen(store)
    st = store.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (0, 3, 2)
    assert store.store_msg("c", b"", b"").seq == 3


def test_purge_all_keeps_sequence(engine: Engine) -> None:
    store = engine.make()
    removed: list[tuple[int, str]] = []
    store.set_remove_callback(lambda seq, subj: removed.append((seq, subj)))
    fill(store, ["a", "b", "c"])
    assert store.purge() == 3
    assert removed == [(1, "a"), (2, "b"), (3, "c")]
    for store in engine.and_reopened(store):  # noqa: B020 - later code uses the reopened store
        st = store.state()
        assert (st.msgs, st.bytes, st.first_seq, st.last_seq, st.first_ts) == (0, 0, 4, 3, 0)
        assert st.last_ts == engine.clock.now
    assert store.store_msg("d", b"", b"").seq == 4
    assert store.purge() == 1


def test_purge_filtered(engine: Engine) -> None:
    store = engine.make()
    fill(store, ["a.1", "b.1", "a.2", "a.1", "b.1"])
    assert store.purge("a.*") == 3
    store = engine.reopen(store)
    assert store.subjects() == {"b.1": 2}
    st = store.state()
    assert (st.first_seq, st.last_seq, st.deleted) == (2, 5, [3, 4])


def test_purge_filter_keep_counts_all_matching_subjects(engine: Engine) -> None:
    store = engine.make()
    fill(store, ["a.1", "a.2", "a.1", "a.2", "b", "a.1"])
    assert store.purge("a.*", keep=2) == 3  # nats-server: keep is over the filter, not per subject
    store = engine.reopen(store)
    assert sorted(store.subjects().items()) == [("a.1", 1), ("a.2", 1), ("b", 1)]
    assert [store.load_next("a.*", 1).seq, store.load_last("a.*").seq] == [4, 6]  # type: ignore[union-attr]
    assert store.purge("a.*", keep=5) == 0


def test_purge_literal_keep(engine: Engine) -> None:
    store = engine.make()
    fill(store, ["k", "k", "k", "j"])
    assert store.purge("k", keep=1) == 2
    assert store.subjects() == {"k": 1, "j": 1}
    assert store.last_seq_for_subject("k") == 3


def test_purge_up_to_seq(engine: Engine) -> None:
    store = engine.make()
    fill(store, ["a", "b", "a", "b", "a"])
    assert store.purge(up_to_seq=3) == 2
    st = store.state()
    assert (st.msgs, st.first_seq) == (3, 3)
    assert store.purge("a", up_to_seq=5) == 1
    store = engine.reopen(store)
    assert sorted(store.subjects().items()) == [("a", 1), ("b", 1)]
    assert store.state().first_seq == 4


def test_purge_keep_without_filter(engine: Engine) -> None:
    store = engine.make()
    fill(store, ["a", "b", "c", "d", "e"])
    assert store.purge(keep=2) == 3
    assert store.state().first_seq == 4
    assert store.purge(keep=5) == 0
    assert store.state().msgs == 2


def test_purge_past_end_sets_next_sequence(engine: Engine) -> None:
    store = engine.make()
    fill(store, ["a", "b"])
    assert store.purge(up_to_seq=10) == 2
    for store in engine.and_reopened(store):  # noqa: B020 - later code uses the reopened store
        st = store.state()
        assert (st.msgs, st.first_seq, st.last_seq) == (0, 10, 9)
    assert store.store_msg("c", b"", b"").seq == 10


def test_skip_msgs(engine: Engine) -> None:
    store = engine.make()
    store.skip_msgs(5)
    assert store.state().first_seq == 5
    assert store.store_msg("a", b"", b"").seq == 5
    store.skip_msgs(8)
    store = engine.reopen(store)
    st = store.state()
    assert (st.first_seq, st.last_seq, st.deleted) == (5, 7, [6, 7])
    assert store.store_msg("b", b"", b"").seq == 8


def test_max_msgs_discard_old(engine: Engine) -> None:
    store = engine.make(StoreLimits(max_msgs=3))
    removed: list[int] = []
    store.set_remove_callback(lambda seq, subj: removed.append(seq))
    fill(store, ["a", "b", "c", "d", "e"])
    assert removed == [1, 2]
    store = engine.reopen(store)
    st = store.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (3, 3, 5)


def test_max_bytes_discard_old(engine: Engine) -> None:
    one = engine.msg_size("s", b"", b"x" * 10)
    store = engine.make(StoreLimits(max_bytes=one * 3))
    fill(store, ["s"] * 5, b"x" * 10)
    store = engine.reopen(store)
    st = store.state()
    assert (st.msgs, st.bytes, st.first_seq) == (3, one * 3, 3)


def test_max_msgs_per_subject_drops_oldest_of_subject(engine: Engine) -> None:
    store = engine.make(StoreLimits(max_msgs_per_subject=2))
    removed: list[tuple[int, str]] = []
    store.set_remove_callback(lambda seq, subj: removed.append((seq, subj)))
    fill(store, ["k.a", "k.b", "k.a", "k.a", "k.b", "k.a"])
    assert removed == [(1, "k.a"), (3, "k.a")]
    store = engine.reopen(store)
    assert store.subjects() == {"k.a": 2, "k.b": 2}
    assert store.num_pending(1, "k.a") == 2
    assert store.load_next("k.a", 1).seq == 4  # type: ignore[union-attr]


def test_max_msg_size(engine: Engine) -> None:
    store = engine.make(StoreLimits(max_msg_size=10))
    store.store_msg("a", b"12345", b"12345")
    with pytest.raises(MsgTooLargeError):
        store.store_msg("a", b"12345", b"123456")
    assert store.state().msgs == 1


def test_discard_new_max_msgs(engine: Engine) -> None:
    store = engine.make(StoreLimits(max_msgs=2, discard="new"))
    fill(store, ["a", "b"])
    with pytest.raises(StoreLimitError) as exc:
        store.store_msg("c", b"", b"")
    assert exc.value.kind == "msgs"
    st = store.state()
    assert (st.msgs, st.last_seq) == (2, 2)


def test_discard_new_max_bytes_uses_nats_comparison(engine: Engine) -> None:
    one = engine.msg_size("s", b"", b"x" * 10)
    store = engine.make(StoreLimits(max_bytes=one * 2, discard="new"))
    fill(store, ["s", "s"], b"x" * 10)  # exactly max_bytes is allowed: nats-server refuses bytes + new > max
    with pytest.raises(StoreLimitError) as exc:
        store.store_msg("s", b"", b"")
    assert exc.value.kind == "bytes"
    assert store.state().bytes == one * 2


def test_discard_new_max_bytes_allows_per_subject_replacement(engine: Engine) -> None:
    one = engine.msg_size("b.a", b"", b"x" * 10)
    store = engine.make(StoreLimits(max_bytes=one * 2, max_msgs_per_subject=1, discard="new"))
    fill(store, ["b.a", "b.b", "b.a"], b"x" * 10)  # the third replaces the first "b.a"
    assert store.subjects() == {"b.a": 1, "b.b": 1}
    with pytest.raises(StoreLimitError):
        store.store_msg("b.c", b"", b"x" * 10)


def test_discard_new_per_subject(engine: Engine) -> None:
    store = engine.make(StoreLimits(max_msgs_per_subject=1, discard="new", discard_new_per_subject=True))
    fill(store, ["a", "b"])
    with pytest.raises(StoreLimitError) as exc:
        store.store_msg("a", b"", b"")
    assert exc.value.kind == "subject"
    assert store.subjects() == {"a": 1, "b": 1}


def test_discard_new_allows_per_subject_replacement(engine: Engine) -> None:
    store = engine.make(StoreLimits(max_msgs=2, max_msgs_per_subject=1, discard="new"))
    fill(store, ["a", "b"])
    assert store.store_msg("a", b"", b"").seq == 3  # replaces the old "a", so max_msgs is not hit
    assert store.subjects() == {"a": 1, "b": 1}
    with pytest.raises(StoreLimitError):
        store.store_msg("c", b"", b"")


def test_max_age_expiry(engine: Engine) -> None:
    store = engine.make(StoreLimits(max_age_ns=10 * SEC))
    removed: list[int] = []
    store.set_remove_callback(lambda seq, subj: removed.append(seq))
    store.store_msg("a", b"", b"")
    engine.clock.advance(4 * SEC)
    store.store_msg("b", b"", b"")
    t0 = engine.clock.now - 4 * SEC
    assert store.next_expiry() == t0 + 10 * SEC
    assert store.expire() == 0
    engine.clock.advance(6 * SEC)
    assert store.expire() == 1
    assert removed == [1]
    store = engine.reopen(store)
    assert store.next_expiry() == t0 + 14 * SEC
    assert store.expire(t0 + 14 * SEC) == 1
    st = store.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (0, 3, 2)
    assert store.next_expiry() is None


def test_message_ttl(engine: Engine) -> None:
    store = engine.make(StoreLimits(max_age_ns=100 * SEC))
    t0 = engine.clock.now
    store.store_msg("short", b"", b"", ttl_ns=5 * SEC)
    store.store_msg("forever", b"", b"", ttl_ns=-1)
    store.store_msg("plain", b"", b"")
    assert store.load(1).ttl_ns == 5 * SEC  # type: ignore[union-attr]
    assert store.next_expiry() == t0 + 5 * SEC
    store = engine.reopen(store)
    assert store.expire(t0 + 5 * SEC) == 1
    assert store.next_expiry() == t0 + 100 * SEC
    assert store.expire(t0 + 1000 * SEC) == 1
    assert store.subjects() == {"forever": 1}
    assert store.load(2).ttl_ns == -1  # type: ignore[union-attr]
    assert store.next_expiry() is None


def test_compression_round_trip(engine: Engine) -> None:
    store = engine.make(StoreLimits(compression="s2"))
    compressible = b"abcdefgh" * 4096
    random_ish = bytes((i * 7919 + 13) % 251 for i in range(5000))
    m1 = store.store_msg("c", b"NATS/1.0\r\n\r\n", compressible)
    m2 = store.store_msg("r", b"", random_ish)
    for store in engine.and_reopened(store):  # noqa: B020 - later code uses the reopened store
        assert store.load(m1.seq).data == compressible  # type: ignore[union-attr]
        assert store.load(m2.seq).data == random_ish  # type: ignore[union-attr]
        expected = engine.msg_size("c", b"NATS/1.0\r\n\r\n", compressible)
        expected += engine.msg_size("r", b"", random_ish)
        assert store.state().bytes == expected


def test_update_limits_removes_what_no_longer_fits(engine: Engine) -> None:
    store = engine.make()
    removed: list[int] = []
    store.set_remove_callback(lambda seq, subj: removed.append(seq))
    fill(store, ["a", "a", "a", "b", "c", "d"])
    store.update_limits(StoreLimits(max_msgs_per_subject=1))
    assert removed == [1, 2]
    store.update_limits(StoreLimits(max_msgs=2))
    assert removed == [1, 2, 3, 4]
    store = engine.reopen(store)
    assert store.subjects() == {"c": 1, "d": 1}


def test_callback_sees_every_removal_kind(engine: Engine) -> None:
    store = engine.make(StoreLimits(max_msgs=4, max_age_ns=SEC))
    removed: list[int] = []
    store.set_remove_callback(lambda seq, subj: removed.append(seq))
    fill(store, ["a", "b", "c", "d", "e"])  # limit drops 1
    store.remove(3)
    store.purge("b")
    engine.clock.advance(2 * SEC)
    store.expire()
    assert removed == [1, 3, 2, 4, 5]
    store.set_remove_callback(None)
    store.store_msg("f", b"", b"")
    store.purge()
    assert removed == [1, 3, 2, 4, 5]


def test_closed_store_refuses(engine: Engine) -> None:
    store = engine.make()
    store.store_msg("a", b"", b"")
    store.close()
    with pytest.raises(StoreClosedError):
        store.store_msg("a", b"", b"")
    with pytest.raises(StoreClosedError):
        store.load(1)
    with pytest.raises(StoreClosedError):
        store.state()


def test_many_subjects_and_interning(engine: Engine) -> None:
    store = engine.make()
    for i in range(300):
        store.store_msg(f"obj.{i % 30}", b"", b"p")
    store = engine.reopen(store)
    assert len(store.subjects()) == 30
    a, b = store.load(1), store.load(31)
    assert a is not None and b is not None and a.subject is b.subject
    assert store.num_pending(250, "obj.5") == 1
    assert store.num_pending(1, "obj.5") == 10


def test_fast_state_is_state_without_the_gap_list(engine: Engine) -> None:
    store = engine.make()
    fill(store, ["a", "b", "c", "d"])
    store.remove(2)
    full, fast = store.state(), store.fast_state()
    assert full.deleted == [2] and fast.deleted == []
    fast.deleted = [2]
    assert fast == full
    full.deleted.append(99)  # callers get their own list
    store.remove(3)
    assert store.state().deleted == [2, 3]


def test_wildcard_reads_follow_later_changes(engine: Engine) -> None:
    store = engine.make()
    fill(store, ["m.a", "c.x"] + ["c.x"] * 100 + ["m.b"])
    assert store.load_next("m.*", 3).seq == 103  # type: ignore[union-attr]
    assert store.num_pending(1, "m.*") == 2
    fill(store, ["m.new", "c.y", "m.a"])  # a subject first seen after the filter was used
    assert store.num_pending(1, "m.*") == 4
    assert store.load_last("m.*").seq == 106  # type: ignore[union-attr]
    store.remove(106)
    store.purge("m.b")
    assert store.load_last("m.*").seq == 104  # type: ignore[union-attr]
    assert [store.load_next("m.*", q).seq for q in (1, 2, 104)] == [1, 104, 104]  # type: ignore[union-attr]
    assert store.last_seqs_per_subject("m.*") == [1, 104]
    assert store.subjects("m.*") == {"m.a": 1, "m.new": 1}
    store.purge("m.>")
    assert store.load_next("m.*", 1) is None and store.num_pending(1, "m.*") == 0


# --- store_msgs: several appends at once (an atomic batch commit) -----------------------------


def batch_of(n: int, subjects: list[str], size: int = 100) -> list[tuple[str, bytes, bytes, int]]:
    hdr = b"NATS/1.0\r\nNats-Batch-Id: b\r\n\r\n"
    return [
        (subjects[i % len(subjects)], hdr if i % 2 else b"", b"%04d" % i * (size // 4), 0) for i in range(n)
    ]


def snapshot(store: StreamStore) -> tuple[object, ...]:
    st = store.state()
    msgs = [store.load(s) for s in range(st.first_seq, st.last_seq + 1)]
    kept = [(m.seq, m.subject, m.hdr, m.data, m.ts, m.ttl_ns) for m in msgs if m is not None]
    return (st.msgs, st.bytes, st.first_seq, st.last_seq, st.num_subjects, tuple(st.deleted), tuple(kept))


@pytest.mark.parametrize(
    "limits",
    [
        StoreLimits(),
        StoreLimits(max_msgs_per_subject=3),
        StoreLimits(max_msgs=7),
        StoreLimits(max_bytes=900),
        StoreLimits(compression="s2"),
    ],
    ids=["unlimited", "per-subject", "max-msgs", "max-bytes", "s2"],
)
def test_store_msgs_is_the_same_as_one_by_one(engine: Engine, limits: StoreLimits) -> None:
    """A batch leaves the store exactly as the same store_msg calls would, across a restart."""
    one, many = engine.make(limits), engine.make(limits)
    removed: list[int] = []
    many.set_remove_callback(lambda seq, subject: removed.append(seq))
    fill(one, ["pre.a", "pre.b"])
    fill(many, ["pre.a", "pre.b"])
    batch = [*batch_of(20, ["a", "b", "c"]), ("a", b"", b"ttl", 5 * SEC)]
    singles = [one.store_msg(s, h, d, ttl_ns=t) for s, h, d, t in batch]
    stored = many.store_msgs(batch)
    assert [(m.seq, m.subject, m.hdr, m.data, m.ttl_ns) for m in stored] == [
        (m.seq, m.subject, m.hdr, m.data, m.ttl_ns) for m in singles
    ]
    assert [m.seq for m in stored] == list(range(3, 24))
    want = snapshot(one)
    assert snapshot(many) == want
    if limits != StoreLimits() and limits.compression != "s2":
        assert removed  # the limits dropped messages, and said so
    for reopened in engine.and_reopened(many):
        assert snapshot(reopened) == want
        assert reopened.last_seq_for_subject("a") == 23
    assert reopened.store_msg("after", b"", b"x").seq == 24


def test_store_msgs_too_large_stores_nothing(engine: Engine) -> None:
    store = engine.make(StoreLimits(max_msg_size=50))
    fill(store, ["x"])
    before = snapshot(store)
    with pytest.raises(MsgTooLargeError):
        store.store_msgs([("a", b"", b"small", 0), ("a", b"", b"y" * 51, 0), ("a", b"", b"z", 0)])
    for reopened in engine.and_reopened(store):
        assert snapshot(reopened) == before
    assert reopened.store_msg("a", b"", b"ok").seq == 2


def test_store_msgs_discard_new_refusal_stores_none(engine: Engine) -> None:
    """Under discard new a refusal part way leaves none of the batch readable."""
    store = engine.make(StoreLimits(max_msgs=4, discard="new"))
    fill(store, ["x", "x"])
    with pytest.raises(StoreLimitError):
        store.store_msgs(batch_of(3, ["a"]))
    for reopened in engine.and_reopened(store):
        st = reopened.state()
        assert st.msgs == 2 and reopened.subjects() == {"x": 2}
        assert all(reopened.load(s) is None for s in range(3, st.last_seq + 1))
    assert [m.subject for m in reopened.store_msgs(batch_of(2, ["a"]))] == ["a", "a"]  # room for two
    assert reopened.state().msgs == 4


def test_store_msgs_larger_than_a_block(engine: Engine) -> None:
    """A batch bigger than one block (512 bytes for file-small-blocks) spreads over blocks."""
    store = engine.make()
    batch = batch_of(40, ["big"], size=200)
    stored = store.store_msgs(batch)
    assert [m.seq for m in stored] == list(range(1, 41))
    for reopened in engine.and_reopened(store):
        assert [reopened.load(s).data for s in range(1, 41)] == [d for _, _, d, _ in batch]  # type: ignore[union-attr]


def test_store_msgs_on_a_closed_store(engine: Engine) -> None:
    store = engine.make()
    store.close()
    with pytest.raises(StoreClosedError):
        store.store_msgs(batch_of(2, ["a"]))

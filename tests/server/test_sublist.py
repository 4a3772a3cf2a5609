"""Unit tests of the subscription index (no sockets): matching, queue groups, cache invalidation."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from orlop.server.sublist import CACHE_MAX, Sublist
from orlop.subjects import matches


@dataclass(eq=False)
class Sub:
    subject: str
    queue: str = ""
    tag: str = field(default="")


def names(subs: tuple[Sub, ...]) -> set[str]:
    return {s.subject for s in subs}


def test_literal_and_wildcards() -> None:
    sl: Sublist[Sub] = Sublist()
    for subj in ["foo.bar", "foo.*", "foo.>", ">", "*.bar", "foo.bar.baz", "*"]:
        sl.insert(Sub(subj))
    assert names(sl.match("foo.bar").plain) == {"foo.bar", "foo.*", "foo.>", ">", "*.bar"}
    assert names(sl.match("foo").plain) == {">", "*"}
    assert names(sl.match("foo.bar.baz").plain) == {"foo.bar.baz", "foo.>", ">"}
    assert names(sl.match("x.y.z").plain) == {">"}
    assert sl.count() == 7


def test_published_wildcard_tokens_are_literal() -> None:
    sl: Sublist[Sub] = Sublist()
    for subj in ["a.*", "a.b", "a.>", "$JS.API.DIRECT.GET.OBJ_b.>", "$JS.API.CONSUMER.CREATE.*.>"]:
        sl.insert(Sub(subj))
    assert names(sl.match("a.*").plain) == {"a.*", "a.>"}
    assert names(sl.match("a.>").plain) == {"a.*", "a.>"}
    assert names(sl.match("$JS.API.DIRECT.GET.OBJ_b.$O.b.M.>").plain) == {"$JS.API.DIRECT.GET.OBJ_b.>"}
    assert names(sl.match("$JS.API.CONSUMER.CREATE.OBJ_b.c1.$O.b.M.>").plain) == {
        "$JS.API.CONSUMER.CREATE.*.>"
    }


def test_queue_groups_merge_by_name_across_patterns() -> None:
    sl: Sublist[Sub] = Sublist()
    a, b, c = Sub("work.*", "q"), Sub("work.one", "q"), Sub("work.>", "other")
    plain = Sub("work.one")
    for s in (a, b, c, plain):
        sl.insert(s)
    m = sl.match("work.one")
    assert m.plain == (plain,)
    groups = sorted(m.groups, key=len)
    assert [set(g) for g in groups] == [{c}, {a, b}]
    assert len(m) == 4


def test_cache_invalidated_on_insert_and_remove() -> None:
    sl: Sublist[Sub] = Sublist()
    assert not sl.match("foo.bar")
    wild = Sub("foo.*")
    sl.insert(wild)
    assert sl.match("foo.bar").plain == (wild,)
    lit = Sub("foo.bar")
    sl.insert(lit)
    assert set(sl.match("foo.bar").plain) == {wild, lit}
    assert sl.remove(wild)
    assert sl.match("foo.bar").plain == (lit,)
    assert sl.remove(lit)
    assert not sl.match("foo.bar")
    assert not sl.remove(lit)
    assert sl.count() == 0
    assert sl.cache_hits >= 0 and sl.matches == 5


def test_cache_hit_counted_and_bounded() -> None:
    sl: Sublist[Sub] = Sublist()
    sl.insert(Sub("_INBOX.x.*"))
    sl.match("_INBOX.x.1")
    sl.match("_INBOX.x.1")
    assert sl.cache_hits == 1
    for i in range(CACHE_MAX * 2):
        assert sl.match(f"_INBOX.x.{i}")
    assert sl.cache_count() <= CACHE_MAX


def test_remove_prunes_trie() -> None:
    sl: Sublist[Sub] = Sublist()
    subs = [Sub(f"_INBOX.{i}.*") for i in range(1000)]
    for s in subs:
        sl.insert(s)
    for s in subs:
        assert sl.remove(s)
    assert sl._root.empty()
    assert sl.all() == []


def test_match_result_is_stable_while_subs_change() -> None:
    sl: Sublist[Sub] = Sublist()
    a = Sub("x")
    sl.insert(a)
    m = sl.match("x")
    sl.insert(Sub("x"))
    assert m.plain == (a,)
    assert len(sl.match("x").plain) == 2


token = st.sampled_from(["a", "b", "c", "*", ">"])


@settings(max_examples=300, deadline=None)
@given(
    patterns=st.lists(st.lists(token, min_size=1, max_size=4), min_size=1, max_size=12),
    subjects=st.lists(st.lists(token, min_size=1, max_size=5), max_size=12),
    seed=st.integers(0, 1000),
)
def test_agrees_with_subjects_matches(
    patterns: list[list[str]], subjects: list[list[str]], seed: int
) -> None:
    # Valid patterns only: '>' only as the last token.
    pats = [".".join(p) for p in patterns if ">" not in p[:-1]]
    sl: Sublist[Sub] = Sublist()
    subs = [Sub(p) for p in pats]
    for s in subs:
        sl.insert(s)
    rnd = random.Random(seed)
    removed = set(rnd.sample(range(len(subs)), k=len(subs) // 3))
    for subject in [".".join(s) for s in subjects]:
        sl.match(subject)  # warm the cache before removals
    for i in removed:
        assert sl.remove(subs[i])
    for subject in [".".join(s) for s in subjects]:
        want = {id(s) for i, s in enumerate(subs) if i not in removed and matches(subject, s.subject)}
        assert {id(s) for s in sl.match(subject).plain} == want


def _expected(held: list[Sub], subject: str) -> tuple[set[int], dict[str, set[int]]]:
    plain = {id(s) for s in held if not s.queue and matches(subject, s.subject)}
    groups: dict[str, set[int]] = {}
    for s in held:
        if s.queue and matches(subject, s.subject):
            groups.setdefault(s.queue, set()).add(id(s))
    return plain, groups


op = st.tuples(
    st.sampled_from(["insert", "remove", "match"]),
    st.lists(token, min_size=1, max_size=4),
    st.sampled_from(["", "", "q1", "q2"]),
    st.integers(0, 50),
)


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(op, max_size=60))
def test_interleaved_changes_and_matches_agree_with_a_model(
    ops: list[tuple[str, list[str], str, int]],
) -> None:
    # Every answer, cached or fresh, single pattern or merged, equals a brute-force scan.
    sl: Sublist[Sub] = Sublist()
    held: list[Sub] = []
    for kind, toks, queue, pick in ops:
        subject = ".".join(toks)
        if kind == "insert" and ">" not in toks[:-1]:
            sub = Sub(subject, queue)
            sl.insert(sub)
            held.append(sub)
        elif kind == "remove" and held:
            assert sl.remove(held.pop(pick % len(held)))
        elif kind == "match":
            got = sl.match(subject)
            plain, groups = _expected(held, subject)
            assert {id(s) for s in got.plain} == plain
            assert {g[0].queue: {id(s) for s in g} for g in got.groups} == groups
            assert len(got.groups) == len(groups)
    assert sl.count() == len(held)

"""NATS/1.0 header blocks: build/parse round trips, status lines, repeats, case, raw edits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orlop.protocol import headers

KEY_CHARS = st.characters(min_codepoint=33, max_codepoint=126).filter(lambda c: c != ":")
keys = st.text(KEY_CHARS, min_size=1, max_size=20)
values = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=40).map(
    lambda v: v.strip(" \t")
)
pairs_strategy = st.lists(st.tuples(keys, values), max_size=8)
statuses = st.one_of(st.none(), st.integers(100, 999))
descriptions = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30).map(str.strip)


@given(pairs_strategy, statuses, descriptions)
def test_build_parse_round_trip(pairs: list[tuple[str, str]], status: int | None, description: str) -> None:
    if status is None:
        description = ""
    block = headers.build(pairs, status, description)
    assert block.startswith(b"NATS/1.0") and block.endswith(b"\r\n\r\n")
    parsed = headers.parse(block)
    assert parsed.items() == pairs
    assert parsed.status == status
    assert parsed.description == description
    for key, _ in pairs:
        assert headers.get(block, key) == parsed.get(key)
        assert parsed.get(key) == [v for k, v in pairs if k == key][-1]


@given(pairs_strategy, st.lists(keys, max_size=3))
def test_append_and_remove_agree_with_build(pairs: list[tuple[str, str]], drop: list[str]) -> None:
    half = len(pairs) // 2
    block = headers.append(headers.build(pairs[:half]), pairs[half:])
    assert block == headers.build(pairs)
    folded = {k.lower() for k in drop}
    assert headers.remove(block, drop) == headers.build([(k, v) for k, v in pairs if k.lower() not in folded])


def test_exact_status_lines_nats_server_emits() -> None:
    assert headers.build([("Nats-Subject", "a.b")], 503) == b"NATS/1.0 503\r\nNats-Subject: a.b\r\n\r\n"
    assert headers.build([], 404, "Message Not Found") == b"NATS/1.0 404 Message Not Found\r\n\r\n"
    assert headers.build([], 408, "Empty Request") == b"NATS/1.0 408 Empty Request\r\n\r\n"
    assert headers.build([], 100, "FlowControl Request") == b"NATS/1.0 100 FlowControl Request\r\n\r\n"
    hb = headers.build([("Nats-Last-Consumer", "1"), ("Nats-Last-Stream", "1")], 100, "Idle Heartbeat")
    assert hb == b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 1\r\nNats-Last-Stream: 1\r\n\r\n"
    assert len(hb) == 75  # the Appendix A heartbeat's #hdr
    assert headers.build([]) == b"NATS/1.0\r\n\r\n"


def test_repeated_keys_and_case_handling() -> None:
    block = b"NATS/1.0\r\nX-Tag: a\r\nx-tag: b\r\nX-Tag: c\r\nOther:  spaced value \r\n\r\n"
    h = headers.parse(block)
    assert h.get("X-Tag") == "c"  # exact case first, last value
    assert h.get_all("X-Tag") == ["a", "c"]
    assert h.get("x-tag") == "b"
    assert h.get("X-TAG") == "c"  # no exact match: any case, last value
    assert h.get_all("X-TAG") == ["a", "b", "c"]
    assert h.get("Other") == "spaced value"
    assert h.get("missing") is None
    assert "other" in h and "nope" not in h
    assert list(h) == ["X-Tag", "x-tag", "X-Tag", "Other"]
    assert len(h) == 4
    for key in ("X-Tag", "x-tag", "X-TAG", "Other", "other", "missing"):
        assert headers.get(block, key) == h.get(key)


def test_parse_is_lenient_like_the_clients() -> None:
    assert headers.parse(b"").items() == [] and headers.parse(b"").status is None
    h = headers.parse(b"NATS/1.0 503\r\n\r\n")
    assert (h.status, h.description) == (503, "")
    h = headers.parse(b"NATS/1.0  404   No Messages\r\n\r\n")
    assert (h.status, h.description) == (404, "No Messages")
    h = headers.parse(b"NATS/1.0 12x\r\nA: 1\r\nnot a header line\r\nB:2")
    assert h.status is None and h.items() == [("A", "1"), ("B", "2")]
    h = headers.parse(b"NATS/1.0 5031\r\n\r\n")
    assert h.status is None
    assert headers.parse(b"NATS/1.0\r\nA: \xff\r\n\r\n").get("A") == b"\xff".decode(
        "utf-8", "surrogateescape"
    )


def test_fast_get_edge_cases() -> None:
    assert headers.get(b"", "A") is None
    assert headers.get(b"NATS/1.0\r\nA: 1", "A") == "1"  # unterminated block
    assert headers.get(b"NATS/1.0\r\nAB: 1\r\n\r\n", "A") is None
    assert headers.get(b"NATS/1.0\r\nNats-Msg-Id: x\r\n\r\n", "nats-msg-id") == "x"


def test_append_and_remove_edges() -> None:
    assert headers.append(b"", []) == b"NATS/1.0\r\n\r\n"
    assert headers.append(b"", [("A", "1")]) == b"NATS/1.0\r\nA: 1\r\n\r\n"
    status = headers.build([], 100, "Idle Heartbeat")
    assert headers.append(status, [("Nats-Last-Consumer", "3")]) == (
        b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 3\r\n\r\n"
    )
    block = b"NATS/1.0\r\nNats-Expected-Stream: s\r\nKeep: 1\r\n\r\n"
    assert headers.append(block, []) is block
    assert headers.remove(block, ["nats-expected-stream"]) == b"NATS/1.0\r\nKeep: 1\r\n\r\n"
    assert headers.remove(block, ["absent"]) == block
    assert headers.remove(block, ["Keep", "Nats-Expected-Stream"]) == b"NATS/1.0\r\n\r\n"
    assert headers.remove(b"", ["A"]) == b""


@pytest.mark.parametrize(
    ("pairs", "status", "description"),
    [
        ([("", "v")], None, ""),
        ([("a:b", "v")], None, ""),
        ([("a b", "v")], None, ""),
        ([("a", "v\r\nInjected: 1")], None, ""),
        ([], 99, ""),
        ([], 1000, ""),
        ([], None, "no status"),
        ([], 503, "bad\r\n"),
    ],
)
def test_build_refuses_invalid_input(
    pairs: list[tuple[str, str]], status: int | None, description: str
) -> None:
    with pytest.raises(ValueError):
        headers.build(pairs, status, description)

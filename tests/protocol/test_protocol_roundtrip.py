"""Property tests: encode -> parse round trips in both roles, and fuzzing the server parser.

The fuzz properties are the parser's safety contract for hostile clients: any byte string,
fed whole or in any chunks, yields ops or raises ProtocolError (never another exception,
never a hang), chunking never changes the result, and the internal buffer stays bounded.
"""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orlop.errors import ProtocolError
from orlop.protocol import (
    ERR_MAX_CONTROL_LINE,
    ERR_UNKNOWN_OP,
    ClientParser,
    Connect,
    Err,
    Info,
    Msg,
    Ok,
    Op,
    Ping,
    Pong,
    Pub,
    ServerParser,
    Sub,
    Unsub,
    encode,
    headers,
)

TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-$é€"
tokens = st.text(TOKEN_ALPHABET, min_size=1, max_size=8)
subjects = st.lists(tokens, min_size=1, max_size=5).map(".".join)
wild_subjects = (
    st.lists(st.one_of(tokens, st.just("*")), min_size=1, max_size=4)
    .map(".".join)
    .flatmap(lambda s: st.sampled_from([s, s + ".>"]))
)
sids = st.text("0123456789abcdefABCDEF", min_size=1, max_size=8)
replies = st.one_of(st.just(""), subjects)
payloads = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from([b"\r\n", b"\r", b"\n", b"x", b"PUB a 1\r\n", b"\x00", b" "]), max_size=30).map(
        b"".join
    ),
)
header_blocks = st.one_of(
    st.just(b""),
    st.builds(
        headers.build,
        st.lists(st.tuples(st.sampled_from(["Nats-Msg-Id", "X-A", "x-a", "K"]), tokens), max_size=4),
        st.sampled_from([None, 503, 404, 408, 100]),
    ),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=20)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=5)

client_ops = st.one_of(
    st.builds(Connect, json_objects),
    st.builds(Pub, subjects, replies, header_blocks, payloads),
    st.builds(Sub, wild_subjects, st.one_of(st.just(""), tokens), sids),
    st.builds(Unsub, sids, st.integers(0, 999_999_999)),
    st.just(Ping()),
    st.just(Pong()),
)
server_ops = st.one_of(
    st.builds(Info, json_objects),
    st.builds(Msg, subjects, sids, replies, header_blocks, payloads),
    st.just(Ok()),
    st.builds(Err, st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip)),
    st.just(Ping()),
    st.just(Pong()),
)


def encode_op(op: Op) -> bytes:
    if isinstance(op, Connect):
        return encode.connect(op.options)
    if isinstance(op, Info):
        return encode.info(op.info)
    if isinstance(op, Pub):
        return encode.pub(op.subject, op.reply, op.hdr, op.payload)
    if isinstance(op, Msg):
        return encode.msg(op.subject, op.sid, op.reply, op.hdr, op.payload)
    if isinstance(op, Sub):
        return encode.sub(op.subject, op.queue, op.sid)
    if isinstance(op, Unsub):
        return encode.unsub(op.sid, op.max_msgs)
    if isinstance(op, Err):
        return encode.err(op.text)
    return {Ping: encode.PING, Pong: encode.PONG, Ok: encode.OK}[type(op)]


def feed_chunks(parser: ServerParser | ClientParser, data: bytes, cuts: list[int]) -> list[Op]:
    out: list[Op] = []
    last = 0
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        out += parser.feed(data[last:cut])
        last = cut
    return out


@given(st.lists(client_ops, max_size=12), st.lists(st.integers(0, 10_000), max_size=8))
def test_client_ops_round_trip_through_server_parser(ops: list[Op], cuts: list[int]) -> None:
    data = b"".join(encode_op(op) for op in ops)
    assert ServerParser().feed(data) == ops
    parser = ServerParser()
    assert feed_chunks(parser, data, cuts) == ops
    assert parser.buffered == 0


@given(st.lists(server_ops, max_size=12), st.lists(st.integers(0, 10_000), max_size=8))
def test_server_ops_round_trip_through_client_parser(ops: list[Op], cuts: list[int]) -> None:
    data = b"".join(encode_op(op) for op in ops)
    assert ClientParser().feed(data) == ops
    parser = ClientParser()
    assert feed_chunks(parser, data, cuts) == ops
    assert parser.buffered == 0


@given(subjects, replies, payloads)
def test_hpub_with_empty_header_block_parses_as_no_headers(subject: str, reply: str, payload: bytes) -> None:
    data = encode.hpub(subject, reply, b"", payload)
    assert data.startswith(b"HPUB ")
    assert ServerParser().feed(data) == [Pub(subject, reply, b"", payload)]


@given(subjects, sids, replies, header_blocks, payloads)
def test_msg_bytes_are_exact(subject: str, sid: str, reply: str, hdr: bytes, payload: bytes) -> None:
    data = encode.msg(subject, sid, reply, hdr, payload)
    verb = b"HMSG" if hdr else b"MSG"
    args = [verb, subject.encode(), sid.encode()] + ([reply.encode()] if reply else [])
    sizes = [b"%d" % len(hdr), b"%d" % (len(hdr) + len(payload))] if hdr else [b"%d" % len(payload)]
    assert data == b" ".join(args + sizes) + b"\r\n" + hdr + payload + b"\r\n"


def outcome(parser: ServerParser, chunks: list[bytes]) -> tuple[list[Op], str | None]:
    """Ops produced (including those before a violation) and the error text, if any."""
    out: list[Op] = []
    for chunk in chunks:
        try:
            out += parser.feed(chunk)
        except ProtocolError as exc:
            return out + parser.partial, exc.text
        assert parser.buffered <= parser_bound(parser)
    return out, None


def parser_bound(parser: ServerParser) -> int:
    return parser._max_control_line + parser._max_payload + 64


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


FUZZ = settings(deadline=timedelta(seconds=2), max_examples=300, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    st.binary(max_size=600),
    st.lists(st.integers(0, 600), max_size=10),
    st.sampled_from([(64, 128), (4096, 1 << 20)]),
)
def test_fuzz_any_bytes_yield_ops_or_protocol_error(
    data: bytes, cuts: list[int], limits: tuple[int, int]
) -> None:
    mcl, maxp = limits
    whole = outcome(ServerParser(maxp, mcl), [data])
    assert outcome(ServerParser(maxp, mcl), split_at(data, cuts)) == whole
    assert outcome(ServerParser(maxp, mcl), [data[i : i + 1] for i in range(len(data))]) == whole


@FUZZ
@given(
    st.lists(client_ops, min_size=1, max_size=6),
    st.lists(
        st.tuples(st.integers(0, 5000), st.binary(min_size=0, max_size=4), st.integers(0, 3)), max_size=4
    ),
    st.lists(st.integers(0, 5000), max_size=6),
)
def test_fuzz_mutated_valid_streams(
    ops: list[Op], edits: list[tuple[int, bytes, int]], cuts: list[int]
) -> None:
    data = bytearray(b"".join(encode_op(op) for op in ops))
    for at, insert, delete in edits:
        at %= len(data) + 1
        data[at : at + delete] = insert
    raw = bytes(data)
    whole = outcome(ServerParser(), [raw])
    assert outcome(ServerParser(), split_at(raw, cuts)) == whole


def feed_bounded(parser: ServerParser, data: bytes, chunk: int) -> tuple[int, str | None]:
    """Feed ``data`` in chunks; assert the buffer bound after every call; return (ops, error)."""
    count = 0
    bound = parser_bound(parser)
    for i in range(0, len(data), chunk):
        try:
            count += len(parser.feed(data[i : i + chunk]))
        except ProtocolError as exc:
            assert parser.buffered == 0
            return count, exc.text
        assert parser.buffered <= bound
    return count, None


TEN_MB = 10 * 1024 * 1024


@pytest.mark.parametrize("chunk", [1500, 65536])
def test_ten_megabytes_of_garbage_keep_the_buffer_bounded(chunk: int) -> None:
    rng = random.Random(7)
    no_newline = rng.randbytes(TEN_MB).replace(b"\n", b"-")
    assert feed_bounded(ServerParser(), no_newline, chunk) == (0, ERR_UNKNOWN_OP)
    endless_args = b"PUB " + b"a" * TEN_MB
    assert feed_bounded(ServerParser(), endless_args, chunk) == (0, ERR_MAX_CONTROL_LINE)
    with_newlines = rng.randbytes(TEN_MB)
    _, error = feed_bounded(ServerParser(), with_newlines, chunk)
    assert error is not None


def test_ten_megabytes_of_max_size_publishes_stay_within_the_bound() -> None:
    max_payload = 1 << 20
    frame = b"PUB big 1048576\r\n" + b"\x00" * max_payload + b"\r\n"
    data = frame * 10
    assert feed_bounded(ServerParser(max_payload=max_payload), data, 70_001) == (10, None)

"""ServerParser: every client op, whole / byte by byte / split at every offset, tolerance, errors."""

from __future__ import annotations

import json

import pytest

from orlop.errors import ProtocolError
from orlop.protocol import (
    ERR_MAX_CONTROL_LINE,
    ERR_MAX_PAYLOAD,
    ERR_PARSER,
    ERR_UNKNOWN_OP,
    Connect,
    Op,
    Ping,
    Pong,
    Pub,
    ServerParser,
    Sub,
    Unsub,
)


def parse_whole(data: bytes, **kw: int) -> list[Op]:
    return ServerParser(**kw).feed(data)


def parse_bytewise(data: bytes, **kw: int) -> list[Op]:
    p = ServerParser(**kw)
    out: list[Op] = []
    for i in range(len(data)):
        out += p.feed(data[i : i + 1])
    assert p.buffered == 0
    return out


def parse_split(data: bytes, cut: int, **kw: int) -> list[Op]:
    p = ServerParser(**kw)
    out = p.feed(data[:cut])
    out += p.feed(data[cut:])
    assert p.buffered == 0
    return out


def assert_all_ways(data: bytes, expected: list[Op]) -> None:
    assert parse_whole(data) == expected
    assert parse_bytewise(data) == expected
    for cut in range(len(data) + 1):
        assert parse_split(data, cut) == expected, cut


CASES: list[tuple[bytes, list[Op]]] = [
    (b'CONNECT {"verbose":false,"headers":true}\r\n', [Connect({"verbose": False, "headers": True})]),
    (b"PUB foo 5\r\nhello\r\n", [Pub("foo", "", b"", b"hello")]),
    (b"PUB foo reply.to 5\r\nhello\r\n", [Pub("foo", "reply.to", b"", b"hello")]),
    (b"PUB foo 0\r\n\r\n", [Pub("foo", "", b"", b"")]),
    (b"PUB foo 4\r\n\r\n\r\n\r\n", [Pub("foo", "", b"", b"\r\n\r\n")]),
    (
        b"HPUB foo 20 25\r\nNATS/1.0\r\nA: b c\r\n\r\nhello\r\n",
        [Pub("foo", "", b"NATS/1.0\r\nA: b c\r\n\r\n", b"hello")],
    ),
    (
        b"HPUB foo rep 12 12\r\nNATS/1.0\r\n\r\n\r\n",
        [Pub("foo", "rep", b"NATS/1.0\r\n\r\n", b"")],
    ),
    (b"SUB foo 1\r\n", [Sub("foo", "", "1")]),
    (b"SUB foo.* workers 22\r\n", [Sub("foo.*", "workers", "22")]),
    (b"UNSUB 1\r\n", [Unsub("1", 0)]),
    (b"UNSUB 1 10\r\n", [Unsub("1", 10)]),
    (b"PING\r\n", [Ping()]),
    (b"PONG\r\n", [Pong()]),
]


@pytest.mark.parametrize(("data", "expected"), CASES, ids=[c[0][:20].decode() for c in CASES])
def test_each_op_whole_bytewise_and_split_everywhere(data: bytes, expected: list[Op]) -> None:
    assert_all_ways(data, expected)


def test_all_ops_in_one_stream_split_everywhere() -> None:
    data = b"".join(c[0] for c in CASES)
    expected = [op for c in CASES for op in c[1]]
    assert_all_ways(data, expected)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # nats.py (protocol/command.py): two spaces when no reply/queue, trailing space on UNSUB
        (b"PUB subj  5\r\nhello\r\n", [Pub("subj", "", b"", b"hello")]),
        (b"HPUB subj  12 14\r\nNATS/1.0\r\n\r\nhi\r\n", [Pub("subj", "", b"NATS/1.0\r\n\r\n", b"hi")]),
        (b"SUB subj  7\r\n", [Sub("subj", "", "7")]),
        (b"UNSUB 7 \r\n", [Unsub("7", 0)]),
        # tabs and runs of whitespace (nats-server splits on space/tab runs)
        (b"PUB\tfoo\t\t3\r\nabc\r\n", [Pub("foo", "", b"", b"abc")]),
        (b"SUB \t foo \t q \t 9 \t \r\n", [Sub("foo", "q", "9")]),
        (b"PUB foo 5 \r\nhello\r\n", [Pub("foo", "", b"", b"hello")]),
        # op names are case-insensitive in nats-server (parser.go `case 'P', 'p'`)
        (b"pub foo 1\r\nx\r\n", [Pub("foo", "", b"", b"x")]),
        (b"Pub foo 1\r\nx\r\n", [Pub("foo", "", b"", b"x")]),
        (b"hpub foo 0 1\r\nx\r\n", [Pub("foo", "", b"", b"x")]),
        (b"sub foo 1\r\nunsub 1 2\r\n", [Sub("foo", "", "1"), Unsub("1", 2)]),
        (b"ping\r\npong\r\nPiNg\r\n", [Ping(), Pong(), Ping()]),
        (b'connect {"name":"x"}\r\n', [Connect({"name": "x"})]),
        # nats-server ends control lines at LF; CR is optional there (not after payloads)
        (b"PING\n", [Ping()]),
        (b"PUB foo 1\nx\r\n", [Pub("foo", "", b"", b"x")]),
        # nats-server ignores whatever follows PING/PONG/+OK up to the line end
        (b"PING x\r\nPINGX\r\n", [Ping(), Ping()]),
        # +OK and INFO from a client are ignored (nats-server processInfo is a no-op for clients)
        (b"+OK\r\nINFO {}\r\nPING\r\n", [Ping()]),
        # parseSize failure on UNSUB max means "no max", not an error (processUnsub)
        (b"UNSUB 1 x\r\n", [Unsub("1", 0)]),
        # HPUB with #hdr 0 (nats.js JetStream publishes) is "no headers"
        (
            b"HPUB $O.b.C.x _INBOX.x.y 0 5\r\nhello\r\n",
            [Pub("$O.b.C.x", "_INBOX.x.y", b"", b"hello")],
        ),
    ],
)
def test_tolerates_what_real_clients_send(data: bytes, expected: list[Op]) -> None:
    assert_all_ways(data, expected)


def test_nats_js_object_chunk_hpub_with_zero_header_length() -> None:
    chunk = bytes(range(256)) * 512
    data = b"HPUB $O.b.C.x _INBOX.x.y 0 131072\r\n" + chunk + b"\r\n"
    (op,) = parse_whole(data)
    assert type(op) is Pub
    assert (op.subject, op.reply, op.hdr, op.payload) == ("$O.b.C.x", "_INBOX.x.y", b"", chunk)
    p = ServerParser()
    ops: list[Op] = []
    for i in range(0, len(data), 1000):
        ops += p.feed(data[i : i + 1000])
    assert ops == [op]


def test_non_utf8_subject_survives_as_surrogate_escape() -> None:
    (op,) = parse_whole(b"PUB a\xff 0\r\n\r\n")
    assert isinstance(op, Pub)
    assert op.subject.encode("utf-8", "surrogateescape") == b"a\xff"


def test_memoryview_and_bytearray_input() -> None:
    data = b"PUB foo 1\r\nx\r\nPING\r\n"
    expected = [Pub("foo", "", b"", b"x"), Ping()]
    assert ServerParser().feed(bytearray(data)) == expected
    assert ServerParser().feed(memoryview(data)) == expected


def test_payload_types_are_bytes() -> None:
    p = ServerParser()
    p.feed(b"HPUB foo 12 13\r\nNATS/1.0\r\n\r\n")
    (op,) = p.feed(bytearray(b"x\r\n"))
    assert isinstance(op, Pub)
    assert type(op.payload) is bytes and type(op.hdr) is bytes


# -- errors --------------------------------------------------------------------------------


def raises(data: bytes, **kw: int) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        ServerParser(**kw).feed(data)
    assert info.value.fatal is True
    return info.value


@pytest.mark.parametrize(
    "data",
    [
        b"XYZ\r\n",
        b"\r\n",
        b" PING\r\n",
        b"\tPUB foo 0\r\n\r\n",
        b"PUB\r\n",
        b"SUB\r\n",
        b"UNSUB\r\n",
        b"PUBX foo 1\r\nx\r\n",
        b"MSG a 1 0\r\n\r\n",  # MSG from a client (parser.go: only routes/leafs may send it)
        b"PUB foo 5\r\nhelloXY",  # payload not followed by CRLF (MSG_END_R)
        b"PUB foo 1\r\nx\n",
        b"HPUB foo 12 12\r\nNATS/1.0\r\n\r\nZZ",
    ],
)
def test_unknown_protocol_operation(data: bytes) -> None:
    assert raises(data).text == ERR_UNKNOWN_OP


@pytest.mark.parametrize(
    "data",
    [
        b"PUB foo\r\n",
        b"PUB a b c 5\r\nhello\r\n",
        b"PUB foo -5\r\n",
        b"PUB foo +5\r\nhello\r\n",
        b"PUB foo x\r\n",
        b"PUB foo 1_0\r\n",
        b"PUB foo 1234567890\r\n",  # parseSize allows at most 9 digits
        b"PUB foo 0000000001\r\nx\r\n",  # ... even with leading zeros
        b"HPUB foo\r\n",
        b"HPUB foo 5\r\n",
        b"HPUB foo 10 5\r\n",  # #hdr > #total
        b"HPUB foo x 5\r\n",
        b"HPUB foo 5 x\r\n",
        b"HPUB a b c 1 2\r\n",
        b"SUB foo\r\n",
        b"SUB a b c d\r\n",
        b"UNSUB \r\n",
        b"UNSUB 1 2 3\r\n",
        b"CONNECT {bad\r\n",
        b"CONNECT []\r\n",
        b"CONNECT\r\n",
        b"-ERR 'boom'\r\n",
    ],
)
def test_argument_errors_are_parser_errors(data: bytes) -> None:
    assert raises(data).text == ERR_PARSER


def test_max_payload_is_checked_on_pub_payload_and_hpub_total() -> None:
    assert raises(b"PUB foo 2000000\r\n").text == ERR_MAX_PAYLOAD
    assert raises(b"PUB foo 11\r\n", max_payload=10).text == ERR_MAX_PAYLOAD
    assert raises(b"HPUB foo 2 11\r\n", max_payload=10).text == ERR_MAX_PAYLOAD
    assert parse_whole(b"PUB foo 10\r\n0123456789\r\n", max_payload=10)[0] == Pub(
        "foo", "", b"", b"0123456789"
    )
    hdr = b"NATS/1.0\r\n\r\n"
    assert parse_whole(b"HPUB foo 12 12\r\n" + hdr + b"\r\n", max_payload=12) == [Pub("foo", "", hdr, b"")]


def test_control_line_limit_counts_argument_bytes() -> None:
    # nats-server 2.15.1 accepts 4096 argument bytes and refuses 4097 (overMaxControlLineLimit)
    ok = b"SUB " + b"a" * 4094 + b" 1\r\n"
    assert parse_whole(ok) == [Sub("a" * 4094, "", "1")]
    assert parse_bytewise(ok) == [Sub("a" * 4094, "", "1")]
    too_long = b"SUB " + b"a" * 4095 + b" 1\r\n"
    assert raises(too_long).text == ERR_MAX_CONTROL_LINE
    assert raises(b"PUB " + b"a" * 5000 + b" 0\r\n\r\n").text == ERR_MAX_CONTROL_LINE
    assert raises(b'CONNECT {"name":"' + b"a" * 5000 + b'"}\r\n').text == ERR_MAX_CONTROL_LINE
    assert raises(b"SUB " + b"a" * 100 + b" 1\r\n", max_control_line=50).text == ERR_MAX_CONTROL_LINE


def test_control_line_limit_applies_before_the_line_end_arrives() -> None:
    p = ServerParser()
    assert p.feed(b"PUB ") == []
    with pytest.raises(ProtocolError) as info:
        for _ in range(100):
            p.feed(b"a" * 100)
            assert p.buffered <= 4096 + 8
    assert info.value.text == ERR_MAX_CONTROL_LINE
    assert p.buffered == 0


def test_unterminated_unknown_garbage_is_refused_at_the_limit() -> None:
    p = ServerParser(max_control_line=100)
    with pytest.raises(ProtocolError) as info:
        for _ in range(100):
            p.feed(b"garbage-")
            assert p.buffered <= 108
    assert info.value.text == ERR_UNKNOWN_OP


def test_parser_is_dead_after_an_error_and_keeps_preceding_ops() -> None:
    p = ServerParser()
    data = b"PUB a 1\r\nx\r\nSUB b 2\r\nBOGUS\r\nPING\r\n"
    with pytest.raises(ProtocolError) as first:
        p.feed(data)
    assert first.value.text == ERR_UNKNOWN_OP
    assert p.partial == [Pub("a", "", b"", b"x"), Sub("b", "", "2")]
    with pytest.raises(ProtocolError) as again:
        p.feed(b"PING\r\n")
    assert again.value is first.value


def test_connect_json_is_decoded() -> None:
    opts = {"verbose": False, "pedantic": False, "name": "n \u00e9", "lang": "python3", "protocol": 1}
    (op,) = parse_whole(b"CONNECT " + json.dumps(opts).encode() + b"\r\n")
    assert op == Connect(opts)


def test_buffered_counts_pending_bytes() -> None:
    p = ServerParser()
    assert p.feed(b"PUB foo 10\r\n01234") == []
    assert p.buffered == len(b"PUB foo 10\r\n01234")
    assert p.feed(b"56789\r") == []
    assert p.feed(b"\nPI") == [Pub("foo", "", b"", b"0123456789")]
    assert p.buffered == 2
    assert p.feed(b"NG\r\n") == [Ping()]
    assert p.buffered == 0


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        ServerParser(max_control_line=0)
    with pytest.raises(ValueError):
        ServerParser(max_payload=-1)


def test_appendix_a_client_lines() -> None:
    """The C: lines of the reference transcript (Appendix A), fed as one stream and byte by byte."""
    connect = (
        b'CONNECT {"verbose":false,"pedantic":false,"tls_required":false,"name":"","lang":"go",'
        b'"version":"1.53.0","protocol":1,"echo":true,"headers":true,"no_responders":true}\r\n'
    )
    meta = (
        b'{"name":"hello.txt","options":{"max_chunk_size":131072},"bucket":"b",'
        b'"nuid":"Qm4xV2sTb9ZpL0aW8cE3rY","size":5,"mtime":"0001-01-01T00:00:00Z","chunks":1,'
        b'"digest":"SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="}'
    )
    get = b'{"last_by_subj":"$O.b.M.aGVsbG8udHh0"}'
    inbox = "_INBOX.Hx7kP2dQz9LmW4sVb1nC0e"
    data = b"".join(
        [
            connect,
            b"PING\r\n",
            b"SUB _INBOX.Hx7kP2dQz9LmW4sVb1nC0e.*  1\r\n",
            b"PUB $JS.API.STREAM.MSG.GET.OBJ_b _INBOX.Hx7kP2dQz9LmW4sVb1nC0e.1 38\r\n" + get + b"\r\n",
            b"PUB $O.b.C.Qm4xV2sTb9ZpL0aW8cE3rY _INBOX.Hx7kP2dQz9LmW4sVb1nC0e.2 5\r\nhello\r\n",
            b"HPUB $O.b.M.aGVsbG8udHh0 _INBOX.Hx7kP2dQz9LmW4sVb1nC0e.3 30 246\r\n"
            b"NATS/1.0\r\nNats-Rollup: sub\r\n\r\n" + meta + b"\r\n",
            b"SUB _INBOX.Tz3RqV8wYk1pX6nB5mJ2aF  2\r\n",
            b"UNSUB 2 \r\n",
            b"PUB $JS.API.CONSUMER.DELETE.OBJ_b.Xy12Ab34 _INBOX.Hx7kP2dQz9LmW4sVb1nC0e.6 0\r\n\r\n",
            b"PUB $JS.FC.OBJ_b.Xy12Ab34.k3Zq 0\r\n\r\n",
        ]
    )
    ops = parse_whole(data)
    assert ops[0] == Connect(json.loads(connect[8:]))
    assert ops[1:] == [
        Ping(),
        Sub(inbox + ".*", "", "1"),
        Pub("$JS.API.STREAM.MSG.GET.OBJ_b", inbox + ".1", b"", get),
        Pub("$O.b.C.Qm4xV2sTb9ZpL0aW8cE3rY", inbox + ".2", b"", b"hello"),
        Pub("$O.b.M.aGVsbG8udHh0", inbox + ".3", b"NATS/1.0\r\nNats-Rollup: sub\r\n\r\n", meta),
        Sub("_INBOX.Tz3RqV8wYk1pX6nB5mJ2aF", "", "2"),
        Unsub("2", 0),
        Pub("$JS.API.CONSUMER.DELETE.OBJ_b.Xy12Ab34", inbox + ".6", b"", b""),
        Pub("$JS.FC.OBJ_b.Xy12Ab34.k3Zq", "", b"", b""),
    ]
    assert parse_bytewise(data) == ops

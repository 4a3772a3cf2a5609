"""ClientParser: what servers send, including the status messages JetStream relies on."""

from __future__ import annotations

import pytest

from orlop.errors import ProtocolError
from orlop.protocol import (
    ERR_MAX_CONTROL_LINE,
    ERR_MAX_PAYLOAD,
    ERR_PARSER,
    ERR_UNKNOWN_OP,
    ClientParser,
    Err,
    Info,
    Msg,
    Ok,
    Op,
    Ping,
    Pong,
    encode,
    headers,
)


def assert_all_ways(data: bytes, expected: list[Op]) -> None:
    assert ClientParser().feed(data) == expected
    p = ClientParser()
    out: list[Op] = []
    for i in range(len(data)):
        out += p.feed(data[i : i + 1])
    assert out == expected
    for cut in range(len(data) + 1):
        p = ClientParser()
        assert p.feed(data[:cut]) + p.feed(data[cut:]) == expected, cut
        assert p.buffered == 0


INFO = (
    b'INFO {"server_id":"NDX","version":"2.10.22","proto":1,"headers":true,'
    b'"max_payload":1048576,"jetstream":true,"client_id":5}\r\n'
)

CASES: list[tuple[bytes, list[Op]]] = [
    (
        INFO,
        [
            Info(
                {
                    "server_id": "NDX",
                    "version": "2.10.22",
                    "proto": 1,
                    "headers": True,
                    "max_payload": 1048576,
                    "jetstream": True,
                    "client_id": 5,
                }
            )
        ],
    ),
    (b"MSG foo 1 5\r\nhello\r\n", [Msg("foo", "1", "", b"", b"hello")]),
    (b"MSG foo 1 bar 0\r\n\r\n", [Msg("foo", "1", "bar", b"", b"")]),
    (
        b"HMSG foo 9 bar 16 18\r\nNATS/1.0 503\r\n\r\nhi\r\n",
        [Msg("foo", "9", "bar", b"NATS/1.0 503\r\n\r\n", b"hi")],
    ),
    (b"+OK\r\n", [Ok()]),
    (b"-ERR 'Authorization Violation'\r\n", [Err("Authorization Violation")]),
    (b"PING\r\nPONG\r\n", [Ping(), Pong()]),
]


@pytest.mark.parametrize(("data", "expected"), CASES, ids=[c[0][:16].decode() for c in CASES])
def test_each_server_op_all_ways(data: bytes, expected: list[Op]) -> None:
    assert_all_ways(data, expected)


def test_appendix_a_server_lines() -> None:
    """The S: lines of the reference transcript (Appendix A), byte counts as published."""
    lines = [
        b"MSG _INBOX.Hx7kP2dQz9LmW4sVb1nC0e.1 1 130\r\n"
        b'{"type":"io.nats.jetstream.api.v1.stream_msg_get_response",'
        b'"error":{"code":404,"err_code":10037,"description":"no message found"}}\r\n',
        b'MSG _INBOX.Hx7kP2dQz9LmW4sVb1nC0e.2 1 26\r\n{"stream":"OBJ_b","seq":1}\r\n',
        b"MSG $O.b.C.Qm4xV2sTb9ZpL0aW8cE3rY 2 "
        b"$JS.ACK.OBJ_b.Xy12Ab34.1.1.1.1714564800123456789.0 5\r\nhello\r\n",
        b"HMSG _INBOX.Tz3RqV8wYk1pX6nB5mJ2aF 2 75 75\r\nNATS/1.0 100 Idle Heartbeat\r\n"
        b"Nats-Last-Consumer: 1\r\nNats-Last-Stream: 1\r\n\r\n\r\n",
        b"HMSG _INBOX.Tz3RqV8wYk1pX6nB5mJ2aF 2 $JS.FC.OBJ_b.Xy12Ab34.k3Zq 36 36\r\n"
        b"NATS/1.0 100 FlowControl Request\r\n\r\n\r\n",
    ]
    ops = ClientParser().feed(b"".join(lines))
    assert [type(op) for op in ops] == [Msg] * 5
    msgs = [op for op in ops if isinstance(op, Msg)]
    assert msgs[0].payload.endswith(b'"no message found"}}')
    assert msgs[2].reply == "$JS.ACK.OBJ_b.Xy12Ab34.1.1.1.1714564800123456789.0"
    hb = headers.parse(msgs[3].hdr)
    assert (hb.status, hb.description, hb.get("Nats-Last-Consumer"), msgs[3].payload) == (
        100,
        "Idle Heartbeat",
        "1",
        b"",
    )
    fc = headers.parse(msgs[4].hdr)
    assert (fc.status, fc.description, msgs[4].reply) == (
        100,
        "FlowControl Request",
        "$JS.FC.OBJ_b.Xy12Ab34.k3Zq",
    )


@pytest.mark.parametrize(
    ("status", "description", "pairs"),
    [
        (503, "", [("Nats-Subject", "$JS.API.INFO")]),
        (404, "Message Not Found", []),
        (408, "Empty Request", []),
        (100, "Idle Heartbeat", [("Nats-Last-Consumer", "7"), ("Nats-Last-Stream", "9")]),
        (100, "FlowControl Request", []),
    ],
)
def test_status_messages_round_trip_through_encode_and_parse(
    status: int, description: str, pairs: list[tuple[str, str]]
) -> None:
    block = headers.build(pairs, status, description)
    data = encode.msg("_INBOX.x", "3", "", block, b"")
    (op,) = ClientParser().feed(data)
    assert isinstance(op, Msg)
    assert op.hdr == block and op.payload == b""
    parsed = headers.parse(op.hdr)
    assert (parsed.status, parsed.description, parsed.items()) == (status, description, pairs)


def test_nats_server_503_bytes() -> None:
    data = b"HMSG _INBOX.a.b 1 39 39\r\nNATS/1.0 503\r\nNats-Subject: nothing\r\n\r\n\r\n"
    (op,) = ClientParser().feed(data)
    assert isinstance(op, Msg)
    assert headers.parse(op.hdr).status == 503
    assert headers.get(op.hdr, "Nats-Subject") == "nothing"


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"PUB foo 1\r\nx\r\n", ERR_UNKNOWN_OP),
        (b"BOGUS\r\n", ERR_UNKNOWN_OP),
        (b"MSG foo 1 5\r\nhelloXY", ERR_UNKNOWN_OP),
        (b"MSG foo 5\r\nhello\r\n", ERR_PARSER),
        (b"MSG foo 1 2 3 4\r\n", ERR_PARSER),
        (b"HMSG foo 1 9 5\r\n", ERR_PARSER),
        (b"MSG foo 1 x\r\n", ERR_PARSER),
        (b"INFO [1]\r\n", ERR_PARSER),
        (b"INFO {\r\n", ERR_PARSER),
    ],
)
def test_client_side_errors(data: bytes, text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        ClientParser().feed(data)
    assert info.value.text == text


def test_client_limits() -> None:
    with pytest.raises(ProtocolError) as info:
        ClientParser(max_payload=10).feed(b"MSG a 1 11\r\n")
    assert info.value.text == ERR_MAX_PAYLOAD
    with pytest.raises(ProtocolError) as info:
        ClientParser(max_control_line=64).feed(b"INFO {" + b" " * 100)
    assert info.value.text == ERR_MAX_CONTROL_LINE
    big = b'INFO {"connect_urls":["' + b"h" * 100_000 + b'"]}\r\n'
    (op,) = ClientParser().feed(big)
    assert isinstance(op, Info)
    assert len(op.info["connect_urls"][0]) == 100_000


def test_err_text_without_quotes_is_kept() -> None:
    assert ClientParser().feed(b"-ERR Stale Connection\r\n") == [Err("Stale Connection")]
    assert ClientParser().feed(encode.err("Slow Consumer")) == [Err("Slow Consumer")]


def test_non_utf8_tokens_are_written_back_byte_for_byte() -> None:
    subject = b"a.\xff".decode("utf-8", "surrogateescape")
    data = encode.msg(subject, "1", subject, b"", b"p")
    assert data == b"MSG a.\xff 1 a.\xff 1\r\np\r\n"
    (op,) = ClientParser().feed(data)
    assert op == Msg(subject, "1", subject, b"", b"p")

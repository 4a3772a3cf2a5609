"""The parser's verdicts agree with the reference nats-server, byte for byte.

Each case is sent to a real nats-server (after a CONNECT that enables headers, and followed
by a PING) over a socket. Where ServerParser accepts the bytes, nats-server must answer the
PING; where it raises ``X``, nats-server must send ``-ERR 'X'`` and close, except for
``Parser Error``, which stands for nats-server closing without any ``-ERR``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from orlop.errors import ProtocolError
from orlop.protocol import ERR_PARSER, ClientParser, Info, Msg, Op, Pong, ServerParser, encode, headers
from orlop.testing import ServerProcess

CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'

CASES = [
    # accepted
    b"PUB subj  5\r\nhello\r\n",
    b"SUB subj  7\r\nUNSUB 7 \r\n",
    b"pub foo 1\r\nx\r\n",
    b"PUB\tfoo\t1\r\nx\r\n",
    b"PUB foo 5 \r\nhello\r\n",
    b"PUB foo 1\nx\r\n",
    b"PING x\r\n",
    b"PINGX\r\n",
    b"+OK\r\n",
    b"INFO {}\r\n",
    b"UNSUB 1 x\r\n",
    b"HPUB foo 0 5\r\nhello\r\n",
    b"HPUB foo r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
    b"SUB " + b"a" * 4094 + b" 1\r\n",
    b"PUB foo 1048576\r\n" + b"x" * 1048576 + b"\r\n",
    b"HPUB foo 3 3\r\nabc\r\n",
    b"HpUb foo 0 0\r\n\r\n",
    b"PUB foo.* 4\r\n\r\n\r\n\r\n",
    b"SUB foo q 1\r\nUNSUB 99\r\n",
    b"PING\n",
    b'CONNECT {"name":"again"}\r\n',
    # Unknown Protocol Operation
    b"XYZ\r\n",
    b"\r\n",
    b" PING\r\n",
    b"PUB\r\n",
    b"UNSUB\r\n",
    b"PUBX foo 1\r\nx\r\n",
    b"MSG a 1 0\r\n\r\n",
    b"PUB foo 5\r\nhelloXY",
    b"PUB foo 1\r\nx\n",
    # maximum control line exceeded / Maximum Payload Violation
    b"SUB " + b"a" * 4095 + b" 1\r\n",
    b"PUB " + b"a" * 5000,
    b'CONNECT {"name":"' + b"a" * 5000 + b'"}\r\n',
    b"PUB foo 1048577\r\n",
    b"HPUB foo 1 1048577\r\n",
    # closed without -ERR (Parser Error)
    b"PUB foo\r\n",
    b"PUB a b c 5\r\nhello\r\n",
    b"PUB foo -5\r\n",
    b"PUB foo +5\r\nhello\r\n",
    b"PUB foo 1234567890\r\n",
    b"PUB foo 0000000001\r\nx\r\n",
    b"PUB foo 000000001\r\nx\r\n",
    b"HPUB foo 10 5\r\n",
    b"HPUB foo x 5\r\n",
    b"SUB foo\r\n",
    b"SUB a b c d\r\n",
    b"UNSUB \r\n",
    b"UNSUB 1 2 3\r\n",
    b"CONNECT {bad\r\n",
    b"CONNECT []\r\n",
    b"-ERR 'x'\r\n",
]


@pytest.fixture(scope="module")
def reference() -> Iterator[ServerProcess]:
    proc = ServerProcess(kind="nats-server", jetstream=False, monitor=False)
    proc.start()
    try:
        yield proc
    finally:
        proc.close()


def exchange(url: str, data: bytes) -> bytes:
    """Send CONNECT + data + PING; return what came back after INFO, up to PONG or close."""
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        got = b""
        while b"\r\n" not in got:
            got += sock.recv(65536)
        sock.sendall(CONNECT + data + b"PING\r\n")
        out = b""
        try:
            while b"PONG\r\n" not in out:
                chunk = sock.recv(65536)
                if not chunk:
                    return out + b"<closed>"
                out += chunk
        except ConnectionResetError:
            return out + b"<closed>"
        return out


def verdict(data: bytes) -> str | None:
    try:
        ServerParser().feed(data)
    except ProtocolError as exc:
        return exc.text
    return None


@pytest.mark.parametrize("data", CASES, ids=[repr(c[:24]) for c in CASES])
def test_parser_verdict_matches_nats_server(reference: ServerProcess, data: bytes) -> None:
    expected = verdict(data)
    answer = exchange(reference.url, data)
    if expected is None:
        assert answer.endswith(b"PONG\r\n"), answer
        assert b"-ERR" not in answer
    elif expected == ERR_PARSER:
        assert answer == b"<closed>"
    else:
        assert answer == b"-ERR '" + expected.encode() + b"'\r\n<closed>"


def test_client_parser_reads_what_nats_server_sends(reference: ServerProcess) -> None:
    """INFO, MSG, HMSG, the 503 no-responders status and PONG, straight from nats-server."""
    host, port = reference.url.removeprefix("nats://").rsplit(":", 1)
    hdr = headers.build([("X-A", "1"), ("X-A", "2")])
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            CONNECT
            + encode.sub("t.>", "", "1")
            + encode.sub("_INBOX.me.*", "", "2")
            + encode.pub("t.plain", "", b"", b"a\r\nb")
            + encode.pub("t.hdr", "r.x", hdr, b"body")
            + encode.pub("nobody.home", "_INBOX.me.1", b"", b"?")
            + encode.PING
        )
        parser = ClientParser()
        ops: list[Op] = []
        while not ops or type(ops[-1]) is not Pong:
            chunk = sock.recv(7)  # small reads: every frame is split somewhere
            assert chunk, ops
            ops += parser.feed(chunk)
    info, plain, with_hdr, no_responders, pong = ops
    assert isinstance(info, Info) and info.info["headers"] is True and info.info["max_payload"] == 1048576
    assert plain == Msg("t.plain", "1", "", b"", b"a\r\nb")
    assert with_hdr == Msg("t.hdr", "1", "r.x", hdr, b"body")
    assert isinstance(no_responders, Msg) and no_responders.sid == "2" and no_responders.payload == b""
    status = headers.parse(no_responders.hdr)
    assert status.status == 503
    assert status.get("Nats-Subject") == "nobody.home"
    assert pong == Pong()

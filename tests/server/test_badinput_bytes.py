"""Subjects, replies and sids are bytes on the wire: bytes that are not UTF-8 pass through.

nats-server takes any non-whitespace bytes there. Orlop's parser keeps such bytes as
surrogates (``surrogateescape``); they must come back out unchanged, in deliveries and
in messages stored by JetStream, and never break the connection that sent them.
"""

from __future__ import annotations

import json
import socket
import urllib.request

from orlop.testing import ServerProcess


def _until_pong(proc: ServerProcess, data: bytes, pongs: int = 1) -> bytes:
    host, port = proc.url.removeprefix("nats://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        assert raw.recv(4096).startswith(b"INFO ")
        raw.sendall(b'CONNECT {"verbose":false,"headers":true}\r\n' + data + b"PING\r\n" * pongs)
        out = b""
        while out.count(b"PONG\r\n") < pongs:
            chunk = raw.recv(65536)
            assert chunk, out
            out += chunk
        return out


def test_non_utf8_subject_reply_and_sid_come_back_unchanged(server: ServerProcess) -> None:
    out = _until_pong(
        server,
        b"SUB > 1\r\nSUB x \xcb\xff\r\n"
        b"PUB a\xff.b rep\xfe 2\r\nhi\r\n"
        b"HPUB q\xff 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
        b"PUB x 1\r\nz\r\n",
    )
    assert b"MSG a\xff.b 1 rep\xfe 2\r\nhi\r\n" in out
    assert b"HMSG q\xff 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n" in out
    assert b"MSG x \xcb\xff 1\r\nz\r\n" in out
    assert b"-ERR" not in out
    if server.kind == "orlop":
        assert "Traceback" not in server.log()


class _Session:
    """A raw connection subscribed to ``r.>``: send a request, read its one answer."""

    def __init__(self, proc: ServerProcess) -> None:
        host, port = proc.url.removeprefix("nats://").rsplit(":", 1)
        self.raw = socket.create_connection((host, int(port)), timeout=5)
        assert self.raw.recv(4096).startswith(b"INFO ")
        self.raw.sendall(b'CONNECT {"verbose":false,"headers":true}\r\nSUB r.> 1\r\n')
        self.buf = b""

    def ask(self, subject: bytes, reply: bytes, body: bytes) -> bytes:
        """Publish ``body`` with ``reply``; the payload of the MSG on ``reply``."""
        self.raw.sendall(b"PUB %s %s %d\r\n%s\r\n" % (subject, reply, len(body), body))
        head = b"MSG " + reply + b" 1 "
        while True:
            at = self.buf.find(head)
            if at >= 0:
                end = self.buf.find(b"\r\n", at)
                if end >= 0:
                    size = int(self.buf[at + len(head) : end])
                    if len(self.buf) >= end + 2 + size + 2:
                        payload = self.buf[end + 2 : end + 2 + size]
                        self.buf = self.buf[end + 2 + size + 2 :]
                        return payload
            chunk = self.raw.recv(65536)
            assert chunk, self.buf
            self.buf += chunk

    def close(self) -> None:
        self.raw.close()


def test_non_utf8_subject_is_stored_and_read_back(server: ServerProcess) -> None:
    cfg = json.dumps({"name": "S", "subjects": ["foo.*"], "storage": "file"}).encode()
    get = b'{"seq":1}'
    session = _Session(server)
    try:
        assert b'"error"' not in session.ask(b"$JS.API.STREAM.CREATE.S", b"r.1", cfg)
        assert json.loads(session.ask(b"foo.\xff", b"r.2", b"hi")) == {"stream": "S", "seq": 1}
        message = json.loads(session.ask(b"$JS.API.STREAM.MSG.GET.S", b"r.3", get))["message"]
    finally:
        session.close()
    assert message["seq"] == 1 and message["data"] == "aGk="
    # In JSON the stray byte is U+FFFD, as Go writes it (the stored subject keeps the byte).
    assert message["subject"] == "foo.\ufffd"
    if server.kind == "orlop":
        assert "Traceback" not in server.log()
        server.restart()
        session = _Session(server)
        try:
            reread = json.loads(session.ask(b"$JS.API.STREAM.MSG.GET.S", b"r.4", get))["message"]
        finally:
            session.close()
        assert reread["subject"] == "foo.\ufffd"  # the stray byte, read back from disk


def test_monitoring_json_shows_a_stray_byte_as_go_does(server: ServerProcess) -> None:
    """/connz lists subscriptions; a byte that is not UTF-8 is U+FFFD there, as in Go's JSON."""
    host, port = server.url.removeprefix("nats://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        assert raw.recv(4096).startswith(b"INFO ")
        raw.sendall(b'CONNECT {"verbose":false}\r\nSUB mon.\xff.x 7\r\nPING\r\n')
        out = b""
        while b"PONG\r\n" not in out:
            out += raw.recv(4096)
        with urllib.request.urlopen(server.monitor_url + "/connz?subs=1", timeout=10) as resp:
            body = resp.read()
    subs = [s for c in json.loads(body)["connections"] for s in c.get("subscriptions_list", [])]
    assert "mon.\ufffd.x" in subs
    assert b"\\udcff" not in body

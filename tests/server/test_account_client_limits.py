"""An account's ``limits { max_connections, max_subscriptions, max_payload }``, on both servers.

nats-server's account limits (opts.go parseAccountLimits, client.go registerWithAccount and
applyAccountLimits): a connection over the account's total is refused with
``-ERR 'maximum account active connections exceeded'``; a subscription over the limit gets
``-ERR 'maximum subscriptions exceeded'`` and the connection stays; a message over the
account's payload limit gets ``-ERR 'Maximum Payload Violation'`` and the connection closes.
Other accounts are not touched by the limits.
"""

from __future__ import annotations

from pathlib import Path

import nats
import pytest
from tests.server.rawclient import raw_connect, read_until, until_closed

from orlop.testing import KINDS, ServerProcess

Factory = type[ServerProcess]

CONFIG = """
accounts {
  SMALL: {
    users: [ { user: s1, password: pw }, { user: s2, password: pw }, { user: s3, password: pw } ]
    limits: { max_connections: 2, max_subscriptions: 3, max_payload: 100 }
  }
  BIG: { users: [ { user: big, password: pw } ] }
}
"""


@pytest.fixture(params=KINDS)
def limited(request: pytest.FixtureRequest, server_factory: Factory, tmp_path: Path) -> ServerProcess:
    conf = tmp_path / "limits.conf"
    conf.write_text(CONFIG)
    return server_factory(kind=request.param, jetstream=False, extra_args=["-c", str(conf)]).start()


def test_account_connection_limit(limited: ServerProcess) -> None:
    first = raw_connect(limited.url, user="s1", **{"pass": "pw"})
    second = raw_connect(limited.url, user="s2", **{"pass": "pw"})
    third = raw_connect(limited.url, ping=False, user="s3", **{"pass": "pw"})
    assert until_closed(third) == b"-ERR 'maximum account active connections exceeded'\r\n<EOF>"
    # Another account is not counted against SMALL.
    other = raw_connect(limited.url, user="big", **{"pass": "pw"})
    # A place freed is a place taken again.
    first.close()
    for _ in range(50):
        again = raw_connect(limited.url, ping=False, user="s1", **{"pass": "pw"})
        again.sendall(b"PING\r\n")
        answer = read_until(again, b"\r\n")
        if answer == b"PONG\r\n":
            break
        again.close()
    assert answer == b"PONG\r\n"
    for s in (second, other, again):
        s.close()


def test_account_subscription_limit_keeps_the_connection(limited: ServerProcess) -> None:
    sock = raw_connect(limited.url, user="s1", **{"pass": "pw"})
    sock.sendall(b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nSUB d 4\r\nPING\r\n")
    assert read_until(sock, b"PONG\r\n") == b"-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n"
    sock.sendall(b"PUB d 2\r\nhi\r\nPUB c 2\r\nhi\r\nPING\r\n")
    got = read_until(sock, b"PONG\r\n")
    assert got == b"MSG c 3 2\r\nhi\r\nPONG\r\n"  # d was never subscribed
    sock.sendall(b"UNSUB 1\r\nSUB d 4\r\nPUB d 2\r\nok\r\nPING\r\n")
    assert read_until(sock, b"PONG\r\n") == b"MSG d 4 2\r\nok\r\nPONG\r\n"
    big = raw_connect(limited.url, user="big", **{"pass": "pw"})
    big.sendall(b"".join(b"SUB s.%d %d\r\n" % (i, i) for i in range(10)) + b"PING\r\n")
    assert read_until(big, b"PONG\r\n") == b"PONG\r\n"
    sock.close()
    big.close()


async def test_account_payload_limit(limited: ServerProcess) -> None:
    sock = raw_connect(limited.url, user="s1", **{"pass": "pw"})
    sock.sendall(b"SUB x 1\r\nPUB x 100\r\n" + b"a" * 100 + b"\r\nPING\r\n")
    assert read_until(sock, b"PONG\r\n") == b"MSG x 1 100\r\n" + b"a" * 100 + b"\r\nPONG\r\n"
    sock.sendall(b"PUB x 101\r\n" + b"a" * 101 + b"\r\n")
    assert until_closed(sock) == b"-ERR 'Maximum Payload Violation'\r\n<EOF>"
    # The big account keeps the server's limit; nats-py sees it in INFO only as the server's.
    nc = await nats.connect(limited.url, user="big", password="pw")
    try:
        sub = await nc.subscribe("y")
        await nc.publish("y", b"b" * 1000)
        assert len((await sub.next_msg(timeout=5)).data) == 1000
    finally:
        await nc.close()


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_limit_is_refused(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("accounts { A: { users: [ {user: a, password: b} ], limits: { max_conns: 3 } } }\n")
    proc = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)])
    with pytest.raises(RuntimeError, match='Unknown field "max_conns" parsing account limits'):
        proc.start(timeout=10)

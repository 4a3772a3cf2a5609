"""Random mixes of valid, truncated and corrupted protocol, cut at random points, from many
clients: the server answers or hangs up on each, never crashes, and keeps serving."""

from __future__ import annotations

import contextlib
import random
import socket

import nats

from orlop.testing import ServerProcess

PIECES = [
    b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n',
    b'CONNECT {"verbose":true}\r\n',
    b"CONNECT {}\r\n",
    b"CONNECT []\r\n",
    b"SUB a.* 1\r\n",
    b"SUB a.> q 2\r\n",
    b"SUB _INBOX.x.* 3\r\n",
    b"SUB a..b 4\r\n",
    b"UNSUB 1 2\r\n",
    b"UNSUB 2\r\n",
    b"UNSUB x y\r\n",
    b"PUB a.b 5\r\nhello\r\n",
    b"PUB a.b _INBOX.x.1 0\r\n\r\n",
    b"PUB nobody _INBOX.x.2 1\r\nx\r\n",
    b"HPUB a.c 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
    b"HPUB a.c 22 22\r\nNATS/1.0 503\r\nK: v\r\n\r\n\r\n",
    b"HPUB a.c 30 20\r\n",
    b"PUB a.b 999999999\r\n",
    b"PUB a.b -1\r\n",
    b"PING\r\n",
    b"PONG\r\n",
    b"+OK\r\n",
    b"-ERR 'x'\r\n",
    b"MSG a 1 1\r\nx\r\n",
    b"INFO {}\r\n",
    b"\r\n",
    b"   PING\r\n",
    b"P",
    b"PU",
    b"\x00\xff\xfe",
]


def addr(proc: ServerProcess) -> tuple[str, int]:
    host, port = proc.url.removeprefix("nats://").rsplit(":", 1)
    return host, int(port)


def one_client(proc: ServerProcess, rnd: random.Random) -> None:
    stream = b"".join(rnd.choice(PIECES) for _ in range(rnd.randrange(1, 40)))
    if rnd.random() < 0.3:  # corrupt a few bytes
        data = bytearray(stream)
        for _ in range(rnd.randrange(1, 4)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        stream = bytes(data)
    with socket.create_connection(addr(proc), timeout=5) as raw:
        raw.settimeout(0.5)
        raw.recv(4096)
        pos = 0
        with contextlib.suppress(OSError):
            while pos < len(stream):
                step = rnd.randrange(1, 64)
                raw.sendall(stream[pos : pos + step])
                pos += step
            while raw.recv(65536):
                pass


async def test_random_protocol_soup(server: ServerProcess) -> None:
    for seed in range(3):
        rnd = random.Random(seed)
        for _ in range(60):
            one_client(server, rnd)
    nc = await nats.connect(server.url)
    try:
        sub = await nc.subscribe("still.alive")
        await nc.publish("still.alive", b"yes")
        assert (await sub.next_msg(timeout=5)).data == b"yes"
    finally:
        await nc.close()
    assert server.proc is not None and server.proc.poll() is None
    if server.kind == "orlop":
        log = server.log()
        assert "Traceback" not in log, log[-3000:]
        errors = [line for line in log.splitlines() if "[ERR]" in line]
        assert errors  # protocol violations are logged, as nats-server logs them
        assert all("Client protocol ERROR" in line and "127.0.0.1:" in line for line in errors), errors

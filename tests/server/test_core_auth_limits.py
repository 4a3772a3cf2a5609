"""Auth, connection limits, keep-alive and the ports file, on Orlop and nats-server alike.

Servers come from ``server_factory`` with nats-server flags or a nats-server config
file, so the same arguments configure both kinds.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from pathlib import Path

import nats
import pytest
from nats.errors import Error as NatsError

from orlop.testing import KINDS, ServerProcess

Factory = type[ServerProcess]


def addr(proc: ServerProcess) -> tuple[str, int]:
    host, port = proc.url.removeprefix("nats://").rsplit(":", 1)
    return host, int(port)


def read_until_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return data
        if not chunk:
            return data + b"<EOF>"
        data += chunk
    return data


@pytest.mark.parametrize("kind", KINDS)
async def test_user_password_accepted_and_refused(kind: str, server_factory: Factory) -> None:
    args = ["--user", "alice", "--pass", "s3cret"]
    proc = server_factory(kind=kind, jetstream=False, extra_args=args).start()
    nc = await nats.connect(proc.url, user="alice", password="s3cret")
    try:
        assert nc._server_info["auth_required"] is True
        assert "nonce" not in nc._server_info  # only nkey/JWT users sign a nonce
        await nc.publish("x", b"1")
        await nc.flush()
    finally:
        await nc.close()
    for user, password in (("alice", "wrong"), ("bob", "s3cret")):
        with pytest.raises((NatsError, OSError)):
            await nats.connect(
                proc.url, user=user, password=password, allow_reconnect=False, max_reconnect_attempts=0
            )
    with socket.create_connection(addr(proc)) as raw:
        raw.recv(4096)
        raw.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
        assert read_until_closed(raw) == b"-ERR 'Authorization Violation'\r\n<EOF>"


@pytest.mark.parametrize("kind", KINDS)
async def test_token_auth(kind: str, server_factory: Factory) -> None:
    proc = server_factory(kind=kind, jetstream=False, extra_args=["--auth", "tok123"]).start()
    nc = await nats.connect(proc.url, token="tok123")
    await nc.close()
    with socket.create_connection(addr(proc)) as raw:
        raw.recv(4096)
        raw.sendall(b'CONNECT {"verbose":false,"auth_token":"nope"}\r\nPING\r\n')
        assert read_until_closed(raw) == b"-ERR 'Authorization Violation'\r\n<EOF>"


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_before_connect_when_auth_required(kind: str, server_factory: Factory) -> None:
    proc = server_factory(kind=kind, jetstream=False, extra_args=["--user", "a", "--pass", "b"]).start()
    with socket.create_connection(addr(proc)) as raw:
        raw.recv(4096)
        raw.sendall(b"SUB foo 1\r\nPING\r\n")
        assert read_until_closed(raw) == b"-ERR 'Authorization Violation'\r\n<EOF>"
    with socket.create_connection(addr(proc)) as raw:
        raw.recv(4096)
        started = time.monotonic()
        assert read_until_closed(raw, 6) == b"-ERR 'Authentication Timeout'\r\n<EOF>"
        assert 1.5 < time.monotonic() - started < 4


@pytest.mark.parametrize("kind", KINDS)
def test_max_connections(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    conf = tmp_path / "limits.conf"
    conf.write_text("max_connections: 2\n")
    proc = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    first = [socket.create_connection(addr(proc)) for _ in range(2)]
    try:
        for s in first:
            s.settimeout(5)
            assert s.recv(4096).startswith(b"INFO ")
            # nats-server sends INFO before it counts the client (createClient runs per connection
            # in a goroutine): only a PONG proves both are counted before the third one arrives.
            s.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
            assert s.recv(4096) == b"PONG\r\n"
        with socket.create_connection(addr(proc)) as third:
            data = read_until_closed(third)
            assert data.startswith(b"INFO {")
            assert data.endswith(b"\r\n-ERR 'maximum connections exceeded'\r\n<EOF>")
        first[0].sendall(b"PING\r\n")
        assert first[0].recv(4096) == b"PONG\r\n"
    finally:
        for s in first:
            s.close()


@pytest.mark.parametrize("kind", KINDS)
def test_stale_connection(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    conf = tmp_path / "ping.conf"
    conf.write_text('ping_interval: "1s"\nping_max: 1\n')
    proc = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    with socket.create_connection(addr(proc)) as raw:
        raw.recv(4096)
        raw.sendall(b'CONNECT {"verbose":false}\r\n')
        started = time.monotonic()
        assert read_until_closed(raw, 6) == b"PING\r\n-ERR 'Stale Connection'\r\n<EOF>"
        assert 1.5 < time.monotonic() - started < 4
    with socket.create_connection(addr(proc)) as raw:
        raw.recv(4096)
        raw.sendall(b'CONNECT {"verbose":false}\r\n')
        raw.settimeout(5)
        for _ in range(3):  # answering every PING keeps the connection
            assert raw.recv(4096) == b"PING\r\n"
            raw.sendall(b"PONG\r\n")
        raw.sendall(b"PING\r\n")
        assert raw.recv(4096) == b"PONG\r\n"


@pytest.mark.parametrize("kind", KINDS)
def test_ports_file_written_and_removed(kind: str, server_factory: Factory) -> None:
    proc = server_factory(kind=kind, jetstream=False).start()
    assert proc.proc is not None
    files = list(Path(proc.store_dir).glob(f"*_{proc.proc.pid}.ports"))
    assert len(files) == 1
    body = json.loads(files[0].read_text())
    assert body["nats"] == [proc.url]
    assert body["monitoring"][0].startswith("http://127.0.0.1:")
    assert proc.stop() == 0
    assert not files[0].exists()


@pytest.mark.parametrize("kind", KINDS)
def test_ports_file_without_monitoring(kind: str, server_factory: Factory) -> None:
    proc = server_factory(kind=kind, jetstream=False, monitor=False).start()
    assert proc.proc is not None
    (ports,) = Path(proc.store_dir).glob(f"*_{proc.proc.pid}.ports")
    assert json.loads(ports.read_text()) == {"nats": [proc.url]}


@pytest.mark.parametrize("kind", KINDS)
async def test_slow_consumer_is_cut_and_others_keep_working(
    kind: str, server_factory: Factory, tmp_path: Path
) -> None:
    conf = tmp_path / "pending.conf"
    conf.write_text("max_pending: 1048576\n")
    proc = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    lazy = socket.create_connection(addr(proc))
    lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    lazy.recv(4096)
    lazy.sendall(b'CONNECT {"verbose":false}\r\nSUB flood 1\r\nPING\r\n')
    lazy.settimeout(5)
    assert lazy.recv(4096) == b"PONG\r\n"
    nc = await nats.connect(proc.url)
    try:
        payload = b"z" * 16384
        for _ in range(2000):  # 32 MB towards a reader that never reads
            await nc.publish("flood", payload)
        await nc.flush(timeout=20)
        # The publisher is fine; the lazy subscriber was disconnected.
        assert nc.is_connected
        lazy.settimeout(10)
        total = 0
        closed = False
        while total < 64 * 1024 * 1024:
            try:
                chunk = lazy.recv(1 << 20)
            except (ConnectionResetError, TimeoutError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            total += len(chunk)
        assert closed
        assert total < 32 * 1024 * 1024
    finally:
        lazy.close()
        await nc.close()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_shuts_down_cleanly(kind: str, sig: signal.Signals, server_factory: Factory) -> None:
    proc = server_factory(kind=kind, jetstream=False).start()
    assert proc.proc is not None
    (ports,) = Path(proc.store_dir).glob(f"*_{proc.proc.pid}.ports")
    closed = asyncio.Event()

    async def on_closed() -> None:
        closed.set()

    nc = await nats.connect(proc.url, allow_reconnect=False, closed_cb=on_closed)
    assert nc.is_connected
    proc.proc.send_signal(sig)
    assert await asyncio.to_thread(proc.proc.wait, 10) == 0
    await asyncio.wait_for(closed.wait(), 5)
    assert not ports.exists()
    with pytest.raises(OSError):
        socket.create_connection(addr(proc), timeout=1).close()

"""What an operator sees when something is wrong: startup errors, protocol abuse, lost metadata, limits.

Each behaviour is checked on both servers: the log lines an operator greps for
and the errors a client gets are nats-server's.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import nats
import pytest

from orlop.testing import KINDS, ServerProcess


def addr(proc: ServerProcess) -> tuple[str, int]:
    return "127.0.0.1", proc.port


def exchange(sock: socket.socket, send: bytes, want: bytes, timeout: float = 5.0) -> bytes:
    """Send ``send`` and read until ``want`` shows up (or the connection ends)."""
    sock.sendall(send)
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while want not in data and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def connected(proc: ServerProcess) -> socket.socket:
    s = socket.create_connection(addr(proc))
    s.settimeout(5)
    assert s.recv(4096).startswith(b"INFO ")
    assert exchange(s, b'CONNECT {"verbose":false}\r\nPING\r\n', b"PONG\r\n").endswith(b"PONG\r\n")
    return s


def wait_for_log(proc: ServerProcess, text: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = proc.log()
        if text in log:
            return log
        time.sleep(0.05)
    return proc.log()


@pytest.mark.parametrize("kind", KINDS)
def test_max_subscriptions_refuses_the_next_sub_and_keeps_the_client(
    kind: str, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    conf = tmp_path / "subs.conf"
    conf.write_text("max_subscriptions: 3\n")
    proc = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    with connected(proc) as s:
        got = exchange(s, b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nSUB d 4\r\nPING\r\n", b"PONG\r\n")
        assert got == b"-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n"
        assert (
            exchange(s, b"PUB c 2\r\nhi\r\nPUB d 2\r\nno\r\nPING\r\n", b"PONG\r\n")
            == b"MSG c 3 2\r\nhi\r\nPONG\r\n"
        )
    assert "maximum subscriptions exceeded" in wait_for_log(proc, "maximum subscriptions exceeded")


@pytest.mark.parametrize("kind", KINDS)
def test_max_sub_tokens_refuses_deep_subjects(
    kind: str, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    conf = tmp_path / "tokens.conf"
    conf.write_text("max_sub_tokens: 2\n")
    proc = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    with connected(proc) as s:
        got = exchange(s, b"SUB a.b 1\r\nSUB a.b.c 2\r\nPING\r\n", b"PONG\r\n")
        assert (
            got == b"-ERR 'Permissions Violation for Subscription to \"a.b.c\", too many tokens'\r\nPONG\r\n"
        )


@pytest.mark.parametrize("kind", KINDS)
def test_authorization_timeout_is_honoured(
    kind: str, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    conf = tmp_path / "auth.conf"
    conf.write_text("authorization { token: s3cret, timeout: 0.5 }\n")
    proc = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    with socket.create_connection(addr(proc)) as s:
        s.settimeout(5)
        started = time.monotonic()
        data = b""
        while b"Authentication Timeout" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        assert b"-ERR 'Authentication Timeout'" in data
        assert time.monotonic() - started < 1.9  # not the 2 s default


@pytest.mark.parametrize("kind", KINDS)
def test_store_dir_that_is_a_file_is_named(kind: str, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("a file")
    proc = ServerProcess(kind=kind, store_dir=str(tmp_path), extra_args=["-sd", str(not_a_dir)])
    with pytest.raises(RuntimeError) as err:
        proc.start()
    log = str(err.value)
    assert "Can't start JetStream: storage directory is not a directory" in log
    assert "Error listening on port" not in log
    if "Server Exiting" in log:
        assert log.index("storage directory") < log.index("Server Exiting")
    proc.close()


@pytest.mark.parametrize("kind", KINDS)
def test_taken_monitoring_port_is_named(kind: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = ServerProcess(kind=kind, store_dir=str(tmp_path), monitor=False, extra_args=["-m", str(port)])
        with pytest.raises(RuntimeError) as err:
            proc.start()
        proc.close()
    log = str(err.value)
    assert "Can't start monitoring: can't listen to the monitor port" in log
    assert str(port) in log
    if "Server Exiting" in log:
        assert log.index("Can't start monitoring") < log.index("Server Exiting")


def test_banner_says_when_jetstream_is_off(tmp_path: Path) -> None:
    with socket.socket() as probe:  # the banner is printed for a real port only
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orlop",
            "serve",
            "-p",
            str(port),
            "-m",
            "0",
            "-sd",
            str(tmp_path),
            "--ports_file_dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not list(tmp_path.glob("*.ports")) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    first = out.splitlines()[0]
    assert first.endswith("JetStream is off (use -js)"), first


META = {"orlop": "meta.json", "nats-server": "meta.inf"}


@pytest.mark.parametrize("kind", KINDS)
async def test_missing_stream_metafile_is_logged_and_data_kept(kind: str, tmp_path: Path) -> None:
    proc = ServerProcess(kind=kind, store_dir=str(tmp_path))
    proc.start()
    try:
        nc = await nats.connect(proc.url)
        js = nc.jetstream()
        await js.add_stream(name="KEEP", subjects=["keep"])
        await js.add_stream(name="OTHER", subjects=["other"])
        for i in range(5):
            await js.publish("keep", b"k%d" % i)
        await js.publish("other", b"o")
        await nc.close()
        proc.stop()
        sdir = tmp_path / "jetstream" / "$G" / "streams" / "KEEP"
        (sdir / META[kind]).unlink()
        blocks = sorted(p.name for p in (sdir / "msgs").glob("*.blk"))
        assert blocks
        proc.start()
        log = wait_for_log(proc, "Missing stream metafile")
        assert "Missing stream metafile" in log and "KEEP" in log
        nc = await nats.connect(proc.url)
        js = nc.jetstream()
        assert (await js.stream_info("OTHER")).state.messages == 1  # the others still come back
        names = json.loads((await nc.request("$JS.API.STREAM.NAMES", b"", timeout=5)).data)["streams"]
        assert names == ["OTHER"]
        assert sorted(p.name for p in (sdir / "msgs").glob("*.blk")) == blocks  # nothing deleted
        # The recovery docs/reliability.md gives: create the stream again under its name.
        await js.add_stream(name="KEEP", subjects=["keep"])
        assert (await js.stream_info("KEEP")).state.messages == 5
        assert (await js.get_msg("KEEP", 5)).data == b"k4"
        await nc.close()
    finally:
        proc.close()


ABUSE = {
    "garbage": b"\x00\x01GARBAGE\r\n",
    "oversized PUB": b"PUB big 99999999\r\n",
    "over-long control line": b"SUB " + b"x" * 10000 + b"\r\n",
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(ABUSE))
def test_protocol_violations_leave_an_error_line(
    kind: str, case: str, server_factory: type[ServerProcess]
) -> None:
    proc = server_factory(kind=kind, jetstream=False).start()
    with connected(proc) as s:
        port = s.getsockname()[1]
        s.sendall(ABUSE[case])
        s.settimeout(5)
        while True:
            try:
                if not s.recv(65536):
                    break
            except (ConnectionResetError, TimeoutError):
                break
    log = wait_for_log(proc, f"127.0.0.1:{port}")
    lines = [line for line in log.splitlines() if f"127.0.0.1:{port}" in line and "[ERR]" in line]
    assert lines, log[-2000:]
    with connected(proc):  # the server is still up for everyone else
        pass

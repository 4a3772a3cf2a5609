"""Users, bcrypt passwords, no_auth_user and subject permissions, on Orlop and nats-server alike.

The same configuration file starts both servers; raw sockets check the exact ``-ERR``
lines (and that the connection stays open), nats-py checks what is delivered. The
behaviour follows nats-server's TestUserAuthorizationProto, TestQueuePermissions,
TestResponsePermissions, TestNoAuthUser and Good/BadBcryptPassword.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import bcrypt
import nats
import pytest
from nats.errors import Error as NatsError

from orlop.testing import KINDS, ServerProcess

Factory = type[ServerProcess]

CONFIG = """
authorization {
  default_permissions: { publish: "_INBOX.>", subscribe: "_INBOX.>" }
  users: [
    { user: admin, password: "%(admin_hash)s", permissions: { publish: ">", subscribe: ">" } }
    { user: alice, password: pw,
      permissions: {
        publish: { allow: ["orders.>", "_INBOX.>"], deny: ["orders.secret"] }
        subscribe: { allow: ["orders.>", "jobs.* workers", "_INBOX.>"], deny: ["orders.audit.>"] }
      } }
    { user: svc, password: pw,
      permissions: { subscribe: "requests", allow_responses: { max: 1, expires: "1m" } } }
    { user: guest, password: "" }
  ]
}
no_auth_user: guest
"""


def _start(factory: Factory, kind: str, tmp_path: Path) -> ServerProcess:
    admin_hash = bcrypt.hashpw(b"adminpw", bcrypt.gensalt(rounds=4)).decode()
    conf = tmp_path / f"{kind}.conf"
    conf.write_text(CONFIG % {"admin_hash": admin_hash})
    return factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)]).start()


def _raw(proc: ServerProcess, user: str, password: str) -> socket.socket:
    host, port = proc.url.removeprefix("nats://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.recv(4096)  # INFO
    connect = json.dumps({"verbose": False, "pedantic": False, "user": user, "pass": password})
    sock.sendall(f"CONNECT {connect}\r\nPING\r\n".encode())
    assert _read(sock, b"PONG\r\n").endswith(b"PONG\r\n")
    return sock


def _read(sock: socket.socket, until: bytes, timeout: float = 5.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)
    while until not in data and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            return data + b"<EOF>"
        data += chunk
    return data


@pytest.mark.parametrize("kind", KINDS)
def test_forbidden_publish_and_subscribe_get_nats_servers_errors(
    kind: str, server_factory: Factory, tmp_path: Path
) -> None:
    proc = _start(server_factory, kind, tmp_path)
    sock = _raw(proc, "alice", "pw")
    steps = [
        (
            b"PUB orders.secret 1\r\nx\r\n",
            b"-ERR 'Permissions Violation for Publish to \"orders.secret\"'\r\n",
        ),
        (b"PUB other 1\r\nx\r\n", b"-ERR 'Permissions Violation for Publish to \"other\"'\r\n"),
        (b"SUB other 1\r\n", b"-ERR 'Permissions Violation for Subscription to \"other\"'\r\n"),
        (
            b"SUB orders.audit.x 2\r\n",
            b"-ERR 'Permissions Violation for Subscription to \"orders.audit.x\"'\r\n",
        ),
        (
            b"SUB jobs.a others 3\r\n",
            b'-ERR \'Permissions Violation for Subscription to "jobs.a" using queue "others"\'\r\n',
        ),
    ]
    for frame, error in steps:
        sock.sendall(frame + b"PING\r\n")
        assert _read(sock, b"PONG\r\n") == error + b"PONG\r\n", frame  # answered, and still open
    sock.sendall(b"SUB jobs.a workers 4\r\nPUB orders.new 2\r\nok\r\nPING\r\n")
    assert _read(sock, b"PONG\r\n") == b"PONG\r\n"
    sock.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_denied_subjects_never_arrive_on_a_wider_subscription(
    kind: str, server_factory: Factory, tmp_path: Path
) -> None:
    proc = _start(server_factory, kind, tmp_path)
    alice = await nats.connect(proc.url, user="alice", password="pw")
    admin = await nats.connect(proc.url, user="admin", password="adminpw")
    try:
        sub = await alice.subscribe("orders.>")
        await alice.flush()
        # Seen end to end before the real publishes (nats-server may route another
        # connection's first publishes right after a SUB from a stale cache).
        for _ in range(50):
            await admin.publish("orders.probe", b"")
            try:
                await sub.next_msg(timeout=0.1)
                break
            except nats.errors.TimeoutError:
                continue
        for subject in ("orders.audit.1", "orders.new", "orders.audit.2", "orders.done"):
            await admin.publish(subject, subject.encode())
        await admin.flush()
        got = []
        while len(got) < 2:
            subject = (await sub.next_msg(timeout=5)).subject
            if subject != "orders.probe":
                got.append(subject)
        assert got == ["orders.new", "orders.done"]
        with pytest.raises(nats.errors.TimeoutError):
            await sub.next_msg(timeout=0.3)
    finally:
        await alice.close()
        await admin.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_bcrypt_passwords_and_no_auth_user(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    proc = _start(server_factory, kind, tmp_path)
    admin = await nats.connect(proc.url, user="admin", password="adminpw")
    await admin.publish("anything", b"admin may")
    await admin.flush()
    await admin.close()
    with pytest.raises((NatsError, OSError)):
        await nats.connect(
            proc.url, user="admin", password="wrong", allow_reconnect=False, max_reconnect_attempts=0
        )
    # No credentials: the no_auth_user (guest, default permissions: only _INBOX.>).
    sock_host, port = proc.url.removeprefix("nats://").rsplit(":", 1)
    with socket.create_connection((sock_host, int(port)), timeout=5) as sock:
        sock.recv(4096)
        sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPUB x 1\r\nx\r\nPING\r\n')
        assert _read(sock, b"PONG\r\n") == b"-ERR 'Permissions Violation for Publish to \"x\"'\r\nPONG\r\n"


@pytest.mark.parametrize("kind", KINDS)
async def test_allow_responses_grants_one_reply(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    proc = _start(server_factory, kind, tmp_path)
    svc = _raw(proc, "svc", "pw")
    svc.sendall(b"SUB requests 1\r\nPING\r\n")
    assert _read(svc, b"PONG\r\n") == b"PONG\r\n"
    admin = await nats.connect(proc.url, user="admin", password="adminpw")
    try:
        inbox = admin.new_inbox()
        replies = await admin.subscribe(inbox)
        await admin.flush()
        await admin.publish("requests", b"ping?", reply=inbox)
        await admin.flush()
        got = _read(svc, b"ping?\r\n")
        assert got.startswith(f"MSG requests 1 {inbox} 5\r\n".encode()), got
        svc.sendall(f"PUB {inbox} 4\r\npong\r\nPING\r\n".encode())
        assert _read(svc, b"PONG\r\n") == b"PONG\r\n"
        assert (await replies.next_msg(timeout=5)).data == b"pong"
        svc.sendall(f"PUB {inbox} 5\r\nagain\r\nPING\r\n".encode())  # max 1: the second is refused
        assert (
            _read(svc, b"PONG\r\n")
            == f"-ERR 'Permissions Violation for Publish to \"{inbox}\"'\r\nPONG\r\n".encode()
        )
        svc.sendall(b"PUB requests 1\r\nx\r\nPING\r\n")  # publishing anywhere else never was allowed
        refused = b"-ERR 'Permissions Violation for Publish to \"requests\"'\r\nPONG\r\n"
        assert _read(svc, b"PONG\r\n") == refused
        with pytest.raises(nats.errors.TimeoutError):
            await replies.next_msg(timeout=0.3)
    finally:
        svc.close()
        await admin.close()


@pytest.mark.parametrize("kind", KINDS)
def test_bad_permission_configs_are_refused(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    user = "user: a, password: b, permissions:"
    for i, block in enumerate(
        (
            f'authorization {{ users: [ {{ {user} {{ publish: "x", colour: "red" }} }} ] }}',
            f'authorization {{ users: [ {{ {user} {{ publish: {{ allow: "x", maybe: "y" }} }} }} ] }}',
            f'authorization {{ users: [ {{ {user} {{ publish: "x y" }} }} ] }}',
            "authorization { user: a, password: b, users: [ { user: c, password: d } ] }",
            "authorization { users: [ { user: a, password: b }, { user: a, password: c } ] }",
            "authorization { users: [ { user: a } ] }\nno_auth_user: nobody",
        )
    ):
        conf = tmp_path / f"bad{i}.conf"
        conf.write_text(block + "\n")
        proc = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)])
        with pytest.raises(RuntimeError):
            proc.start(timeout=10)


NKEY_CONFIG = """
authorization {
  users: [
    { nkey: %(pub)s, permissions: { publish: "ok.>", subscribe: "_INBOX.>" } }
  ]
}
"""


@pytest.mark.parametrize("kind", KINDS)
async def test_nkey_users_sign_the_nonce(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    import base64
    import os

    import nkeys

    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    keys = nkeys.from_seed(seed)
    public = keys.public_key.decode()
    (tmp_path / "u.nk").write_bytes(seed)
    conf = tmp_path / "nkeys.conf"
    conf.write_text(NKEY_CONFIG % {"pub": public})
    proc = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)]).start()

    nc = await nats.connect(proc.url, nkeys_seed=str(tmp_path / "u.nk"))
    try:
        assert nc._server_info.get("nonce")  # INFO carries a nonce to sign
        await nc.publish("ok.1", b"allowed")
        await nc.flush()
    finally:
        await nc.close()

    def attempt(sig_for: bytes | None, key: str = public) -> bytes:
        host, port = proc.url.removeprefix("nats://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            info = json.loads(sock.recv(4096).split(b" ", 1)[1])
            nonce = info["nonce"].encode()
            signed = keys.sign(sig_for if sig_for is not None else nonce)
            sig = base64.urlsafe_b64encode(signed).decode().rstrip("=")
            sock.sendall(
                f"CONNECT {json.dumps({'verbose': False, 'nkey': key, 'sig': sig})}\r\nPING\r\n".encode()
            )
            return _read(sock, b"PONG\r\n")

    assert attempt(None) == b"PONG\r\n"
    # A signature of something else (a replayed nonce of another connection), or the right
    # signature presented for another key: refused as nats-server refuses them.
    refused = b"-ERR 'Authorization Violation'\r\n<EOF>"
    assert attempt(b"an old nonce") == refused
    other = nkeys.from_seed(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)).public_key.decode()
    assert attempt(None, key=other) == refused


RELOAD_V1 = """
authorization {
  users: [
    { user: alice, password: pw }
    { user: bob, password: pw, permissions: { subscribe: ["orders.>", "other.>"], publish: "_INBOX.>" } }
  ]
}
"""
RELOAD_V2 = """
authorization {
  users: [
    { user: bob, password: pw, permissions: { subscribe: "other.>", publish: "_INBOX.>" } }
    { user: carol, password: pw }
  ]
}
"""


def _until_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)
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
async def test_reload_changes_users_and_permissions_without_a_restart(
    kind: str, server_factory: Factory, tmp_path: Path
) -> None:
    import signal

    conf = tmp_path / "reload.conf"
    conf.write_text(RELOAD_V1)
    proc = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    alice = _raw(proc, "alice", "pw")
    bob = _raw(proc, "bob", "pw")
    bob.sendall(b"SUB orders.> 1\r\nSUB other.> 2\r\nPING\r\n")
    assert _read(bob, b"PONG\r\n") == b"PONG\r\n"

    conf.write_text(RELOAD_V2)
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGHUP)
    # alice no longer exists: her connection is closed (no -ERR, as nats-server); bob lost
    # orders.>: that subscription goes, with an -ERR naming its sid.
    assert _until_closed(alice) == b"<EOF>"
    removed = b'-ERR \'Permissions Violation for Subscription to "orders.>" (sid "1")\'\r\n'
    assert _read(bob, removed) == removed
    carol = await nats.connect(proc.url, user="carol", password="pw")
    try:
        await carol.publish("orders.new", b"not for bob any more")
        await carol.publish("other.x", b"still for bob")
        await carol.flush()
        got = _read(bob, b"still for bob\r\n")
        assert got == b"MSG other.x 2 13\r\nstill for bob\r\n", got
        with pytest.raises((NatsError, OSError)):
            await nats.connect(
                proc.url, user="alice", password="pw", allow_reconnect=False, max_reconnect_attempts=0
            )
        # A configuration that does not parse changes nothing: the server keeps running as it was.
        conf.write_text("authorization { users: [ { user: carol, password: pw } ")
        proc.proc.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.5)
        assert proc.proc.poll() is None
        await carol.publish("other.y", b"still")
        await carol.flush()
        assert _read(bob, b"still\r\n").endswith(b"still\r\n")
    finally:
        await carol.close()
        alice.close()
        bob.close()


@pytest.mark.parametrize("kind", KINDS)
def test_signal_reload_from_the_command_line(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    """``orlop serve --signal reload -P FILE`` reaches either server; what cannot change is refused."""
    import subprocess
    import sys

    conf = tmp_path / "sig.conf"
    conf.write_text(RELOAD_V1)
    pid_file = tmp_path / "server.pid"
    proc = server_factory(
        kind=kind, jetstream=False, extra_args=["-c", str(conf), "-P", str(pid_file)]
    ).start()

    def signal_it(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "orlop", "serve", *args], capture_output=True, timeout=30
        )

    def wait_for_log(text: str) -> None:
        deadline = time.monotonic() + 10
        while text not in proc.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert text in proc.log(), proc.log()[-2000:]

    conf.write_text(RELOAD_V2)
    assert signal_it("--signal", "reload", "-P", str(pid_file)).returncode == 0
    wait_for_log("Reloaded server configuration")
    conf.write_text(RELOAD_V2 + "\nno_auth_user: carol\n")
    assert signal_it("--signal", f"reload={pid_file.read_text().strip()}").returncode == 0
    wait_for_log("config reload not supported for")
    assert proc.proc is not None and proc.proc.poll() is None
    bad = signal_it("--signal", "bogus=1")
    assert bad.returncode == 1 and b"unknown signal" in bad.stderr
    nobody = signal_it("--signal", "reload")
    assert nobody.returncode == 1 and b"pid" in nobody.stderr


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("connect", "answer"),
    [
        (b"CONNECT {not json}\r\n", b"<EOF>"),
        (
            b'CONNECT {"user":"alice","pass":"pw","verbose":false' + b" " * 8000 + b"}\r\n",
            b"-ERR 'maximum control",
        ),
        # Credentials of the wrong type are not "no credentials" (no_auth_user must not apply).
        (b'CONNECT {"user":["alice"],"pass":{"x":1},"verbose":false}\r\n', b"<EOF>"),
        (
            b'CONNECT {"user":"alice","pass":"pw\\u0000","verbose":false}\r\n',
            b"-ERR 'Authorization Violation'",
        ),
    ],
    ids=["malformed", "huge", "wrong-types", "nul-in-password"],
)
async def test_bad_connects_are_refused_and_nobody_else_is_affected(
    kind: str, connect: bytes, answer: bytes, server_factory: Factory, tmp_path: Path
) -> None:
    proc = _start(server_factory, kind, tmp_path)
    admin = await nats.connect(proc.url, user="admin", password="adminpw")
    try:
        host, port = proc.url.removeprefix("nats://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.recv(4096)
            sock.sendall(connect + b"PING\r\n")
            got = _until_closed(sock, timeout=3)
        assert got.startswith(answer) and b"PONG" not in got, got
        # The server is up and the other client unaffected.
        sub = await admin.subscribe("still.here")
        await admin.publish("still.here", b"yes")
        assert (await sub.next_msg(timeout=5)).data == b"yes"
    finally:
        await admin.close()

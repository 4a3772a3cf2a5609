"""Operator mode (JWTs, as nsc sets it up), on Orlop and nats-server with the same files.

The test builds an operator, a system account, accounts and users with the ``nkeys``
package (tests/natsjwt.py), starts both servers with a memory resolver (``resolver_preload``)
or a full one (a directory, updated with ``$SYS.REQ.CLAIMS.UPDATE``), and checks what
nats-server's TestJWTUser*, TestJWTAccount*, TestJWTUserRevocation and TestOperatorRestrictions
check: .creds users get in and their claims apply; no JWT, a forged or replayed signature, a
JWT signed by the wrong key, an expired or revoked user, an unknown account are refused
with ``Authorization Violation``; expiry and revocation end live connections with their
own errors.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nkeys
import pytest
from nats.errors import Error as NatsError
from tests.natsjwt import Identity, account_claims, creds_file, sign_nonce, user_claims
from tests.server.rawclient import read_until, until_closed

from orlop.testing import KINDS, ServerProcess

Factory = type[ServerProcess]


@dataclass
class Setup:
    operator: Identity
    system: Identity
    app: Identity
    op_jwt: str

    def account_jwt(self, account: Identity, name: str, **nats: object) -> str:
        return self.operator.sign_jwt(account.public, name, account_claims(**nats))  # type: ignore[arg-type]

    def user(
        self, name: str, account: Identity | None = None, *, exp: int = 0, iat: int = 0, **nats: object
    ) -> tuple[Identity, str]:
        user = Identity.new(nkeys.PREFIX_BYTE_USER)
        signer = account or self.app
        return user, signer.sign_jwt(user.public, name, user_claims(**nats), exp=exp, iat=iat)


def _setup() -> Setup:
    operator = Identity.new(nkeys.PREFIX_BYTE_OPERATOR)
    system = Identity.new(nkeys.PREFIX_BYTE_ACCOUNT)
    app = Identity.new(nkeys.PREFIX_BYTE_ACCOUNT)
    op_jwt = operator.sign_jwt(
        operator.public, "OP", {"type": "operator", "version": 2, "system_account": system.public}
    )
    return Setup(operator, system, app, op_jwt)


def _memory_conf(s: Setup, tmp_path: Path, app_jwt: str) -> Path:
    sys_jwt = s.account_jwt(s.system, "SYS", jetstream=False)
    conf = tmp_path / "operator.conf"
    conf.write_text(
        f"operator: {s.op_jwt}\n"
        f"system_account: {s.system.public}\n"
        "resolver: MEMORY\n"
        f"resolver_preload: {{\n  {s.app.public}: {app_jwt}\n  {s.system.public}: {sys_jwt}\n}}\n"
        f"jetstream {{ store_dir: {str(tmp_path / 'js')!r} }}\n"
    )
    return conf


def _raw_jwt(
    url: str, user: Identity | None, token: str, *, sig: str | None = None
) -> tuple[socket.socket, str]:
    """CONNECT with a user JWT; ``sig`` overrides the nonce signature. Returns the socket and the nonce."""
    host, port = url.split("://")[1].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    info = json.loads(read_until(sock, b"\r\n").split(b" ", 1)[1])
    nonce = info.get("nonce", "")
    fields = {"verbose": False, "pedantic": False, "jwt": token}
    if sig is not None:
        fields["sig"] = sig
    elif user is not None:
        fields["sig"] = sign_nonce(user, nonce)
    sock.sendall(f"CONNECT {json.dumps(fields)}\r\nPING\r\n".encode())
    return sock, nonce


def _start(factory: Factory, kind: str, conf: Path) -> ServerProcess:
    return factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)]).start()


@pytest.mark.parametrize("kind", KINDS)
async def test_creds_users_connect_and_their_claims_apply(
    kind: str, server_factory: Factory, tmp_path: Path
) -> None:
    s = _setup()
    conf = _memory_conf(s, tmp_path, s.account_jwt(s.app, "APP"))
    proc = _start(server_factory, kind, conf)
    with socket.create_connection(proc.url.split("://")[1].rsplit(":", 1), timeout=5) as plain:
        info = json.loads(read_until(plain, b"\r\n").split(b" ", 1)[1])
        assert info["auth_required"] is True and len(info["nonce"]) > 10
    user, token = s.user("ann")
    creds = tmp_path / "ann.creds"
    creds.write_bytes(creds_file(token, user))
    nc = await nats.connect(proc.url, user_credentials=str(creds))
    try:
        sub = await nc.subscribe("greet")
        await nc.publish("greet", b"hello")
        assert (await sub.next_msg(timeout=5)).data == b"hello"
        kv = await nc.jetstream().create_key_value(bucket="cfg")  # the account has JetStream
        await kv.put("k", b"v")
        assert (await kv.get("k")).value == b"v"
    finally:
        await nc.close()
    # Permissions written into the user's JWT hold, with nats-server's error.
    narrow, token = s.user("narrow", pub={"allow": ["ok.>"]}, sub={"allow": ["ok.>"]})
    sock, _ = _raw_jwt(proc.url, narrow, token)
    assert read_until(sock, b"PONG\r\n") == b"PONG\r\n"
    sock.sendall(b"SUB ok.1 1\r\nPUB ok.1 2\r\nhi\r\nPUB no.1 2\r\nno\r\nSUB no.> 2\r\nPING\r\n")
    assert read_until(sock, b"PONG\r\n") == (
        b"MSG ok.1 1 2\r\nhi\r\n"
        b"-ERR 'Permissions Violation for Publish to \"no.1\"'\r\n"
        b"-ERR 'Permissions Violation for Subscription to \"no.>\"'\r\nPONG\r\n"
    )
    sock.close()


@pytest.mark.parametrize("kind", KINDS)
def test_bad_credentials_are_refused(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    s = _setup()
    stranger = Identity.new(nkeys.PREFIX_BYTE_ACCOUNT)  # an account no resolver knows
    revoked_user = Identity.new(nkeys.PREFIX_BYTE_USER)
    app_jwt = s.account_jwt(s.app, "APP", revocations={revoked_user.public: int(time.time()) + 5})
    proc = _start(server_factory, kind, _memory_conf(s, tmp_path, app_jwt))
    refused = b"-ERR 'Authorization Violation'\r\n"

    def attempt(user: Identity | None, token: str, sig: str | None = None) -> bytes:
        sock, _ = _raw_jwt(proc.url, user, token, sig=sig)
        with sock:
            return until_closed(sock)

    good, good_jwt = s.user("good")
    sock, nonce = _raw_jwt(proc.url, good, good_jwt)
    assert read_until(sock, b"PONG\r\n") == b"PONG\r\n"  # the control: a good user gets in
    replayed = sign_nonce(good, nonce)
    sock.close()
    cases = {
        "no JWT": attempt(None, ""),
        "no signature": attempt(None, good_jwt),
        "signature of another nonce (replayed)": attempt(None, good_jwt, sig=replayed),
        "signature by another key": attempt(Identity.new(nkeys.PREFIX_BYTE_USER), good_jwt),
        "JWT signed by a stranger account": attempt(*s.user("x", stranger)),
        "JWT claiming the app account but signed by another key": attempt(*_forged(s)),
        "expired user": attempt(*s.user("old", exp=int(time.time()) - 10)),
        "revoked user": attempt(revoked_user, s.app.sign_jwt(revoked_user.public, "rev", user_claims())),
        "not a JWT": attempt(good, "eyJ.not.ajwt"),
    }
    for what, answer in cases.items():
        assert answer.startswith(refused), (what, answer)
    # Nobody else was affected.
    sock, _ = _raw_jwt(proc.url, good, good_jwt)
    assert read_until(sock, b"PONG\r\n") == b"PONG\r\n"
    sock.close()


def _forged(s: Setup) -> tuple[Identity, str]:
    """A user JWT naming the app account as issuer, signed by some other account key."""
    impostor = Identity.new(nkeys.PREFIX_BYTE_ACCOUNT)
    user = Identity.new(nkeys.PREFIX_BYTE_USER)
    token = impostor.sign_jwt(user.public, "forged", user_claims())
    header, claims, sig = token.split(".")
    import base64

    body = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    body["iss"] = s.app.public
    claims = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    return user, f"{header}.{claims}.{sig}"


@pytest.mark.parametrize("kind", KINDS)
def test_expiry_ends_a_live_connection(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    s = _setup()
    proc = _start(server_factory, kind, _memory_conf(s, tmp_path, s.account_jwt(s.app, "APP")))
    user, token = s.user("brief", exp=int(time.time()) + 2)
    sock, _ = _raw_jwt(proc.url, user, token)
    assert read_until(sock, b"PONG\r\n") == b"PONG\r\n"
    got = until_closed(sock, timeout=6).replace(b"PING\r\n", b"")  # nats-server may PING first
    assert got == b"-ERR 'User Authentication Expired'\r\n<EOF>"
    sock.close()


@pytest.mark.parametrize("kind", KINDS)
def test_account_expiry_ends_its_users_sessions(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    s = _setup()
    expiring = s.operator.sign_jwt(s.app.public, "APP", account_claims(), exp=int(time.time()) + 3)
    proc = _start(server_factory, kind, _memory_conf(s, tmp_path, expiring))
    sock, _ = _raw_jwt(proc.url, *s.user("member"))
    assert read_until(sock, b"PONG\r\n") == b"PONG\r\n"
    # (nats-server may PING first: it measures the new client's round trip.)
    got = until_closed(sock, timeout=8).replace(b"PING\r\n", b"")
    assert got == b"-ERR 'Account Authentication Expired'\r\n<EOF>"
    sock.close()
    late, _ = _raw_jwt(proc.url, *s.user("late"))
    assert until_closed(late).startswith(b"-ERR 'Authorization Violation'")
    late.close()


@pytest.mark.parametrize("kind", KINDS)
def test_account_connection_limit_from_the_jwt(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    s = _setup()
    proc = _start(
        server_factory, kind, _memory_conf(s, tmp_path, s.account_jwt(s.app, "APP", limits={"conn": 1}))
    )
    first_user, first_jwt = s.user("one")
    first, _ = _raw_jwt(proc.url, first_user, first_jwt)
    assert read_until(first, b"PONG\r\n") == b"PONG\r\n"
    second, _ = _raw_jwt(proc.url, *s.user("two"))
    assert until_closed(second) == b"-ERR 'maximum account active connections exceeded'\r\n<EOF>"
    first.close()
    second.close()


def _full_conf(s: Setup, tmp_path: Path, preload: dict[str, str]) -> Path:
    conf = tmp_path / "full.conf"
    entries = "\n".join(f"  {k}: {v}" for k, v in preload.items())
    conf.write_text(
        f"operator: {s.op_jwt}\n"
        f"system_account: {s.system.public}\n"
        f"resolver: {{ type: full, dir: {str(tmp_path / 'jwt')!r} }}\n"
        f"resolver_preload: {{\n{entries}\n}}\n"
        f"jetstream {{ store_dir: {str(tmp_path / 'js')!r} }}\n"
    )
    return conf


@pytest.mark.parametrize("kind", KINDS)
async def test_full_resolver_takes_account_updates_from_the_system_account(
    kind: str, server_factory: Factory, tmp_path: Path
) -> None:
    s = _setup()
    sys_jwt = s.account_jwt(s.system, "SYS", jetstream=False)
    proc = _start(server_factory, kind, _full_conf(s, tmp_path, {s.system.public: sys_jwt}))
    admin, admin_jwt = s.user("admin", s.system)
    admin_creds = tmp_path / "admin.creds"
    admin_creds.write_bytes(creds_file(admin_jwt, admin))
    victim, victim_jwt = s.user("victim", iat=int(time.time()) - 60)
    keeper, keeper_jwt = s.user("keeper")
    # The app account is not known yet: its users are refused.
    sock, _ = _raw_jwt(proc.url, victim, victim_jwt)
    assert until_closed(sock).startswith(b"-ERR 'Authorization Violation'")
    sock.close()
    sysc = await nats.connect(proc.url, user_credentials=str(admin_creds))
    try:
        app_jwt = s.account_jwt(s.app, "APP")
        reply = await sysc.request("$SYS.REQ.CLAIMS.UPDATE", app_jwt.encode(), timeout=5)
        body = json.loads(reply.data)
        assert body["data"] == {"account": s.app.public, "code": 200, "message": "jwt updated"}
        assert "id" in body["server"]
        # Kept where nats-server keeps it: <dir>/<account>.jwt, the token itself.
        assert (tmp_path / "jwt" / f"{s.app.public}.jwt").read_text().strip() == app_jwt
        victim_sock, _ = _raw_jwt(proc.url, victim, victim_jwt)
        assert read_until(victim_sock, b"PONG\r\n") == b"PONG\r\n"
        keeper_sock, _ = _raw_jwt(proc.url, keeper, keeper_jwt)
        assert read_until(keeper_sock, b"PONG\r\n") == b"PONG\r\n"
        # Revoke the victim (issued a minute ago): it is cut off, the keeper stays.
        revoking = s.account_jwt(s.app, "APP", revocations={victim.public: int(time.time()) - 30})
        reply = await sysc.request("$SYS.REQ.CLAIMS.UPDATE", revoking.encode(), timeout=5)
        assert json.loads(reply.data)["data"]["code"] == 200
        assert until_closed(victim_sock).startswith(b"-ERR 'User Authentication Revoked'")
        keeper_sock.sendall(b"PING\r\n")
        assert read_until(keeper_sock, b"PONG\r\n") == b"PONG\r\n"
        again, _ = _raw_jwt(proc.url, victim, victim_jwt)
        assert until_closed(again).startswith(b"-ERR 'Authorization Violation'")
        for x in (victim_sock, keeper_sock, again):
            x.close()
        # Garbage is answered with an error, and changes nothing.
        reply = await sysc.request("$SYS.REQ.CLAIMS.UPDATE", b"not a jwt", timeout=5)
        assert json.loads(reply.data)["error"]["code"] == 500
    finally:
        await sysc.close()
    # The stored JWT survives a restart: the keeper still gets in.
    proc.stop()
    proc = _start(server_factory, kind, _full_conf(s, tmp_path, {s.system.public: sys_jwt}))
    sock, _ = _raw_jwt(proc.url, keeper, keeper_jwt)
    assert read_until(sock, b"PONG\r\n") == b"PONG\r\n"
    sock.close()
    await asyncio.sleep(0)


@pytest.mark.parametrize("kind", KINDS)
def test_operator_configurations_nats_server_refuses(
    kind: str, server_factory: Factory, tmp_path: Path
) -> None:
    s = _setup()
    app = s.account_jwt(s.app, "APP")
    bad = {
        "no resolver": f"operator: {s.op_jwt}\n",
        "accounts beside an operator": (
            f"operator: {s.op_jwt}\nresolver: MEMORY\nresolver_preload: {{ {s.app.public}: {app} }}\n"
            "accounts { A: { users: [ { user: a, password: b } ] } }\n"
        ),
        "users beside an operator": (
            f"operator: {s.op_jwt}\nresolver: MEMORY\nresolver_preload: {{ {s.app.public}: {app} }}\n"
            "authorization { users: [ { user: a, password: b } ] }\n"
        ),
        "a bad operator JWT": "operator: eyJnotajwt\nresolver: MEMORY\n",
    }
    for i, text in enumerate(bad.values()):
        conf = tmp_path / f"bad{i}.conf"
        conf.write_text(text)
        proc = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)])
        with pytest.raises(RuntimeError, match="exited with"):
            proc.start(timeout=10)


@pytest.mark.parametrize("kind", KINDS)
async def test_nats_py_refused_without_creds(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    s = _setup()
    proc = _start(server_factory, kind, _memory_conf(s, tmp_path, s.account_jwt(s.app, "APP")))
    with pytest.raises((NatsError, OSError)):
        await nats.connect(proc.url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)


@pytest.mark.parametrize("kind", KINDS)
async def test_exports_and_imports_written_in_account_jwts(
    kind: str, server_factory: Factory, tmp_path: Path
) -> None:
    """An account JWT exports a stream and a service; another's JWT imports both."""
    s = _setup()
    consumer = Identity.new(nkeys.PREFIX_BYTE_ACCOUNT)
    exports = [{"name": "news", "subject": "news.>", "type": "stream"},
               {"name": "help", "subject": "help", "type": "service"}]  # fmt: skip
    imports = [
        {"name": "news", "subject": "news.>", "account": s.app.public, "type": "stream"},
        {
            "name": "help",
            "subject": "help",
            "account": s.app.public,
            "type": "service",
            "local_subject": "ask",
        },
    ]
    app_jwt = s.account_jwt(s.app, "APP", exports=exports)
    sys_jwt = s.account_jwt(s.system, "SYS", jetstream=False)
    consumer_jwt = s.account_jwt(consumer, "CONSUMER", jetstream=False, imports=imports)
    conf = tmp_path / "operator.conf"
    conf.write_text(
        f"operator: {s.op_jwt}\nsystem_account: {s.system.public}\nresolver: MEMORY\n"
        f"resolver_preload: {{\n  {s.app.public}: {app_jwt}\n  {s.system.public}: {sys_jwt}\n"
        f"  {consumer.public}: {consumer_jwt}\n}}\n"
        f"jetstream {{ store_dir: {str(tmp_path / 'js')!r} }}\n"
    )
    proc = _start(server_factory, kind, conf)
    files = {}
    for name, account in (("publisher", s.app), ("reader", consumer)):
        user, token = s.user(name, account)
        files[name] = tmp_path / f"{name}.creds"
        files[name].write_bytes(creds_file(token, user))
    publisher = await nats.connect(proc.url, user_credentials=str(files["publisher"]))
    reader = await nats.connect(proc.url, user_credentials=str(files["reader"]))
    try:

        async def helper(m: nats.aio.msg.Msg) -> None:
            await m.respond(b"helped: " + m.data)

        await publisher.subscribe("help", cb=helper)
        await publisher.flush()
        news = await reader.subscribe("news.>")
        await reader.flush()
        for _ in range(50):  # nats-server may not route the very first message after a new SUB
            await publisher.publish("news.today", b"probe")
            await publisher.flush()
            try:
                await news.next_msg(timeout=0.1)
                break
            except nats.errors.TimeoutError:
                continue
        await publisher.publish("news.today", b"extra, extra")
        got = await news.next_msg(timeout=5)
        while got.data == b"probe":
            got = await news.next_msg(timeout=5)
        assert (got.subject, got.data) == ("news.today", b"extra, extra")
        answer = await reader.request("ask", b"please", timeout=5)
        assert answer.data == b"helped: please"
        # Nothing goes the other way: the exporter does not see the reader's publishes.
        back = await publisher.subscribe("news.>")
        await publisher.flush()
        await reader.publish("news.reply", b"from the importer")
        await reader.flush()
        with pytest.raises(nats.errors.TimeoutError):
            await back.next_msg(timeout=0.5)
    finally:
        await publisher.close()
        await reader.close()


def _scoped_user(key: Identity, account: Identity, name: str, **nats: object) -> tuple[Identity, str]:
    """A user signed by the scoped signing key ``key``, as nsc writes one: no permissions of its own."""
    user = Identity.new(nkeys.PREFIX_BYTE_USER)
    claims = {"type": "user", "version": 2, "pub": {}, "sub": {}, "issuer_account": account.public, **nats}
    return user, key.sign_jwt(user.public, name, claims)


@pytest.mark.parametrize("kind", KINDS)
def test_scoped_signing_keys_give_their_users_the_template(
    kind: str, server_factory: Factory, tmp_path: Path
) -> None:
    s = _setup()
    dev, team_only, bad_deny, bad_op = (Identity.new(nkeys.PREFIX_BYTE_ACCOUNT) for _ in range(4))

    def scope(key: Identity, template: dict[str, object]) -> dict[str, object]:
        return {"kind": "user_scope", "key": key.public, "role": "r", "template": template}

    app_jwt = s.account_jwt(
        s.app,
        "APP",
        tags=["region:eu"],
        signing_keys=[
            scope(
                dev,
                {
                    "pub": {
                        "allow": ["dev.{{name()}}.>", "team.{{tag(team)}}.>", "acct.{{account-name()}}"],
                        "deny": ["dev.{{name()}}.secret"],
                    },
                    "sub": {"allow": ["_INBOX.>", "me.{{subject()}}", "region.{{account-tag(region)}}.>"]},
                },
            ),
            scope(team_only, {"pub": {"allow": ["team.{{tag(team)}}.>"]}}),
            scope(bad_deny, {"pub": {"deny": ["x.{{tag(missing)}}"]}}),
            scope(bad_op, {"pub": {"allow": ["{{bogus()}}"]}}),
        ],
    )
    proc = _start(server_factory, kind, _memory_conf(s, tmp_path, app_jwt))

    # The template's subjects, filled in with the user's name, key and tags and the account's.
    ann, token = _scoped_user(dev, s.app, "ann", tags=["team:blue", "team:red"])
    sock, _ = _raw_jwt(proc.url, ann, token)
    assert read_until(sock, b"PONG\r\n") == b"PONG\r\n"
    sock.sendall(
        b"PUB dev.ann.x 0\r\n\r\nPUB team.blue.x 0\r\n\r\nPUB team.red.x 0\r\n\r\n"
        b"PUB acct.APP 0\r\n\r\nPUB team.green.x 0\r\n\r\nPUB dev.ann.secret 0\r\n\r\n"
        b"PUB dev.bob.x 0\r\n\r\n"
        + f"SUB me.{ann.public} 1\r\nSUB region.eu.x 2\r\nSUB region.us.x 3\r\nPING\r\n".encode()
    )
    assert read_until(sock, b"PONG\r\n") == (
        b"-ERR 'Permissions Violation for Publish to \"team.green.x\"'\r\n"
        b"-ERR 'Permissions Violation for Publish to \"dev.ann.secret\"'\r\n"
        b"-ERR 'Permissions Violation for Publish to \"dev.bob.x\"'\r\n"
        b"-ERR 'Permissions Violation for Subscription to \"region.us.x\"'\r\nPONG\r\n"
    )
    sock.close()

    # Every allowed subject needed a tag this user lacks: it may publish nothing.
    plain, token = _scoped_user(team_only, s.app, "plain")
    sock, _ = _raw_jwt(proc.url, plain, token)
    assert read_until(sock, b"PONG\r\n") == b"PONG\r\n"
    sock.sendall(b"PUB team.blue.x 0\r\n\r\nPUB anything 0\r\n\r\nPING\r\n")
    assert read_until(sock, b"PONG\r\n") == (
        b"-ERR 'Permissions Violation for Publish to \"team.blue.x\"'\r\n"
        b"-ERR 'Permissions Violation for Publish to \"anything\"'\r\nPONG\r\n"
    )
    sock.close()

    refused = b"-ERR 'Authorization Violation'\r\n"
    cases = {
        "a scoped user with permissions of its own": _scoped_user(dev, s.app, "own", pub={"allow": [">"]}),
        "a scoped user with limits of its own": _scoped_user(dev, s.app, "limits", subs=10),
        "a deny subject naming a tag the user lacks": _scoped_user(bad_deny, s.app, "nodeny"),
        "a template that is not defined": _scoped_user(bad_op, s.app, "bogus"),
    }
    for what, (user, token) in cases.items():
        sock, _ = _raw_jwt(proc.url, user, token)
        with sock:
            assert until_closed(sock).startswith(refused), what


def _clock(stamp: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(stamp))


@pytest.mark.parametrize("kind", KINDS)
def test_connect_times_let_users_in_only_inside_them(
    kind: str, server_factory: Factory, tmp_path: Path
) -> None:
    s = _setup()
    proc = _start(server_factory, kind, _memory_conf(s, tmp_path, s.account_jwt(s.app, "APP")))
    now = time.time()

    # Inside its range (in UTC, wherever the servers run): in, and out when the range ends.
    inside = [{"start": _clock(now - 60), "end": _clock(now + 3)}]
    sock, _ = _raw_jwt(proc.url, *s.user("day", times=inside, times_location="UTC"))
    assert read_until(sock, b"PONG\r\n") == b"PONG\r\n"
    got = until_closed(sock, timeout=8).replace(b"PING\r\n", b"")  # nats-server may PING first
    assert got == b"-ERR 'User Authentication Expired'\r\n<EOF>"
    sock.close()

    refused = b"-ERR 'Authorization Violation'\r\n"
    later = [{"start": _clock(now + 3600), "end": _clock(now + 7200)}]
    cases = {
        "outside every range": s.user("night", times=later, times_location="UTC"),
        "a zone that does not exist": s.user("zone", times=inside, times_location="Nowhere/Atlantis"),
    }
    for what, (user, token) in cases.items():
        sock, _ = _raw_jwt(proc.url, user, token)
        with sock:
            assert until_closed(sock).startswith(refused), what
    # Two ranges: the one that holds now lets the user in.
    both = [*later, {"start": _clock(now - 60), "end": _clock(now + 600)}]
    sock, _ = _raw_jwt(proc.url, *s.user("two", times=both, times_location="UTC"))
    assert read_until(sock, b"PONG\r\n") == b"PONG\r\n"
    sock.close()


async def _delivered(publisher: nats.NATS, sub: Any, subject: str, tries: int = 30) -> bool:
    """Whether a publish on ``subject`` reaches ``sub`` (probing a while: nats-server may not
    route the first messages after a new subscription). Earlier probes are drained first, and
    only this call's own probe counts."""
    while True:
        try:
            await sub.next_msg(timeout=0.2)
        except nats.errors.TimeoutError:
            break
    probe = os.urandom(8).hex().encode()
    for _ in range(tries):
        await publisher.publish(subject, probe)
        await publisher.flush()
        try:
            while True:
                msg = await sub.next_msg(timeout=0.1)
                if msg.data == probe:
                    return True
        except nats.errors.TimeoutError:
            continue
    return False


@pytest.mark.parametrize("kind", KINDS)
async def test_private_exports_need_activation_tokens(
    kind: str, server_factory: Factory, tmp_path: Path
) -> None:
    """``nsc add export --private``: only accounts holding the exporter's activation token import it."""
    s = _setup()
    good, plain, revoked, brief, misfit = (Identity.new(nkeys.PREFIX_BYTE_ACCOUNT) for _ in range(5))
    now = int(time.time())
    exports = [
        {"name": "feed", "subject": "feed.>", "type": "stream", "token_req": True,
         "revocations": {revoked.public: now + 60}},
        {"name": "help", "subject": "help", "type": "service", "token_req": True},
    ]  # fmt: skip

    def activation(importer: Identity, subject: str, kind_: str, *, exp: int = 0) -> str:
        claims = {"type": "activation", "version": 2, "subject": subject, "kind": kind_}
        return s.app.sign_jwt(importer.public, "act", claims, exp=exp)

    def feed_import(token: str) -> dict[str, object]:
        imp: dict[str, object] = {
            "name": "feed",
            "subject": "feed.>",
            "account": s.app.public,
            "type": "stream",
        }
        return {**imp, "token": token} if token else imp

    help_import = {"name": "help", "subject": "help", "account": s.app.public, "type": "service"}
    accounts = {
        "GOOD": (good, [feed_import(activation(good, "feed.>", "stream")),
                        {**help_import, "token": activation(good, "help", "service")}]),
        "PLAIN": (plain, [feed_import(""), help_import]),  # no token: not imported
        "REVOKED": (revoked, [feed_import(activation(revoked, "feed.>", "stream"))]),
        "BRIEF": (brief, [feed_import(activation(brief, "feed.>", "stream", exp=now + 10))]),
        # A token made out to another account: this account's JWT is invalid as a whole.
        "MISFIT": (misfit, [feed_import(activation(good, "feed.>", "stream"))]),
    }  # fmt: skip
    preload = {
        s.app.public: s.account_jwt(s.app, "APP", exports=exports),
        s.system.public: s.account_jwt(s.system, "SYS", jetstream=False),
    }
    for name, (account, imports) in accounts.items():
        preload[account.public] = s.account_jwt(account, name, jetstream=False, imports=imports)
    conf = tmp_path / "operator.conf"
    entries = "\n".join(f"  {k}: {v}" for k, v in preload.items())
    conf.write_text(
        f"operator: {s.op_jwt}\nsystem_account: {s.system.public}\nresolver: MEMORY\n"
        f"resolver_preload: {{\n{entries}\n}}\n"
    )
    proc = _start(server_factory, kind, conf)

    async def connect(name: str, account: Identity) -> nats.NATS:
        user, token = s.user(name.lower(), account)
        path = tmp_path / f"{name}.creds"
        path.write_bytes(creds_file(token, user))
        return await nats.connect(proc.url, user_credentials=str(path), allow_reconnect=False)

    publisher = await connect("publisher", s.app)
    readers = {name: await connect(name, acc) for name, (acc, _) in accounts.items() if name != "MISFIT"}
    try:
        with pytest.raises((NatsError, OSError)):
            await connect("MISFIT", misfit)

        async def helper(m: nats.aio.msg.Msg) -> None:
            await m.respond(b"helped")

        await publisher.subscribe("help", cb=helper)
        await publisher.flush()
        subs = {name: await nc.subscribe("feed.>") for name, nc in readers.items()}
        for nc in readers.values():
            await nc.flush()
        assert await _delivered(publisher, subs["GOOD"], "feed.a")
        assert await _delivered(publisher, subs["BRIEF"], "feed.a")
        for name in ("PLAIN", "REVOKED"):
            assert not await _delivered(publisher, subs[name], "feed.a", tries=5), name
        assert (await readers["GOOD"].request("help", b"?", timeout=5)).data == b"helped"
        with pytest.raises(nats.errors.NoRespondersError):
            await readers["PLAIN"].request("help", b"?", timeout=2)
        # BRIEF's token expires: its import goes with it, GOOD's stays.
        await asyncio.sleep(max(0.0, now + 11 - time.time()))
        assert not await _delivered(publisher, subs["BRIEF"], "feed.b", tries=5)
        assert await _delivered(publisher, subs["GOOD"], "feed.b")
    finally:
        await publisher.close()
        for nc in readers.values():
            await nc.close()


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_permissions_invalidate_the_jwt(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    """A ``pub`` written as a list is not "no restriction": the JWT that carries it is refused."""
    s = _setup()
    proc = _start(server_factory, kind, _memory_conf(s, tmp_path, s.account_jwt(s.app, "APP")))
    sock, _ = _raw_jwt(proc.url, *s.user("fine"))  # the control
    assert read_until(sock, b"PONG\r\n") == b"PONG\r\n"
    sock.close()
    refused = b"-ERR 'Authorization Violation'\r\n"
    cases = {
        "a user JWT whose pub is a list": s.user("listed", pub=["only.this"]),
        "a user JWT whose sub deny is a string": s.user("stringy", sub={"deny": "secret.>"}),
        "a user JWT whose subs is a string": s.user("counted", subs="10"),
    }
    for what, (user, token) in cases.items():
        sock, _ = _raw_jwt(proc.url, user, token)
        with sock:
            assert until_closed(sock).startswith(refused), what
    # An account JWT with a malformed scope template, or one of an unknown kind, does not
    # even load: the server refuses to start with it preloaded.
    loose = Identity.new(nkeys.PREFIX_BYTE_ACCOUNT).public
    for i, scope in enumerate(
        (
            {"kind": "user_scope", "key": loose, "role": "r", "template": {"pub": ["only.this"]}},
            {"kind": "group_scope", "key": loose, "role": "r", "template": {}},
        )
    ):
        bad = s.account_jwt(s.app, "APP", signing_keys=[scope])
        conf = _memory_conf(s, tmp_path, bad).rename(tmp_path / f"bad{i}.conf")
        server = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)])
        with pytest.raises(RuntimeError, match="invalid account JWT"):
            server.start(timeout=10)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_changed_or_removed_scope_disconnects_its_users(
    kind: str, server_factory: Factory, tmp_path: Path
) -> None:
    s = _setup()
    sys_jwt = s.account_jwt(s.system, "SYS", jetstream=False)
    proc = _start(server_factory, kind, _full_conf(s, tmp_path, {s.system.public: sys_jwt}))
    admin, admin_jwt = s.user("admin", s.system)
    admin_creds = tmp_path / "admin.creds"
    admin_creds.write_bytes(creds_file(admin_jwt, admin))
    first, second = Identity.new(nkeys.PREFIX_BYTE_ACCOUNT), Identity.new(nkeys.PREFIX_BYTE_ACCOUNT)

    def scope(key: Identity, subject: str) -> dict[str, object]:
        return {
            "kind": "user_scope",
            "key": key.public,
            "role": "r",
            "template": {"pub": {"allow": [subject]}},
        }

    async def push(*scopes: dict[str, object]) -> None:
        app_jwt = s.account_jwt(s.app, "APP", signing_keys=list(scopes))
        reply = await sysc.request("$SYS.REQ.CLAIMS.UPDATE", app_jwt.encode(), timeout=5)
        assert json.loads(reply.data)["data"]["code"] == 200

    def connected(user: Identity, token: str) -> socket.socket:
        sock, _ = _raw_jwt(proc.url, user, token)
        assert read_until(sock, b"PONG\r\n") == b"PONG\r\n"
        return sock

    def alive(sock: socket.socket) -> bool:
        sock.sendall(b"PING\r\n")
        return read_until(sock, b"PONG\r\n").endswith(b"PONG\r\n")

    sysc = await nats.connect(proc.url, user_credentials=str(admin_creds))
    try:
        await push(scope(first, "a.>"), scope(second, "b.>"))
        ann, ann_jwt = _scoped_user(first, s.app, "ann")
        bob, bob_jwt = _scoped_user(second, s.app, "bob")
        ann_sock, bob_sock = connected(ann, ann_jwt), connected(bob, bob_jwt)
        plain_sock = connected(*s.user("plain"))
        await push(scope(first, "a2.>"), scope(second, "b.>"))  # ann's scope changes
        assert until_closed(ann_sock).endswith(b"<EOF>")  # closed (nats-server may say why, or not)
        assert alive(bob_sock) and alive(plain_sock)
        again = connected(ann, ann_jwt)  # back in, under the new template
        again.sendall(b"PUB a2.x 0\r\n\r\nPUB a.x 0\r\n\r\nPING\r\n")
        assert (
            read_until(again, b"PONG\r\n")
            == b"-ERR 'Permissions Violation for Publish to \"a.x\"'\r\nPONG\r\n"
        )
        await push(scope(first, "a2.>"))  # bob's scope goes
        assert until_closed(bob_sock).endswith(b"<EOF>")  # closed (nats-server may say why, or not)
        assert alive(again) and alive(plain_sock)
        for sock in (ann_sock, bob_sock, plain_sock, again):
            sock.close()
    finally:
        await sysc.close()

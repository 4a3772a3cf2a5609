"""Authenticator and ports-file helpers, without sockets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import bcrypt

from orlop.server.auth import Authenticator, Identity
from orlop.server.options import AuthOptions, User
from orlop.server.permissions import ConnPermissions, Permissions, ResponsePermission, SubjectPermission
from orlop.server.ports import client_host, ports_body, remove_ports_file, write_ports_file


def test_no_auth_admits_everyone_to_the_account() -> None:
    a = Authenticator(AuthOptions(), "$G")
    assert not a.required
    assert a.authenticate({}) == Identity("$G")


def test_user_password() -> None:
    a = Authenticator(AuthOptions(user="alice", password="pw"), "$G")
    assert a.required
    assert a.authenticate({"user": "alice", "pass": "pw"}) == Identity("$G", "alice")
    for bad in (
        {},
        {"user": "alice"},
        {"user": "alice", "pass": "PW"},
        {"user": 1, "pass": "pw"},
        {"user": "bob", "pass": "pw"},
        {"auth_token": "pw"},
    ):
        assert a.authenticate(bad) is None


def test_token() -> None:
    a = Authenticator(AuthOptions(token="t0k"), "ACC")
    assert a.authenticate({"auth_token": "t0k"}) == Identity("ACC")
    assert a.authenticate({"auth_token": "t0k "}) is None
    assert a.authenticate({"user": "t0k", "pass": "t0k"}) is None


def test_users_list_bcrypt_and_no_auth_user() -> None:
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    reader = Permissions(publish=SubjectPermission(allow=("_INBOX.>",)))
    users = [User("ann", hashed, reader), User("bob", "plain"), User("guest")]
    a = Authenticator(AuthOptions(users=users, no_auth_user="guest"), "$G")
    assert a.required
    # A bcrypt hash is never checked on the event loop: the fast path defers it.
    assert a.authenticate({"user": "ann", "pass": "s3cret"}) is None
    assert a.needs_slow_check({"user": "ann", "pass": "s3cret"})
    assert a.check_slow({"user": "ann", "pass": "s3cret"}) == Identity("$G", "ann", reader)
    assert a.authenticate({"user": "ann", "pass": "s3cret"}) == Identity("$G", "ann", reader)  # remembered
    assert a.check_slow({"user": "ann", "pass": "wrong"}) is None
    assert a.authenticate({"user": "bob", "pass": "plain"}) == Identity("$G", "bob")
    assert not a.needs_slow_check({"user": "bob", "pass": "nope"})
    assert a.authenticate({"user": "bob", "pass": "nope"}) is None
    assert a.authenticate({}) == Identity("$G", "guest")  # no credentials at all: no_auth_user
    assert a.authenticate({"user": "nobody", "pass": "x"}) is None
    broken = Authenticator(AuthOptions(users=[User("x", "$2a$10$notahash")]), "$G")
    assert broken.check_slow({"user": "x", "pass": "y"}) is None


def test_permission_rules_as_nats_server_applies_them() -> None:
    perms = ConnPermissions(
        Permissions(
            publish=SubjectPermission(allow=("orders.>", "_INBOX.>"), deny=("orders.secret",)),
            subscribe=SubjectPermission(
                allow=("orders.>", "jobs.* workers", "_INBOX.>"), deny=("orders.audit.>",)
            ),
        )
    )
    assert perms.may_publish("orders.new") and perms.may_publish("_INBOX.abc")
    assert not perms.may_publish("orders.secret") and not perms.may_publish("other")
    assert perms.may_subscribe("orders.*") and perms.may_subscribe("orders.>")
    assert not perms.may_subscribe("orders.audit.x") and not perms.may_subscribe("other.>")
    assert perms.may_subscribe("jobs.a", "workers") and not perms.may_subscribe("jobs.a", "others")
    assert not perms.may_subscribe("jobs.a")  # only as the queue the entry names
    # A wildcard subscription that overlaps a deny entry is filtered at delivery.
    assert perms.filters_delivery("orders.>") and not perms.filters_delivery("orders.new")
    assert perms.delivery_denied("orders.audit.1") and not perms.delivery_denied("orders.new")


def test_response_permission_grants_one_reply_for_a_while() -> None:
    perms = ConnPermissions(
        Permissions(publish=SubjectPermission(allow=()), response=ResponsePermission(max_msgs=2, expires=60))
    )
    assert not perms.may_publish("_INBOX.reply")
    perms.note_reply("_INBOX.reply")
    assert perms.may_publish("_INBOX.reply") and perms.may_publish("_INBOX.reply")
    assert not perms.may_publish("_INBOX.reply")  # max 2
    expired = ConnPermissions(
        Permissions(publish=SubjectPermission(allow=()), response=ResponsePermission(1, 0.01))
    )
    expired.note_reply("r")
    import time

    time.sleep(0.02)
    assert not expired.may_publish("r")


def test_ports_file_round_trip(tmp_path: Path) -> None:
    body = ports_body("nats://127.0.0.1:4222", "http://127.0.0.1:8222")
    path = write_ports_file(str(tmp_path), "orlop", body)
    assert path.name == f"orlop_{os.getpid()}.ports"
    assert path.read_text() == '{"nats":["nats://127.0.0.1:4222"],"monitoring":["http://127.0.0.1:8222"]}'
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    remove_ports_file(path)
    remove_ports_file(path)
    assert not path.exists()
    assert json.loads(json.dumps(ports_body("nats://h:1"))) == {"nats": ["nats://h:1"]}


def test_client_host() -> None:
    assert client_host("0.0.0.0") == "127.0.0.1"
    assert client_host("") == "127.0.0.1"
    assert client_host("127.0.0.1") == "127.0.0.1"
    assert client_host("::") == "[::1]"
    assert client_host("::1") == "[::1]"


def test_public_names_resolve() -> None:
    import importlib

    for name in (
        "orlop.server",
        "orlop.server.server",
        "orlop.server.account",
        "orlop.server.sublist",
        "orlop.server.connection",
        "orlop.server.embed",
        "orlop.server.auth",
        "orlop.server.ports",
    ):
        module = importlib.import_module(name)
        for public in module.__all__:
            assert getattr(module, public) is not None, f"{name}.{public}"

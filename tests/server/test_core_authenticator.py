"""Authenticator and ports-file helpers, without sockets."""

from __future__ import annotations

import json
import os
from pathlib import Path

from orlop.server.auth import Authenticator
from orlop.server.options import AuthOptions
from orlop.server.ports import client_host, ports_body, remove_ports_file, write_ports_file


def test_no_auth_admits_everyone_to_the_account() -> None:
    a = Authenticator(AuthOptions(), "$G")
    assert not a.required
    assert a.authenticate({}) == "$G"


def test_user_password() -> None:
    a = Authenticator(AuthOptions(user="alice", password="pw"), "$G")
    assert a.required
    assert a.authenticate({"user": "alice", "pass": "pw"}) == "$G"
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
    assert a.authenticate({"auth_token": "t0k"}) == "ACC"
    assert a.authenticate({"auth_token": "t0k "}) is None
    assert a.authenticate({"user": "t0k", "pass": "t0k"}) is None


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

"""The Node client under Orlop's security, side by side with nats-server.

Bucket roles (the permissions ``orlop object acl`` prints, from orlop.objects.roles): a
read-only user of Node's object store gets and lists but cannot put; and accounts: a Node
client of account B does not see account A's bucket, even under the same name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orlop.objects import connect
from orlop.objects.roles import role_permissions
from orlop.testing import ServerProcess


def _users_entry(user: str, role: str, bucket: str) -> str:
    perms = role_permissions(role, bucket)
    return f"{{ user: {user}, password: pw, permissions: {json.dumps(perms)} }}\n"


async def test_node_read_only_role(
    server: ServerProcess, server_factory: type[ServerProcess], run_node_steps: Any, tmp_path: Path
) -> None:
    conf = tmp_path / "roles.conf"
    conf.write_text(
        f"jetstream {{ store_dir: {str(tmp_path / 'js')!r} }}\nauthorization {{ users: [\n"
        + _users_entry("ro", "read-only", "docs")
        + _users_entry("admin", "admin", "*")
        + "] }\n"
    )
    srv = server_factory(kind=server.kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    async with connect(srv.url, user="admin", password="pw") as admin:
        docs = await admin.create_bucket("docs")
        await docs.put("a.txt", b"readable")
    (tmp_path / "b.txt").write_bytes(b"not allowed")
    steps = [
        {"op": "get", "bucket": "docs", "name": "a.txt"},
        {"op": "list", "bucket": "docs"},
        {"op": "put", "bucket": "docs", "name": "b.txt", "file": str(tmp_path / "b.txt")},
    ]
    got, listed, put = await run_node_steps(srv.url, steps, user="ro", password="pw")
    assert got["ok"] and got["value"]["size"] == 8, got
    assert listed["ok"] and [o["name"] for o in listed["value"]] == ["a.txt"], listed
    assert not put["ok"] and "Permissions Violation" in put["error"], put
    async with connect(srv.url, user="admin", password="pw") as admin:
        assert [i.name for i in await (await admin.bucket("docs")).list()] == ["a.txt"]  # nothing stored


async def test_node_sees_only_its_accounts_buckets(
    server: ServerProcess, server_factory: type[ServerProcess], run_node_steps: Any, tmp_path: Path
) -> None:
    conf = tmp_path / "accounts.conf"
    conf.write_text(
        f"jetstream {{ store_dir: {str(tmp_path / 'js')!r} }}\naccounts {{\n"
        "  A: { jetstream: enabled, users: [ { user: ann, password: pw } ] }\n"
        "  B: { jetstream: enabled, users: [ { user: bob, password: pw } ] }\n}\n"
    )
    srv = server_factory(kind=server.kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    async with connect(srv.url, user="ann", password="pw") as ann:
        await (await ann.create_bucket("docs")).put("secret.txt", b"A only")
    (tmp_path / "mine.txt").write_bytes(b"B's own")
    steps = [
        {"op": "get", "bucket": "docs", "name": "secret.txt"},
        {"op": "put", "bucket": "docs", "name": "mine.txt", "file": str(tmp_path / "mine.txt")},
        {"op": "list", "bucket": "docs"},
    ]
    # Node's views.os() creates the bucket when it is missing: bob gets B's own, empty "docs".
    got, put, listed = await run_node_steps(srv.url, steps, user="bob", password="pw")
    assert got["ok"] and got["value"] is None, got  # A's object is not there
    assert put["ok"], put
    assert [o["name"] for o in listed["value"]] == ["mine.txt"], listed
    async with connect(srv.url, user="ann", password="pw") as ann:
        docs = await ann.bucket("docs")
        assert [i.name for i in await docs.list()] == ["secret.txt"]
        assert await docs.get_bytes("secret.txt") == b"A only"


async def test_node_with_a_creds_file_in_operator_mode(
    server: ServerProcess, server_factory: type[ServerProcess], run_node_steps: Any, tmp_path: Path
) -> None:
    """A .creds user (operator mode, memory resolver): Node and orlop.objects share one bucket."""
    from tests.natsjwt import operator_setup

    conf_text, creds = operator_setup(str(tmp_path / "js"))
    conf = tmp_path / "operator.conf"
    conf.write_text(conf_text)
    creds_path = tmp_path / "user.creds"
    creds_path.write_bytes(creds)
    srv = server_factory(kind=server.kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    async with connect(srv.url, user_credentials=str(creds_path)) as client:
        bucket = await client.create_bucket("shared")
        await bucket.put("from-python.txt", b"written by orlop.objects")
    (tmp_path / "n.txt").write_bytes(b"written by Node")
    steps = [
        {"op": "get", "bucket": "shared", "name": "from-python.txt"},
        {"op": "put", "bucket": "shared", "name": "from-node.txt", "file": str(tmp_path / "n.txt")},
    ]
    got, put = await run_node_steps(srv.url, steps, creds=str(creds_path))
    assert got["ok"] and got["value"]["size"] == len(b"written by orlop.objects"), got
    assert put["ok"], put
    async with connect(srv.url, user_credentials=str(creds_path)) as client:
        assert await (await client.bucket("shared")).get_bytes("from-node.txt") == b"written by Node"


async def test_node_over_tls_with_a_client_certificate(
    server: ServerProcess, server_factory: type[ServerProcess], run_node_steps: Any, tmp_path: Path
) -> None:
    from orlop.testing import make_test_certificates

    certs = make_test_certificates(str(tmp_path))
    conf = tmp_path / "tls.conf"
    conf.write_text(
        f"jetstream {{ store_dir: {str(tmp_path / 'js')!r} }}\n"
        f"tls {{ cert_file: {certs['server_cert']!r}, key_file: {certs['server_key']!r},"
        f" ca_file: {certs['ca']!r}, verify: true }}\n"
    )
    srv = server_factory(kind=server.kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    (tmp_path / "t.txt").write_bytes(b"over TLS" * 1000)
    tls = {"ca": certs["ca"], "cert": certs["client_cert"], "key": certs["client_key"]}
    steps = [
        {"op": "put", "bucket": "secure", "name": "t.txt", "file": str(tmp_path / "t.txt")},
        {"op": "get", "bucket": "secure", "name": "t.txt"},
    ]
    put, got = await run_node_steps(srv.url, steps, tls=tls)
    assert put["ok"] and got["ok"] and got["value"]["size"] == 8000, (put, got)

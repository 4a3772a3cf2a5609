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

"""Bucket roles: the permissions ``orlop object acl`` prints, enforced by both servers.

A configuration is assembled from the command's own output (read-only and read-write on
bucket ``docs``, admin of every bucket), then each user does what its role allows and is
refused the rest: through the CLI, nats-py's object store and orlop.objects.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nats
import pytest
from clitools import Cli, error_line

from orlop.errors import PermissionDenied
from orlop.objects import connect
from orlop.testing import ServerProcess


def _acl(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "orlop", "object", "acl", *args], capture_output=True, timeout=60, check=True
    )
    return proc.stdout.decode()


def test_acl_prints_what_it_is_asked_for() -> None:
    doc = json.loads(_acl("docs", "--read-only", "--user", "ann", "--password", "pw", "--json"))
    allow = doc["permissions"]["publish"]["allow"]
    assert doc["user"] == "ann" and doc["password"].startswith("$2")  # bcrypt unless --plain
    assert "$JS.API.STREAM.INFO.OBJ_docs" in allow and not any(s.startswith("$O.") for s in allow)
    assert doc["permissions"]["subscribe"]["allow"] == ["_INBOX.>"]
    rw = json.loads(_acl("docs", "--read-write", "--plain", "--password", "pw", "--json"))
    assert rw["user"] == "docs-read-write" and rw["password"] == "pw"
    assert "$O.docs.>" in rw["permissions"]["publish"]["allow"]
    missing = subprocess.run([sys.executable, "-m", "orlop", "object", "acl", "docs"], capture_output=True)
    assert missing.returncode == 1 and b"--read-only" in missing.stderr


@pytest.fixture
def roles_server(server: ServerProcess, server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    entries = "".join(
        _acl(bucket, f"--{role}", "--user", user, "--password", "pw")
        for bucket, role, user in (
            ("docs", "read-only", "ro"),
            ("docs", "read-write", "rw"),
            ("*", "admin", "admin"),
        )
    )
    conf = tmp_path / "roles.conf"
    conf.write_text(
        f"jetstream {{ store_dir: {str(tmp_path / 'js')!r} }}\nauthorization {{ users: [\n{entries}] }}\n"
    )
    return server_factory(kind=server.kind, jetstream=False, extra_args=["-c", str(conf)]).start()


def test_roles_through_the_cli(roles_server: ServerProcess, tmp_path: Path) -> None:
    url = roles_server.url

    def as_user(user: str, *args: str) -> subprocess.CompletedProcess[bytes]:
        return Cli(url)("--user", user, "--password", "pw", "--timeout", "1", *args)

    def ok(user: str, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        proc = Cli(url)("--user", user, "--password", "pw", *args, stdin=stdin)
        assert proc.returncode == 0, (user, args, proc.stderr.decode())
        return proc

    ok("admin", "add", "docs")
    ok("admin", "add", "other")
    ok("admin", "put", "other", "--name", "x", stdin=b"not for docs users")
    ok("rw", "put", "docs", "--name", "a.txt", stdin=b"hello")
    # read-only: get, info, list, watch
    assert ok("ro", "get", "docs", "a.txt", "-O", "-").stdout == b"hello"
    assert ok("ro", "ls", "docs", "-n").stdout.decode().split() == ["a.txt"]
    assert json.loads(ok("ro", "info", "docs", "a.txt", "--json").stdout)["size"] == 5
    assert "PUT docs > a.txt" in ok("ro", "watch", "docs", "--count", "1").stdout.decode()
    # ... and nothing else
    for args in (("put", "docs", "--name", "b.txt"), ("rm", "docs", "a.txt", "-f"), ("seal", "docs", "-f")):
        denied = as_user("ro", *args)
        assert denied.returncode == 6 and "permission denied" in error_line(denied), (args, denied.stderr)
    for user in ("ro", "rw"):
        elsewhere = as_user(user, "get", "other", "x", "-O", "-")
        assert elsewhere.returncode == 6 and "permission denied" in error_line(elsewhere)
        assert as_user(user, "add", "mine").returncode == 6
    ok("rw", "rm", "docs", "a.txt", "-f")
    assert as_user("rw", "seal", "docs", "-f").returncode == 6  # buckets are the admin's
    ok("admin", "seal", "docs", "-f")


async def test_roles_with_nats_py_and_orlop_objects(roles_server: ServerProcess) -> None:
    async with connect(roles_server.url, user="admin", password="pw") as admin:
        await admin.create_bucket("other")
        bucket = await admin.create_bucket("docs")
        await bucket.put("shared.bin", b"x" * 300_000)
    nc = await nats.connect(roles_server.url, user="ro", password="pw")
    try:
        store = await nc.jetstream(timeout=5).object_store("docs")
        assert (await store.get("shared.bin")).data == b"x" * 300_000
    finally:
        await nc.close()
    async with connect(roles_server.url, user="ro", password="pw", request_timeout=1) as ro:
        docs = await ro.bucket("docs")
        assert await docs.get_bytes("shared.bin") == b"x" * 300_000
        assert [i.name for i in await docs.list()] == ["shared.bin"]
        # The server's refusal ends the wait at once, as a precise error.
        with pytest.raises(PermissionDenied, match="permission denied"):
            await docs.put("new.bin", b"refused")
        with pytest.raises(PermissionDenied):
            await ro.bucket("other")
        with pytest.raises(PermissionDenied):
            await docs.delete("shared.bin")
        assert await docs.get_bytes("shared.bin") == b"x" * 300_000  # nothing was changed
    async with connect(roles_server.url, user="rw", password="pw") as rw:
        docs = await rw.bucket("docs")
        await docs.put("new.bin", b"allowed")
        assert await docs.get_bytes("new.bin") == b"allowed"

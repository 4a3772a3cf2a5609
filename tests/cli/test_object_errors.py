"""The exit codes and one-line messages the README promises, failure by failure.

0 ok, 1 usage, 2 not found, 3 exists / revision mismatch, 4 too large / storage limit,
5 no server / timeout, 6 bad credentials / permission denied, 7 digest mismatch. Each is
provoked for real: a server with users, a bucket with limits, an object whose stored
digest does not match its bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import nats
from clitools import Cli, error_line

from orlop.objects.meta import chunk_subject, meta_subject
from orlop.testing import ServerProcess


def test_not_found_exists_and_revision_mismatch(cli: Cli) -> None:
    no_bucket = cli("ls", "nope")
    assert no_bucket.returncode == 2 and "bucket 'nope' not found" in error_line(no_bucket)
    cli.ok("add", "b")
    assert "exists" in error_line(exists := cli("add", "b")) and exists.returncode == 3
    no_object = cli("info", "b", "missing")
    assert no_object.returncode == 2 and "not found" in error_line(no_object)
    stored = json.loads(cli.ok("put", "b", "--name", "n", "--json", stdin=b"v1").stdout)
    stale = cli("put", "b", "--name", "n", "--if-revision", str(stored["revision"] + 100), stdin=b"v2")
    assert stale.returncode == 3 and "revision" in error_line(stale)
    cli.ok("put", "b", "--name", "n", "--if-revision", str(stored["revision"]), stdin=b"v2")
    assert cli.ok("get", "b", "n", "-O", "-").stdout == b"v2"


def test_too_large_and_storage_limit(cli: Cli, tmp_path: Path) -> None:
    cli.ok("add", "small", "--max-object-size", "1KiB", "--max-bucket-size", "64KiB")
    (tmp_path / "big").write_bytes(b"x" * 2000)
    too_big = cli("put", "small", str(tmp_path / "big"))
    assert too_big.returncode == 4 and "max_object_size" in error_line(too_big)
    cli.ok("edit", "small", "--max-object-size", "1MiB")
    (tmp_path / "bigger").write_bytes(b"y" * 100_000)
    full = cli("put", "small", str(tmp_path / "bigger"))
    assert full.returncode == 4, full.stderr
    error_line(full)
    assert cli.ok("ls", "small").stdout.decode().strip() == "No entries found"  # nothing half-written


def test_no_server_names_the_url_and_how_to_start_one(cli: Cli) -> None:
    nobody = cli.at("nats://127.0.0.1:1", "ls")
    assert nobody.returncode == 5
    line = error_line(nobody)
    assert "nats://127.0.0.1:1" in line and "orlop serve" in line


def test_bad_credentials(server_factory: type[ServerProcess], server: ServerProcess) -> None:
    guarded = server_factory(kind=server.kind, extra_args=["--user", "ann", "--pass", "s3cret"]).start()
    base = guarded.url
    wrong = Cli(base)("--user", "ann", "--password", "nope", "ls")
    assert wrong.returncode == 6, wrong.stderr
    assert "refused the credentials" in error_line(wrong)
    url = base.replace("nats://", "nats://ann:nope@")
    assert Cli(url)("ls").returncode == 6
    assert Cli(base)("ls").returncode == 6  # no credentials at all
    good = Cli(base)("--user", "ann", "--password", "s3cret", "ls", "-n")
    assert good.returncode == 0, good.stderr


def test_permission_denied(
    server: ServerProcess, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    """A user who may not create streams: exit 6 and the server's own words."""
    conf = tmp_path / "users.conf"
    conf.write_text(
        "authorization { users: [\n"
        "  {user: admin, password: pw}\n"
        '  {user: reader, password: pw, permissions: {publish: {deny: ["$JS.API.STREAM.CREATE.>"]}}}\n'
        "] }\n"
    )
    srv = server_factory(kind=server.kind, extra_args=["-c", str(conf)]).start()
    cli = Cli(srv.url)
    denied = cli.at(None, "-s", srv.url, "--user", "reader", "--password", "pw", "--timeout", "1", "add", "x")
    assert denied.returncode == 6, denied.stderr
    line = error_line(denied)
    assert line.startswith("orlop: permission denied") and "$JS.API.STREAM.CREATE.OBJ_x" in line
    admin = cli.at(None, "-s", srv.url, "--user", "admin", "--password", "pw", "add", "x", "--json")
    assert admin.returncode == 0, admin.stderr


async def _corrupt_object(url: str, bucket: str, name: str) -> None:
    """An object whose meta claims a digest its stored bytes do not have (as a damaged disk would)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        nuid = "CORRUPTCORRUPTCORRUPT1"
        await js.publish(chunk_subject(bucket, nuid), b"these are not the bytes")
        wrong = base64.urlsafe_b64encode(hashlib.sha256(b"the real bytes").digest()).decode()
        meta = {
            "name": name,
            "bucket": bucket,
            "nuid": nuid,
            "size": 23,
            "chunks": 1,
            "mtime": "2026-12-03T00:00:00Z",
            "digest": f"SHA-256={wrong}",
        }
        await js.publish(
            meta_subject(bucket, name), json.dumps(meta).encode(), headers={"Nats-Rollup": "sub"}
        )
    finally:
        await nc.close()


async def test_digest_mismatch_and_the_cause_chain(cli: Cli, server: ServerProcess, tmp_path: Path) -> None:
    cli.ok("add", "damaged")
    await _corrupt_object(server.url, "damaged", "bad.bin")
    target = tmp_path / "bad.bin"
    bad = cli("get", "damaged", "bad.bin", "-O", str(target))
    assert bad.returncode == 7 and "digest" in error_line(bad)
    assert not target.exists() and list(tmp_path.iterdir()) == []  # no partial file left
    assert cli("get", "damaged", "bad.bin", "-O", "-").returncode == 7
    verbose = cli("get", "damaged", "bad.bin", "-O", str(target), "-v")
    assert verbose.returncode == 7
    lines = verbose.stderr.decode().splitlines()
    assert lines[0].startswith("orlop: ") and "Traceback" not in verbose.stderr.decode()
    assert lines[1:] and all(line.startswith("  caused by ") for line in lines[1:]), lines
    assert any("DigestMismatch" in line for line in lines[1:]), lines

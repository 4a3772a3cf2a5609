"""``orlop object``, run as a user runs it: a subprocess against a real server of each kind.

Checks what a person sees: the bytes round-trip, natscli's info views, tables and their
``--json`` documents, prompts refused without a terminal, one-line errors (never a
traceback) and the documented exit codes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from clitools import Cli, error_line


def test_bucket_and_object_round_trip(cli: Cli, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    (tmp_path / "photo.bin").write_bytes(data)

    added = json.loads(cli.ok("add", "docs", "--description", "team docs", "--json").stdout)
    assert (added["bucket"], added["description"], added["history"]) == ("docs", "team docs", 1)

    stored = json.loads(cli.ok("put", "docs", str(tmp_path / "photo.bin"), "--json").stdout)
    assert (stored["name"], stored["size"], stored["chunks"]) == ("photo.bin", 300_000, 3)

    again = cli("put", "docs", str(tmp_path / "photo.bin"))
    assert again.returncode == 3
    assert "exists" in error_line(again) and "--force" in again.stderr.decode()
    cli.ok("put", "docs", str(tmp_path / "photo.bin"), "-f")

    assert [n["name"] for n in json.loads(cli.ok("ls", "docs", "--json").stdout)] == ["photo.bin"]
    buckets = json.loads(cli.ok("ls", "--json").stdout)
    assert [(b["bucket"], b["description"]) for b in buckets] == [("docs", "team docs")]
    assert buckets[0]["size"] > 300_000 and buckets[0]["created"] and buckets[0]["last_update"]
    assert cli.ok("ls", "docs", "-n").stdout.decode().split() == ["photo.bin"]
    assert cli.ok("ls", "-n").stdout.decode().split() == ["docs"]

    got = cli.ok("get", "docs", "photo.bin", "-O", str(tmp_path / "copy.bin"))
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert got.stderr.decode().startswith("Wrote: 293.0 KiB to ")
    # natscli's default: the name's basename in the working folder; an existing file needs -f.
    (tmp_path / "out").mkdir()
    cli.ok("get", "docs", "photo.bin", cwd=tmp_path / "out")
    assert (tmp_path / "out" / "photo.bin").read_bytes() == data
    refused = cli("get", "docs", "photo.bin", cwd=tmp_path / "out")
    assert refused.returncode == 1 and "exists" in error_line(refused)
    cli.ok("get", "docs", "photo.bin", "-f", cwd=tmp_path / "out")

    no_tty = cli("rm", "docs", "photo.bin")  # no terminal to ask on, no -f
    assert no_tty.returncode == 1 and "-f" in error_line(no_tty)
    assert "Removed docs > photo.bin" in cli.ok("rm", "docs", "photo.bin", "-f").stderr.decode()
    gone = cli("get", "docs", "photo.bin", "-O", str(tmp_path / "again.bin"))
    assert gone.returncode == 2 and "not found" in error_line(gone)
    assert not (tmp_path / "again.bin").exists()
    assert cli.ok("ls", "docs").stdout.decode().strip() == "No entries found"
    deleted = json.loads(cli.ok("ls", "docs", "--deleted", "--json").stdout)
    assert [(d["name"], d["deleted"]) for d in deleted] == [("photo.bin", True)]

    assert cli("rm", "docs").returncode == 1  # the whole bucket: -f or a terminal
    cli.ok("rm", "docs", "-f")
    assert cli.ok("ls").stdout.decode().strip() == "No Object Store buckets found"


def test_info_views_follow_natscli(cli: Cli, tmp_path: Path) -> None:
    data = b"hello object store\n" * 1000
    (tmp_path / "notes.txt").write_bytes(data)
    cli.ok(
        "add",
        "views",
        "--description",
        "for views",
        "--metadata",
        "team=ops",
        "--ttl",
        "1h",
        "--max-bucket-size",
        "1GB",
        "--history",
        "3",
    )
    cli.ok(
        "put",
        "views",
        str(tmp_path / "notes.txt"),
        "--description",
        "my notes",
        "-H",
        "Content-Type:text/plain",
        "--metadata",
        "owner=ann",
    )

    bucket = cli.ok("info", "views").stdout.decode()
    assert bucket.startswith("Information for Object Store Bucket views created ")
    for line in (
        "Bucket Name: views",
        "Description: for views",
        "Replicas: 1",
        "TTL: 1h",
        "Sealed: False",
        "Maximum Bucket Size: 1.0 GiB",
        "Storage: file",
        "Backing Store Kind: JetStream",
        "JetStream Stream: OBJ_views",
        "Metadata: team: ops",
        "History: 3 revisions",
        "Objects: 1",
    ):
        assert line in bucket, (line, bucket)
    assert "_nats" not in bucket and "orlop.history" not in bucket

    obj = cli.ok("info", "views", "notes.txt").stdout.decode()
    hex_digest = hashlib.sha256(data).hexdigest()
    assert obj.startswith("Object information for views > notes.txt")
    for line in (
        "Description: my notes",
        f"Size: 18.6 KiB ({len(data)} bytes)",
        "Chunks: 1",
        f"Digest: SHA-256 {hex_digest}",
        "Headers: Content-Type: text/plain",
        "Metadata: owner: ann",
        "Revision: ",
        "NUID: ",
        "Modification Time: ",
        "Created: ",
    ):
        assert line in obj, (line, obj)
    doc = json.loads(cli.ok("info", "views", "notes.txt", "--json").stdout)
    expected = "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()
    assert doc["digest"] == expected and doc["description"] == "my notes"
    for key in ("nuid", "revision", "created", "modified", "size", "chunks", "deleted"):
        assert key in doc


def test_stdin_and_stdout(cli: Cli) -> None:
    cli.ok("add", "pipes")
    no_name = cli("put", "pipes", stdin=b"x")
    assert no_name.returncode == 1 and b"--name" in no_name.stderr
    cli.ok("put", "pipes", "--name", "notes.txt", stdin=b"hello, world\n")
    assert cli.ok("get", "pipes", "notes.txt", "-O", "-").stdout == b"hello, world\n"
    replace = cli("put", "pipes", "--name", "notes.txt", stdin=b"other")  # cannot ask on a pipe
    assert replace.returncode == 3
    error_line(replace)


def test_listing_sorts_filters_and_shows_columns(cli: Cli) -> None:
    cli.ok("add", "sorted")
    for name, size in (("b.txt", 30), ("a.txt", 200), ("c/d.txt", 10)):
        cli.ok("put", "sorted", "--name", name, stdin=b"x" * size)
    assert cli.ok("ls", "sorted", "-n").stdout.decode().split() == ["a.txt", "b.txt", "c/d.txt"]
    by_size = cli.ok("ls", "sorted", "--sort", "size", "--json").stdout
    assert [o["name"] for o in json.loads(by_size)] == ["c/d.txt", "b.txt", "a.txt"]
    by_time = cli.ok("ls", "sorted", "--sort", "time", "--json").stdout
    assert [o["name"] for o in json.loads(by_time)] == ["b.txt", "a.txt", "c/d.txt"]
    assert cli.ok("ls", "sorted", "--filter", "c/*", "-n").stdout.decode().split() == ["c/d.txt"]
    wide = cli.ok("ls", "sorted", "-l").stdout.decode().splitlines()
    assert len(wide) == 3
    name, size, _time, chunks, digest, _state = wide[0].split("\t")
    assert (name, size, chunks) == ("a.txt", "200 B", "1") and digest.startswith("SHA-256 ")


def test_versions_restore_and_seal(cli: Cli) -> None:
    cli.ok("add", "hist", "--history", "3")
    for text in (b"one", b"two"):
        cli.ok("put", "hist", "--name", "n", "-f", stdin=text)
    revs = json.loads(cli.ok("versions", "hist", "n", "--json").stdout)
    assert [r["size"] for r in revs] == [3, 3] and revs[0]["revision"] < revs[1]["revision"]
    table = cli.ok("versions", "hist", "n").stdout.decode().splitlines()
    assert [line.split("\t")[0] for line in table] == [str(r["revision"]) for r in revs]
    cli.ok("restore", "hist", "n", str(revs[0]["revision"]), "--json")
    assert cli.ok("get", "hist", "n", "-O", "-").stdout == b"one"
    assert cli("seal", "hist").returncode == 1  # no terminal to ask on, no -f
    assert "hist has been sealed" in cli.ok("seal", "hist", "-f").stderr.decode()
    assert "Sealed: True" in cli.ok("info", "hist").stdout.decode()
    refused = cli("put", "hist", "--name", "m", stdin=b"x")
    assert refused.returncode == 1
    assert "sealed" in error_line(refused)

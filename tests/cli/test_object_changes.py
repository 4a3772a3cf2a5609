"""``orlop object`` beyond natscli: bucket and object edits, links, copies, moves, ranges, watch.

Each on both servers, as subprocesses; the results are read back through the CLI's
own ``--json`` output, which carries the library's ``to_dict()`` field names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from clitools import Cli, error_line

from orlop.testing import ServerProcess


def test_add_flags_and_edit_changes_only_what_is_given(cli: Cli) -> None:
    made = json.loads(
        cli.ok(
            "add",
            "conf",
            "--description",
            "first",
            "--ttl",
            "2h",
            "--replicas",
            "1",
            "--max-bucket-size",
            "64MiB",
            "--max-object-size",
            "1MiB",
            "--history",
            "4",
            "--metadata",
            "team=a",
            "--compress",
            "--storage",
            "memory",
            "--json",
        ).stdout
    )
    assert (made["description"], made["ttl"], made["replicas"], made["max_bytes"]) == (
        "first",
        7200,
        1,
        64 << 20,
    )
    assert (made["max_object_size"], made["history"], made["compression"], made["storage"]) == (
        1 << 20,
        4,
        "s2",
        "memory",
    )
    assert made["metadata"].get("team") == "a"

    edited = json.loads(cli.ok("edit", "conf", "--description", "second", "--ttl", "0", "--json").stdout)
    assert (edited["description"], edited["ttl"]) == ("second", 0)
    # Everything not given keeps its value.
    assert (edited["max_bytes"], edited["max_object_size"], edited["history"]) == (64 << 20, 1 << 20, 4)
    assert (edited["compression"], edited["storage"], edited["metadata"].get("team")) == ("s2", "memory", "a")
    again = json.loads(
        cli.ok("edit", "conf", "--compression", "none", "--metadata", "team=b", "--json").stdout
    )
    assert (again["compression"], again["metadata"].get("team"), again["description"]) == (
        "none",
        "b",
        "second",
    )

    placed = cli.ok("add", "placed", "--cluster", "east", "--tags", "ssd", "--tags", "fast").stdout.decode()
    assert "Placement Cluster: east" in placed and "Placement Tags: ssd, fast" in placed
    moved = cli.ok("edit", "placed", "--cluster", "west").stdout.decode()
    assert "Placement Cluster: west" in moved and "Placement Tags: ssd, fast" in moved  # tags kept

    nothing = cli("edit", "conf")
    assert nothing.returncode == 1 and b"nothing to change" in nothing.stderr
    assert cli("edit", "conf", "--storage", "file").returncode == 1  # no such flag on edit, as natscli
    missing = cli("edit", "nope", "--description", "x")
    assert missing.returncode == 2 and "not found" in error_line(missing)


def test_edit_object_metadata_and_rename(cli: Cli) -> None:
    cli.ok("add", "meta")
    first = json.loads(cli.ok("put", "meta", "--name", "a.txt", "--json", stdin=b"data").stdout)
    changed = json.loads(
        cli.ok(
            "edit",
            "meta",
            "a.txt",
            "--description",
            "about a",
            "-H",
            "Content-Type:text/plain",
            "--metadata",
            "k=v",
            "--json",
        ).stdout
    )
    assert (changed["description"], changed["metadata"]) == ("about a", {"k": "v"})
    assert changed["headers"]["Content-Type"] == ["text/plain"]
    assert changed["nuid"] == first["nuid"] and changed["digest"] == first["digest"]  # data untouched
    renamed = json.loads(cli.ok("edit", "meta", "a.txt", "--rename", "b.txt", "--json").stdout)
    assert renamed["name"] == "b.txt" and renamed["description"] == "about a"
    assert cli.ok("get", "meta", "b.txt", "-O", "-").stdout == b"data"
    assert cli("info", "meta", "a.txt").returncode == 2
    bucket_flag = cli("edit", "meta", "b.txt", "--history", "3")
    assert bucket_flag.returncode == 1 and b"bucket setting" in bucket_flag.stderr
    assert cli("edit", "meta", "missing.txt", "--description", "x").returncode == 2


def test_links_to_objects_and_buckets(cli: Cli) -> None:
    cli.ok("add", "src")
    cli.ok("add", "dst")
    cli.ok("put", "src", "--name", "data.bin", stdin=b"linked bytes")
    here = json.loads(cli.ok("link", "dst", "alias", "--to", "data.bin", "--bucket", "src", "--json").stdout)
    assert here["options"]["link"] == {"bucket": "src", "name": "data.bin"}
    assert cli.ok("get", "dst", "alias", "-O", "-").stdout == b"linked bytes"
    assert "Link To: src > data.bin" in cli.ok("info", "dst", "alias").stdout.decode()
    cli.ok("link", "src", "same-bucket", "--to", "data.bin")
    assert cli.ok("get", "src", "same-bucket", "-O", "-").stdout == b"linked bytes"
    whole = json.loads(cli.ok("link", "dst", "all-of-src", "--to-bucket", "src", "--json").stdout)
    assert whole["options"]["link"] == {"bucket": "src"}
    unreadable = cli("get", "dst", "all-of-src", "-O", "-")
    assert unreadable.returncode == 1 and "bucket" in error_line(unreadable)
    assert cli("link", "dst", "x", "--to", "nothing").returncode == 2
    assert cli("link", "dst", "x", "--to-bucket", "nope").returncode == 2
    assert cli("link", "dst", "x").returncode == 1


def test_copy_and_move_within_and_between_buckets(cli: Cli, tmp_path: Path) -> None:
    data = os.urandom(400_000)
    (tmp_path / "big.bin").write_bytes(data)
    cli.ok("add", "one")
    cli.ok("add", "two")
    cli.ok("put", "one", str(tmp_path / "big.bin"), "--description", "original", "-H", "X-Tag:t")

    copy = json.loads(cli.ok("cp", "one", "big.bin", "copy.bin", "--json").stdout)
    assert (copy["name"], copy["size"], copy["description"]) == ("copy.bin", 400_000, "original")
    assert copy["headers"]["X-Tag"] == ["t"]
    assert cli.ok("get", "one", "copy.bin", "-O", "-").stdout == data
    clash = cli("cp", "one", "big.bin", "copy.bin")
    assert clash.returncode == 3 and "exists" in error_line(clash)
    cli.ok("cp", "one", "big.bin", "copy.bin", "-f")
    across = json.loads(cli.ok("cp", "one", "big.bin", "--to-bucket", "two", "--json").stdout)
    assert (across["bucket"], across["name"]) == ("two", "big.bin")
    assert cli.ok("get", "two", "big.bin", "-O", "-").stdout == data

    cli.ok("mv", "one", "copy.bin", "moved.bin")
    assert cli.ok("ls", "one", "-n").stdout.decode().split() == ["big.bin", "moved.bin"]
    cli.ok("mv", "one", "moved.bin", "--to-bucket", "two", "elsewhere.bin")
    assert cli.ok("ls", "one", "-n").stdout.decode().split() == ["big.bin"]
    assert cli.ok("get", "two", "elsewhere.bin", "-O", "-").stdout == data
    onto = cli("mv", "two", "elsewhere.bin", "big.bin")
    assert onto.returncode == 3
    error_line(onto)
    cli.ok("mv", "two", "elsewhere.bin", "big.bin", "-f")
    assert cli.ok("ls", "two", "-n").stdout.decode().split() == ["big.bin"]
    assert cli("cp", "one", "missing", "x").returncode == 2


def test_get_range(cli: Cli, tmp_path: Path) -> None:
    data = os.urandom(1_000_000)
    (tmp_path / "r.bin").write_bytes(data)
    cli.ok("add", "ranges")
    cli.ok("put", "ranges", str(tmp_path / "r.bin"))
    assert (
        cli.ok("get", "ranges", "r.bin", "--range", "131000:131100", "-O", "-").stdout == data[131000:131100]
    )
    assert cli.ok("get", "ranges", "r.bin", "--range", ":10", "-O", "-").stdout == data[:10]
    cli.ok("get", "ranges", "r.bin", "--range", "999990:", "-O", str(tmp_path / "tail.bin"))
    assert (tmp_path / "tail.bin").read_bytes() == data[999990:]
    past_end = cli.ok("get", "ranges", "r.bin", "--range", "999999:2000000", "-O", "-")
    assert past_end.stdout == data[999999:]
    assert cli("get", "ranges", "r.bin", "--range", "10-20", "-O", "-").returncode == 1  # a usage error


def test_watch_prints_natscli_lines_and_json_lines(server: ServerProcess, cli: Cli) -> None:
    cli.ok("add", "watched")
    cli.ok("put", "watched", "--name", "before.txt", stdin=b"x" * 10)
    cmd = [sys.executable, "-m", "orlop", "object", "-s", server.url, "watch", "watched", "--count", "3"]
    plain = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    as_json = subprocess.Popen(
        [*cmd[:-2], "--count", "2", "--no-history", "--ignore-deletes", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # The history line arrives first: once it is printed the watch is running.
        first = plain.stdout.readline().decode() if plain.stdout else ""
        assert "] PUT watched > before.txt: 10 bytes in 1 chunks" in first, first
        first_json = json.loads(as_json.stdout.readline()) if as_json.stdout else {}
        assert first_json["name"] == "before.txt"
        cli.ok("put", "watched", "--name", "after.txt", stdin=b"y" * 300)
        cli.ok("rm", "watched", "after.txt", "-f")
        out, err = plain.communicate(timeout=30)
        lines = out.decode().splitlines()
        assert "PUT watched > after.txt: 300 bytes in 1 chunks" in lines[0], lines
        assert lines[1].startswith("[") and lines[1].endswith("] DEL watched > after.txt"), lines
        assert plain.returncode == 0, err
        jout, jerr = as_json.communicate(timeout=30)
        (second,) = [json.loads(line) for line in jout.decode().splitlines()]
        assert (second["name"], second["size"], second["deleted"]) == ("after.txt", 300, False)
        assert as_json.returncode == 0, jerr
    finally:
        for p in (plain, as_json):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_what_the_review_found(cli: Cli, tmp_path: Path) -> None:
    """mv -f never deletes first; -O may name a folder; flags that would be ignored are refused."""
    cli.ok("add", "rv")
    cli.ok("put", "rv", "--name", "important.txt", stdin=b"keep me")
    typo = cli("mv", "rv", "typo.txt", "important.txt", "-f")
    assert typo.returncode == 2 and "not found" in error_line(typo)
    assert cli.ok("get", "rv", "important.txt", "-O", "-").stdout == b"keep me"  # untouched
    cli.ok("put", "rv", "--name", "draft.txt", stdin=b"replacement")
    cli.ok("mv", "rv", "draft.txt", "important.txt", "-f")
    assert cli.ok("get", "rv", "important.txt", "-O", "-").stdout == b"replacement"
    assert cli.ok("ls", "rv", "-n").stdout.decode().split() == ["important.txt"]

    folder = tmp_path / "into"
    folder.mkdir()
    cli.ok("get", "rv", "important.txt", "-O", str(folder))
    assert (folder / "important.txt").read_bytes() == b"replacement"
    assert sorted(p.name for p in folder.iterdir()) == ["important.txt"]  # no temp file left

    for args in (
        ("rm", "rv", "--purge", "-f"),
        ("put", "rv", str(folder / "important.txt"), "--skip-same"),
        ("get", "rv", "important.txt", "--skip-same", "-O", "-"),
        ("--tls-key", str(folder / "important.txt"), "ls"),
    ):
        refused = cli(*args)
        assert refused.returncode == 1, args
    assert json.loads(cli.ok("ls", "-n", "--json").stdout) == ["rv"]
    edited = json.loads(cli.ok("edit", "rv", "--ttl", "30s", "--json").stdout)
    assert edited["ttl"] == 30

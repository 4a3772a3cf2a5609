"""``orlop object``, run as a user runs it: a subprocess against a real server of each kind.

Checks what a person sees: the bytes round-trip, ``--json`` documents, one-line errors
(never a traceback) and the documented exit codes (2 not found, 3 exists, 5 no server,
1 usage).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from orlop.testing import ServerProcess


def orlop_object(
    url: str, *args: str, stdin: bytes = b"", cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "orlop", "object", "-s", url, *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        cwd=cwd,
    )


def one_line_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    err = proc.stderr.decode()
    assert err.startswith("orlop: ") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_bucket_and_object_round_trip(server: ServerProcess, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    (tmp_path / "photo.bin").write_bytes(data)
    url = server.url

    added = orlop_object(url, "add", "docs", "--description", "team docs", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["bucket"] == "docs"
    assert json.loads(added.stdout)["description"] == "team docs"

    put = orlop_object(url, "put", "docs", str(tmp_path / "photo.bin"), "--json")
    assert put.returncode == 0, put.stderr
    stored = json.loads(put.stdout)
    assert (stored["name"], stored["size"], stored["chunks"]) == ("photo.bin", 300_000, 3)

    again = orlop_object(url, "put", "docs", str(tmp_path / "photo.bin"))
    assert again.returncode == 3
    assert "exists" in one_line_error(again)
    assert orlop_object(url, "put", "docs", str(tmp_path / "photo.bin"), "-f").returncode == 0

    names = json.loads(orlop_object(url, "ls", "docs", "--json").stdout)
    assert [n["name"] for n in names] == ["photo.bin"]
    assert "docs" in json.loads(orlop_object(url, "ls", "--json").stdout)
    assert orlop_object(url, "ls", "docs", "-n").stdout.decode().split() == ["photo.bin"]
    info = json.loads(orlop_object(url, "info", "docs", "photo.bin", "--json").stdout)
    assert info["digest"].startswith("SHA-256=") and info["size"] == 300_000

    got = orlop_object(url, "get", "docs", "photo.bin", "-O", str(tmp_path / "copy.bin"))
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert got.stderr.decode().startswith("Wrote: 293.0 KiB to ")

    refused = orlop_object(url, "rm", "docs", "photo.bin")  # no terminal to ask on, no -f
    assert refused.returncode == 1
    assert orlop_object(url, "rm", "docs", "photo.bin", "-f").returncode == 0
    gone = orlop_object(url, "get", "docs", "photo.bin", "-O", str(tmp_path / "again.bin"))
    assert gone.returncode == 2
    assert "not found" in one_line_error(gone)
    assert not (tmp_path / "again.bin").exists()


def test_stdin_and_stdout(server: ServerProcess) -> None:
    url = server.url
    assert orlop_object(url, "add", "pipes").returncode == 0
    no_name = orlop_object(url, "put", "pipes", stdin=b"x")
    assert no_name.returncode == 1 and b"--name" in no_name.stderr
    assert orlop_object(url, "put", "pipes", "--name", "notes.txt", stdin=b"hello, world\n").returncode == 0
    out = orlop_object(url, "get", "pipes", "notes.txt", "-O", "-")
    assert (out.returncode, out.stdout) == (0, b"hello, world\n")


def test_missing_things_and_no_server(server: ServerProcess) -> None:
    url = server.url
    no_bucket = orlop_object(url, "ls", "nope")
    assert no_bucket.returncode == 2
    assert "not found" in one_line_error(no_bucket)
    assert orlop_object(url, "add", "b").returncode == 0
    no_object = orlop_object(url, "info", "b", "missing")
    assert no_object.returncode == 2
    one_line_error(no_object)
    nobody = orlop_object("nats://127.0.0.1:1", "ls")
    assert nobody.returncode == 5
    assert "nats://127.0.0.1:1" in one_line_error(nobody) and "orlop serve" in nobody.stderr.decode()


def test_versions_restore_and_seal(server: ServerProcess, tmp_path: Path) -> None:
    url = server.url
    assert orlop_object(url, "add", "hist", "--history", "3").returncode == 0
    for text in (b"one", b"two"):
        assert orlop_object(url, "put", "hist", "--name", "n", "-f", stdin=text).returncode == 0
    revs = json.loads(orlop_object(url, "versions", "hist", "n", "--json").stdout)
    assert [r["size"] for r in revs] == [3, 3] and revs[0]["revision"] < revs[1]["revision"]
    back = orlop_object(url, "restore", "hist", "n", str(revs[0]["revision"]), "--json")
    assert back.returncode == 0, back.stderr
    assert orlop_object(url, "get", "hist", "n", "-O", "-").stdout == b"one"
    assert orlop_object(url, "seal", "hist").returncode == 1  # no terminal to ask on, no -f
    assert orlop_object(url, "seal", "hist", "-f").returncode == 0
    refused = orlop_object(url, "put", "hist", "--name", "m", stdin=b"x")
    assert refused.returncode == 1
    assert "sealed" in one_line_error(refused)

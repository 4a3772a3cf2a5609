"""``orlop object put/get/rekey`` with client-side encryption: key files, passphrases, exit code 8."""

from __future__ import annotations

import json
import os
from pathlib import Path

from clitools import Cli, error_line


def test_put_get_key_file_and_passphrase(cli: Cli, tmp_path: Path) -> None:
    key, other = tmp_path / "k", tmp_path / "other"
    key.write_bytes(os.urandom(32))
    other.write_text(os.urandom(32).hex())
    data = os.urandom(300_000)
    (tmp_path / "f.bin").write_bytes(data)
    cli.ok("add", "vault")
    put = cli.ok("put", "vault", str(tmp_path / "f.bin"), "--encrypt-key-file", str(key), "--json")
    info = json.loads(put.stdout)
    assert info["encryption"] == "aes-256-gcm" and info["key_id"] == "default"
    assert info["original_size"] == len(data) and info["size"] > len(data)
    out = tmp_path / "back.bin"
    cli.ok("get", "vault", "f.bin", "-O", str(out), "--encrypt-key-file", str(key))
    assert out.read_bytes() == data
    part = cli.ok("get", "vault", "f.bin", "-O", "-", "--range", "1000:2000", "--encrypt-key-file", str(key))
    assert part.stdout == data[1000:2000]

    for args in ([], ["--encrypt-key-file", str(other)]):  # no key, wrong key
        proc = cli("get", "vault", "f.bin", "-O", str(tmp_path / "x"), *args)
        assert proc.returncode == 8, proc.stderr
        assert "decrypt" in error_line(proc) or "key" in error_line(proc)
        assert not (tmp_path / "x").exists()

    env = {"VAULT_PASS": "correct horse"}
    proc = cli("put", "vault", "-", "--name", "p", "--passphrase-env", "VAULT_PASS", stdin=b"by pw", env=env)
    assert proc.returncode == 0, proc.stderr
    got = cli("get", "vault", "p", "-O", "-", "--passphrase-env", "VAULT_PASS", env=env)
    assert got.returncode == 0 and got.stdout == b"by pw"
    bad = cli("get", "vault", "p", "-O", "-", "--passphrase-env", "VAULT_PASS", env={"VAULT_PASS": "nope"})
    assert bad.returncode == 8
    unset = cli("get", "vault", "p", "-O", "-", "--passphrase-env", "NOT_SET_ANYWHERE")
    assert unset.returncode == 1 and "NOT_SET_ANYWHERE" in error_line(unset)
    both = cli("get", "vault", "p", "--passphrase-env", "A", "--encrypt-key-file", str(key))
    assert both.returncode != 0


def test_rekey(cli: Cli, tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_bytes(os.urandom(32))
    new.write_bytes(os.urandom(32))
    cli.ok("add", "vault")
    proc = cli("put", "vault", "-", "--name", "r", "--encrypt-key-file", str(old), stdin=b"rotate me")
    assert proc.returncode == 0, proc.stderr
    rekey = cli.ok(
        "rekey",
        "vault",
        "r",
        "--encrypt-key-file",
        str(old),
        "--new-key-file",
        str(new),
        "--new-key-id",
        "k2",
    )
    assert b"k2" in rekey.stdout
    got = cli("get", "vault", "r", "-O", "-", "--encrypt-key-file", str(new), "--key-id", "k2")
    assert got.returncode == 0 and got.stdout == b"rotate me"
    assert cli("get", "vault", "r", "-O", "-", "--encrypt-key-file", str(old)).returncode == 8


def test_cp_and_mv_of_an_encrypted_object(cli: Cli, tmp_path: Path) -> None:
    key, other = tmp_path / "k", tmp_path / "other"
    key.write_bytes(os.urandom(32))
    other.write_bytes(os.urandom(32))
    data = os.urandom(200_000)
    (tmp_path / "s.bin").write_bytes(data)
    cli.ok("add", "vault")
    cli.ok("add", "annex")
    cli.ok("put", "vault", str(tmp_path / "s.bin"), "--encrypt-key-file", str(key))

    no_key = cli("cp", "vault", "s.bin", "t.bin")
    assert no_key.returncode == 8, no_key.stderr  # the source cannot be read without its key
    wrong = cli("cp", "vault", "s.bin", "t.bin", "--encrypt-key-file", str(other))
    assert wrong.returncode == 8, wrong.stderr
    assert cli("info", "vault", "t.bin").returncode != 0  # nothing was written by either

    copy = json.loads(
        cli.ok("cp", "vault", "s.bin", "t.bin", "--encrypt-key-file", str(key), "--json").stdout
    )
    assert copy["encryption"] == "aes-256-gcm" and copy["original_size"] == len(data)
    got = cli.ok("get", "vault", "t.bin", "-O", "-", "--encrypt-key-file", str(key))
    assert got.stdout == data
    assert cli("get", "vault", "t.bin", "-O", "-").returncode == 8  # the copy is encrypted too

    moved = cli.ok("mv", "vault", "t.bin", "--to-bucket", "annex", "--encrypt-key-file", str(key), "--json")
    assert json.loads(moved.stdout)["bucket"] == "annex"
    assert cli.ok("get", "annex", "t.bin", "-O", "-", "--encrypt-key-file", str(key)).stdout == data
    gone = cli("get", "vault", "t.bin", "-O", "-", "--encrypt-key-file", str(key))
    assert gone.returncode != 0 and gone.stdout == b""  # moved: deleted here
    renamed = cli.ok("mv", "annex", "t.bin", "u.bin")  # a rename touches only the meta: no key needed
    assert renamed.returncode == 0
    assert cli.ok("get", "annex", "u.bin", "-O", "-", "--encrypt-key-file", str(key)).stdout == data

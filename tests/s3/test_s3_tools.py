"""The AWS CLI (PyPI) and rclone (Debian) against a gateway in front of both servers, run as
subprocesses with their whole configuration in environment variables and temporary
files (nothing in $HOME is read or written). Big files go up in multipart uploads:
the AWS CLI switches at 8 MiB, rclone is told to at 5 MiB. ``rclone sync`` of a 500-file
tree goes both ways, with ``rclone check`` clean after each."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.s3.s3helpers import ACCESS_KEY, SECRET_KEY, S3Gateway, make_client

MIB = 1 << 20
AWS = Path(sys.executable).with_name("aws")
RCLONE = shutil.which("rclone")


def _tree(root: Path) -> dict[str, bytes]:
    files = {
        "top.txt": b"top level\n",
        "a/b.txt": b"bee\n" * 100,
        "a/c/deep.bin": os.urandom(70_000),
        "space name.txt": b"spaces in the key\n",
        "empty": b"",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def _read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _big(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


class _Runner:
    def __init__(self, cmd: list[str], env: dict[str, str], cwd: Path) -> None:
        self.cmd, self.env, self.cwd = cmd, env, cwd

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*self.cmd, *args], env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=120
        )
        if ok and done.returncode != 0:
            pytest.fail(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done


@pytest.fixture
def aws(s3gw: S3Gateway, tmp_path: Path) -> _Runner:
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
    }
    return _Runner([str(AWS), "--endpoint-url", s3gw.url], env, tmp_path)


@pytest.fixture
def rclone(s3gw: S3Gateway, tmp_path: Path) -> _Runner:
    if RCLONE is None:
        pytest.fail("rclone is not installed: `make install` adds Debian's")
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    remote = {
        "TYPE": "s3",
        "PROVIDER": "Other",
        "ENV_AUTH": "false",
        "ACCESS_KEY_ID": ACCESS_KEY,
        "SECRET_ACCESS_KEY": SECRET_KEY,
        "REGION": "us-east-1",
        "ENDPOINT": s3gw.url,
        "FORCE_PATH_STYLE": "true",
    }
    env = {f"RCLONE_CONFIG_ORLOP_{k}": v for k, v in remote.items()}
    env.update(
        {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "RCLONE_CONFIG": str(tmp_path / "rclone.conf"),  # absent: the remote is all in the env
            "RCLONE_S3_UPLOAD_CUTOFF": "5M",  # multipart above 5 MiB (default 200 MiB)
            "RCLONE_S3_CHUNK_SIZE": "5M",
            "RCLONE_LOW_LEVEL_RETRIES": "1",
            "RCLONE_RETRIES": "1",
        }
    )
    return _Runner([RCLONE], env, tmp_path)


def test_aws_cli(aws: _Runner, s3gw: S3Gateway, tmp_path: Path) -> None:
    s3 = make_client(s3gw.url)
    aws("s3", "mb", "s3://tools")
    big = _big(tmp_path / "big.bin", 20 * MIB + 12_345)
    aws("s3", "cp", "big.bin", "s3://tools/dir/big.bin")  # 8 MiB parts: a multipart upload of 3
    head = s3.head_object(Bucket="tools", Key="dir/big.bin")
    assert head["ContentLength"] == len(big) and head["ETag"].endswith('-3"')
    aws("s3", "cp", "s3://tools/dir/big.bin", "down.bin")
    assert hashlib.sha256((tmp_path / "down.bin").read_bytes()).digest() == hashlib.sha256(big).digest()
    assert "PRE dir/" in aws("s3", "ls", "s3://tools").stdout

    source = tmp_path / "tree"
    files = _tree(source)
    aws("s3", "sync", "tree", "s3://tools/tree")
    listed = aws("s3", "ls", "--recursive", "s3://tools/tree/").stdout
    assert sorted(line.split(maxsplit=3)[3] for line in listed.splitlines()) == sorted(
        f"tree/{k}" for k in files
    )
    (source / "a/b.txt").write_bytes(b"changed\n")
    sent = aws("s3", "sync", "tree", "s3://tools/tree").stdout
    assert [line.split(" to ")[0].split()[-1] for line in sent.splitlines() if "upload:" in line] == [
        "tree/a/b.txt"
    ]  # only what changed
    aws("s3", "sync", "s3://tools/tree", "back")
    assert _read_tree(tmp_path / "back") == {**files, "a/b.txt": b"changed\n"}

    aws("s3", "rm", "s3://tools/dir/big.bin")
    aws("s3", "rm", "--recursive", "s3://tools/tree")
    assert s3.list_objects_v2(Bucket="tools")["KeyCount"] == 0
    aws("s3", "rb", "s3://tools")
    assert "tools" not in aws("s3", "ls").stdout


def test_rclone(rclone: _Runner, s3gw: S3Gateway, tmp_path: Path) -> None:
    s3 = make_client(s3gw.url)
    source = tmp_path / "tree"
    files = _tree(source)
    files["big/twelve.bin"] = _big(source / "big" / "twelve.bin", 12 * MIB + 7)  # 3 parts of 5 MiB or less
    rclone("mkdir", "orlop:rc")
    rclone("copy", str(source), "orlop:rc/copy")
    listed = rclone("ls", "orlop:rc").stdout
    assert sorted(line.split(maxsplit=1)[1] for line in listed.splitlines()) == sorted(
        f"copy/{k}" for k in files
    )
    entries = json.loads(rclone("lsjson", "-R", "--files-only", "--hash", "orlop:rc/copy").stdout)
    by_path: dict[str, Any] = {e["Path"]: e for e in entries}
    assert set(by_path) == set(files)
    for rel, data in files.items():
        assert by_path[rel]["Size"] == len(data)
        assert by_path[rel]["Hashes"]["md5"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    head = s3.head_object(Bucket="rc", Key="copy/big/twelve.bin")
    assert head["ETag"].endswith('-3"')  # it went up in a multipart upload
    rclone("check", str(source), "orlop:rc/copy")  # sizes and MD5s, the multipart file's too
    sums = dict(
        reversed(line.split(maxsplit=1)) for line in rclone("md5sum", "orlop:rc/copy").stdout.splitlines()
    )
    assert sums["big/twelve.bin"] == hashlib.md5(files["big/twelve.bin"], usedforsecurity=False).hexdigest()
    rclone("copy", "orlop:rc/copy", str(tmp_path / "back"))
    assert _read_tree(tmp_path / "back") == files
    (source / "top.txt").write_bytes(b"different\n")
    assert rclone("check", str(source), "orlop:rc/copy", ok=False).returncode != 0
    s3.create_multipart_upload(Bucket="rc", Key="abandoned")
    rclone("backend", "cleanup", "orlop:rc", "-o", "max-age=1ms")  # ListMultipartUploads, then Abort
    assert s3.list_multipart_uploads(Bucket="rc").get("Uploads", []) == []
    rclone("delete", "orlop:rc")
    assert rclone("ls", "orlop:rc").stdout.strip() == ""
    rclone("rmdir", "orlop:rc")


def test_aws_cli_versions(aws: _Runner, s3gw: S3Gateway, tmp_path: Path) -> None:
    aws("s3", "mb", "s3://vers")
    aws("s3api", "put-bucket-versioning", "--bucket", "vers", "--versioning-configuration", "Status=Enabled")
    status = json.loads(aws("s3api", "get-bucket-versioning", "--bucket", "vers").stdout)
    assert status["Status"] == "Enabled"
    ids = []
    for n in range(2):
        (tmp_path / "f.txt").write_bytes(f"version {n}\n".encode())
        put = json.loads(
            aws("s3api", "put-object", "--bucket", "vers", "--key", "f.txt", "--body", "f.txt").stdout
        )
        ids.append(put["VersionId"])
    aws("s3", "rm", "s3://vers/f.txt")
    listed = json.loads(aws("s3api", "list-object-versions", "--bucket", "vers").stdout)
    assert [v["VersionId"] for v in listed["Versions"]] == ids[::-1]
    assert listed["DeleteMarkers"][0]["IsLatest"] is True
    got = json.loads(
        aws(
            "s3api", "get-object", "--bucket", "vers", "--key", "f.txt", "--version-id", ids[0], "old.txt"
        ).stdout
    )
    assert got["VersionId"] == ids[0] and (tmp_path / "old.txt").read_bytes() == b"version 0\n"
    assert aws("s3", "ls", "s3://vers").stdout.strip() == ""  # the delete marker hides it
    marker = listed["DeleteMarkers"][0]["VersionId"]
    aws("s3api", "delete-object", "--bucket", "vers", "--key", "f.txt", "--version-id", marker)
    assert "f.txt" in aws("s3", "ls", "s3://vers").stdout


def _many(root: Path, count: int) -> dict[str, bytes]:
    """``count`` small files in a few subdirectories (some nested), sizes 0 to 4 KiB."""
    dirs = ["", "alpha", "alpha/one", "alpha/two", "beta", "beta/deep/er", "gamma", "with space"]
    files = {}
    for n in range(count):
        rel = "/".join(p for p in (dirs[n % len(dirs)], f"file{n:04d}.dat") if p)
        files[rel] = os.urandom(n * 37 % 4097)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(files[rel])
    return files


def test_rclone_sync_tree_both_ways(rclone: _Runner, s3gw: S3Gateway, tmp_path: Path) -> None:
    s3 = make_client(s3gw.url)
    source = tmp_path / "tree"
    files = _many(source, 500)
    rclone("mkdir", "orlop:sync")
    rclone("sync", str(source), "orlop:sync/tree", "--transfers", "8", "--checkers", "8")
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="sync")
        for o in page["Contents"]
    ]
    assert sorted(keys) == sorted(f"tree/{k}" for k in files)
    rclone("check", str(source), "orlop:sync/tree")

    # Local changes: edit, add, delete; sync sends only those, and deletes on the remote.
    for rel in list(files)[:20]:
        files[rel] = b"edited " + rel.encode()
        (source / rel).write_bytes(files[rel])
    for rel in list(files)[20:40]:
        del files[rel]
        (source / rel).unlink()
    files["new/dir/added.txt"] = b"added\n"
    (source / "new/dir").mkdir(parents=True)
    (source / "new/dir/added.txt").write_bytes(b"added\n")
    done = rclone("sync", str(source), "orlop:sync/tree", "--transfers", "8", "--checkers", "8", "-v")
    logged = [line.rsplit(": ", 1)[-1] for line in done.stderr.splitlines() if " INFO  : " in line]
    assert logged.count("Copied (replaced existing)") == 20 and logged.count("Copied (new)") == 1
    assert logged.count("Deleted") == 20 and sum(e.startswith("Copied") for e in logged) == 21  # nothing else
    rclone("check", str(source), "orlop:sync/tree")

    # The other way: remote changes (through boto3) synced down into a copy of the tree.
    back = tmp_path / "back"
    rclone("sync", "orlop:sync/tree", str(back), "--transfers", "8", "--checkers", "8")
    assert _read_tree(back) == files
    s3.put_object(Bucket="sync", Key="tree/alpha/from-s3.txt", Body=b"put with boto3\n")
    gone = next(iter(files))
    s3.delete_object(Bucket="sync", Key=f"tree/{gone}")
    done = rclone("sync", "orlop:sync/tree", str(back), "--transfers", "8", "--checkers", "8", "-v")
    logged = [line.rsplit(": ", 1)[-1] for line in done.stderr.splitlines() if " INFO  : " in line]
    assert logged.count("Copied (new)") == 1 and logged.count("Deleted") == 1
    rclone("check", str(back), "orlop:sync/tree")
    expected = {k: v for k, v in files.items() if k != gone} | {"alpha/from-s3.txt": b"put with boto3\n"}
    assert _read_tree(back) == expected
    assert rclone("check", str(source), "orlop:sync/tree", ok=False).returncode != 0  # source differs now

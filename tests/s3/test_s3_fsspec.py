"""s3fs (fsspec's S3 file system, on aiobotocore) against a gateway in front of both servers:
a file opened for reading with seeks (each read a ranged GET), listings, ``info``, ranged
``cat_file``, and writes (one PutObject, and a multipart upload) read back with boto3."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
import s3fs
from tests.s3.s3helpers import ACCESS_KEY, SECRET_KEY, S3Gateway

MIB = 1 << 20


@pytest.fixture
def fs(s3gw: S3Gateway) -> Any:
    """A fresh S3FileSystem (no instance or listing cache shared with other tests)."""
    return s3fs.S3FileSystem(
        key=ACCESS_KEY,
        secret=SECRET_KEY,
        endpoint_url=s3gw.url,
        client_kwargs={"region_name": "us-east-1"},
        config_kwargs={"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 1}},
        skip_instance_cache=True,
        use_listings_cache=False,
    )


def test_read_with_seeks(fs: Any, s3: Any) -> None:
    s3.create_bucket(Bucket="fsr")
    data = os.urandom(3 * MIB + 12_345)
    s3.put_object(Bucket="fsr", Key="dir/blob.bin", Body=data, ContentType="application/x-test")
    offsets = [0, 1, 65_535, MIB - 7, 2 * MIB + 100, len(data) - 10, 17, len(data) - 1]
    # A small block and no read-ahead cache: every read below is a ranged GET of its own.
    with fs.open("fsr/dir/blob.bin", "rb", block_size=64 * 1024, cache_type="none") as f:
        assert f.size == len(data)
        for offset in offsets:
            assert f.seek(offset) == offset
            assert f.read(1000) == data[offset : offset + 1000]
            assert f.tell() == min(offset + 1000, len(data))
        f.seek(-100, os.SEEK_END)
        assert f.read() == data[-100:]
        assert f.read(10) == b""  # at the end
        f.seek(MIB)
        f.seek(5000, os.SEEK_CUR)
        assert f.read(3 * MIB) == data[MIB + 5000 :]  # a read past the end stops at it
    # The default (read-ahead) cache, seeking back and forth.
    with fs.open("fsr/dir/blob.bin", "rb", block_size=MIB) as f:
        for offset in reversed(offsets):
            f.seek(offset)
            assert f.read(70_000) == data[offset : offset + 70_000]
    assert fs.cat_file("fsr/dir/blob.bin", start=100, end=2100) == data[100:2100]
    assert fs.cat_file("fsr/dir/blob.bin", start=-50) == data[-50:]
    assert fs.cat_file("fsr/dir/blob.bin") == data
    assert fs.read_block("fsr/dir/blob.bin", MIB, 4096) == data[MIB : MIB + 4096]


def test_ls_info_and_walk(fs: Any, s3: Any) -> None:
    s3.create_bucket(Bucket="fsl")
    files = {"top.txt": b"top\n", "a/one.txt": b"one\n" * 10, "a/b/two.bin": os.urandom(5000), "c/x": b""}
    for key, body in files.items():
        s3.put_object(Bucket="fsl", Key=key, Body=body)
    assert "fsl" in [p.rstrip("/") for p in fs.ls("", detail=False)]
    top = {e["name"]: e for e in fs.ls("fsl", detail=True)}
    assert set(top) == {"fsl/top.txt", "fsl/a", "fsl/c"}
    assert top["fsl/top.txt"]["type"] == "file" and top["fsl/top.txt"]["size"] == 4
    assert top["fsl/a"]["type"] == "directory"
    assert sorted(fs.ls("fsl/a", detail=False)) == ["fsl/a/b", "fsl/a/one.txt"]
    assert sorted(fs.find("fsl")) == sorted(f"fsl/{k}" for k in files)
    assert fs.du("fsl") == sum(len(b) for b in files.values())

    info = fs.info("fsl/a/b/two.bin")
    assert info["type"] == "file" and info["size"] == 5000
    assert info["ETag"] == '"' + hashlib.md5(files["a/b/two.bin"], usedforsecurity=False).hexdigest() + '"'
    assert fs.info("fsl/a")["type"] == "directory"  # a prefix, found by listing
    assert fs.isdir("fsl/a/b") and fs.isfile("fsl/top.txt") and not fs.exists("fsl/nope")
    assert fs.exists("fsl") and fs.info("fsl")["type"] == "directory"
    with pytest.raises(FileNotFoundError):
        fs.info("fsl/missing.txt")
    assert fs.glob("fsl/a/**/*.bin") == ["fsl/a/b/two.bin"]


def test_write_read_back_with_boto3(fs: Any, s3: Any) -> None:
    fs.mkdir("fsw")  # CreateBucket
    assert s3.head_bucket(Bucket="fsw")["ResponseMetadata"]["HTTPStatusCode"] == 200
    small = os.urandom(100_000)
    with fs.open("fsw/small/one.bin", "wb") as f:  # one PutObject at close
        f.write(small[:40_000])
        f.write(small[40_000:])
    got = s3.get_object(Bucket="fsw", Key="small/one.bin")
    assert got["Body"].read() == small
    assert got["ETag"] == '"' + hashlib.md5(small, usedforsecurity=False).hexdigest() + '"'

    big = os.urandom(12 * MIB + 3)
    with fs.open("fsw/big.bin", "wb", block_size=5 * MIB) as f:  # a multipart upload of 3 parts
        for i in range(0, len(big), MIB):
            f.write(big[i : i + MIB])
    head = s3.head_object(Bucket="fsw", Key="big.bin")
    assert head["ContentLength"] == len(big) and head["ETag"].endswith('-3"')
    assert hashlib.sha256(s3.get_object(Bucket="fsw", Key="big.bin")["Body"].read()).digest() == (
        hashlib.sha256(big).digest()
    )

    fs.pipe_file("fsw/piped.txt", b"piped through fsspec\n")
    assert s3.get_object(Bucket="fsw", Key="piped.txt")["Body"].read() == b"piped through fsspec\n"
    fs.copy("fsw/piped.txt", "fsw/copied.txt")  # CopyObject
    assert s3.get_object(Bucket="fsw", Key="copied.txt")["Body"].read() == b"piped through fsspec\n"
    fs.rm("fsw/small", recursive=True)  # DeleteObjects
    fs.rm_file("fsw/piped.txt")  # DeleteObject
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="fsw")["Contents"]) == ["big.bin", "copied.txt"]
    assert s3.list_multipart_uploads(Bucket="fsw").get("Uploads", []) == []

"""Object operations through boto3 against a gateway in front of both servers: bodies,
headers and metadata, ranges, conditional reads and writes, deletes, a 50 MiB round trip."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def bucket(s3: Any) -> str:
    s3.create_bucket(Bucket="objs")
    return "objs"


def test_put_get_head_with_headers_and_metadata(s3: Any, bucket: str) -> None:
    body = b"hello, s3" * 1000
    put = s3.put_object(
        Bucket=bucket,
        Key="docs/hello.txt",
        Body=body,
        ContentType="text/plain; charset=utf-8",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="hello.txt"',
        ContentEncoding="identity",
        Metadata={"owner": "alice", "purpose": "tests"},
    )
    etag = '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
    assert put["ETag"] == etag
    got = s3.get_object(Bucket=bucket, Key="docs/hello.txt")
    assert got["Body"].read() == body
    assert got["ETag"] == etag and got["ContentLength"] == len(body)
    assert got["ContentType"] == "text/plain; charset=utf-8" and got["CacheControl"] == "max-age=60"
    assert (
        got["ContentDisposition"] == 'attachment; filename="hello.txt"'
        and got["ContentEncoding"] == "identity"
    )
    assert got["Metadata"] == {"owner": "alice", "purpose": "tests"}
    assert abs(got["LastModified"] - datetime.now(UTC)) < timedelta(minutes=1)
    head = s3.head_object(Bucket=bucket, Key="docs/hello.txt")
    assert (
        head["ETag"] == etag and head["ContentLength"] == len(body) and head["Metadata"]["owner"] == "alice"
    )
    over = s3.get_object(
        Bucket=bucket,
        Key="docs/hello.txt",
        ResponseContentType="application/x-test",
        ResponseCacheControl="no-store",
    )
    assert over["ContentType"] == "application/x-test" and over["CacheControl"] == "no-store"
    empty = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert empty["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""


def test_missing_things(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as key:
        s3.get_object(Bucket=bucket, Key="nope")
    assert _code(key) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as head:
        s3.head_object(Bucket=bucket, Key="nope")
    assert _code(head)[1] == 404
    with pytest.raises(ClientError) as nobucket:
        s3.get_object(Bucket="nobucket", Key="x")
    assert _code(nobucket) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as put:
        s3.put_object(Bucket="nobucket", Key="x", Body=b"1")
    assert _code(put) == ("NoSuchBucket", 404)


def test_ranges(s3: Any, bucket: str) -> None:
    data = os.urandom(1_000_000)
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    for spec, want in [
        ("bytes=0-9", data[:10]),
        ("bytes=999990-", data[999990:]),
        ("bytes=-5", data[-5:]),
        ("bytes=300000-700000", data[300000:700001]),
        ("bytes=999999-2000000", data[999999:]),
    ]:
        got = s3.get_object(Bucket=bucket, Key="r", Range=spec)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206 and got["Body"].read() == want
        assert got["ContentRange"].endswith("/1000000")
    with pytest.raises(ClientError) as bad:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=1000000-")
    assert _code(bad) == ("InvalidRange", 416)
    assert bad.value.response["ResponseMetadata"]["HTTPHeaders"]["content-range"] == "bytes */1000000"


def test_conditional_reads(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"v1")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as other:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0123"')
    assert _code(other) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as same:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert _code(same)[1] == 304
    past, future = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1)
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as unmodified:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=future)
    assert _code(unmodified)[1] == 304
    with pytest.raises(ClientError) as modified:
        s3.head_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    assert _code(modified)[1] == 412
    # If-Match wins over a failing If-Unmodified-Since, as on S3.
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag, IfUnmodifiedSince=past)["Body"].read() == b"v1"


def test_conditional_writes(s3: Any, bucket: str) -> None:
    first = s3.put_object(Bucket=bucket, Key="w", Body=b"one", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as exists:
        s3.put_object(Bucket=bucket, Key="w", Body=b"two", IfNoneMatch="*")
    assert _code(exists) == ("PreconditionFailed", 412)
    second = s3.put_object(Bucket=bucket, Key="w", Body=b"two", IfMatch=first)["ETag"]
    with pytest.raises(ClientError) as stale:
        s3.put_object(Bucket=bucket, Key="w", Body=b"three", IfMatch=first)
    assert _code(stale) == ("PreconditionFailed", 412)
    got = s3.get_object(Bucket=bucket, Key="w")
    assert got["Body"].read() == b"two" and got["ETag"] == second
    with pytest.raises(ClientError) as absent:
        s3.put_object(Bucket=bucket, Key="never", Body=b"x", IfMatch=first)
    assert _code(absent) == ("NoSuchKey", 404)


def test_content_md5(s3: Any, bucket: str) -> None:
    body = b"checked"
    good = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    s3.put_object(Bucket=bucket, Key="m", Body=body, ContentMD5=good)
    wrong = base64.b64encode(hashlib.md5(b"other", usedforsecurity=False).digest()).decode()
    big = os.urandom(3 << 20)  # several chunks already stored when the mismatch is found
    with pytest.raises(ClientError) as bad:
        s3.put_object(Bucket=bucket, Key="bad", Body=big, ContentMD5=wrong)
    assert _code(bad) == ("BadDigest", 400)
    with pytest.raises(ClientError) as invalid:
        s3.put_object(Bucket=bucket, Key="bad", Body=body, ContentMD5="nonsense")
    assert _code(invalid) == ("InvalidDigest", 400)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["m"]
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")


def test_deletes(s3: Any, bucket: str) -> None:
    for i in range(10):
        s3.put_object(Bucket=bucket, Key=f"d/{i}", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="d/0")
    s3.delete_object(Bucket=bucket, Key="d/0")  # again: still 204
    s3.delete_object(Bucket=bucket, Key="never-there")
    out = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": f"d/{i}"} for i in range(1, 5)] + [{"Key": "zz"}]}
    )
    assert (
        sorted(d["Key"] for d in out["Deleted"]) == ["d/1", "d/2", "d/3", "d/4", "zz"] and "Errors" not in out
    )
    quiet = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "d/5"}, {"Key": "d/6"}], "Quiet": True}
    )
    assert "Deleted" not in quiet and "Errors" not in quiet
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["d/7", "d/8", "d/9"]


def test_large_round_trip(s3: Any, bucket: str, tmp_path: Any) -> None:
    data = os.urandom(50 << 20)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    with src.open("rb") as f:
        put = s3.put_object(Bucket=bucket, Key="big.bin", Body=f)
    assert put["ETag"] == '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'
    got = s3.get_object(Bucket=bucket, Key="big.bin")
    digest = hashlib.sha256()
    for piece in got["Body"].iter_chunks(1 << 20):
        digest.update(piece)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    dest = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(dest))  # s3transfer: ranged GETs in parallel
    assert hashlib.sha256(dest.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_upload_file_multipart_and_single(s3: Any, bucket: str, tmp_path: Any) -> None:
    """boto3's upload_file: multipart above 8 MiB (parts in parallel); one put with a higher threshold."""
    from boto3.s3.transfer import TransferConfig

    data = os.urandom(12 << 20)
    src = tmp_path / "twelve.bin"
    src.write_bytes(data)
    s3.upload_file(str(src), bucket, "multipart.bin")  # above 8 MiB: 8 MiB parts by default
    parts = [data[: 8 << 20], data[8 << 20 :]]
    joined = b"".join(hashlib.md5(p, usedforsecurity=False).digest() for p in parts)
    head = s3.head_object(Bucket=bucket, Key="multipart.bin")
    assert head["ETag"] == '"' + hashlib.md5(joined, usedforsecurity=False).hexdigest() + '-2"'
    s3.download_file(bucket, "multipart.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data
    s3.upload_file(str(src), bucket, "single.bin", Config=TransferConfig(multipart_threshold=5 * 1024**3))
    head = s3.head_object(Bucket=bucket, Key="single.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [
        "multipart.bin",
        "single.bin",
    ]

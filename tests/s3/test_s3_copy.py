"""CopyObject through boto3, against a gateway in front of both servers: within and across
buckets, metadata COPY or REPLACE, the source's conditions, copying onto itself."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_copy_within_and_across_buckets(s3: Any) -> None:
    s3.create_bucket(Bucket="src")
    s3.create_bucket(Bucket="dst")
    data = os.urandom(3_000_000)
    etag = s3.put_object(
        Bucket="src", Key="a/orig.bin", Body=data, ContentType="application/x-orig", Metadata={"who": "alice"}
    )["ETag"]
    assert etag == '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'
    same = s3.copy_object(Bucket="src", Key="a/copy.bin", CopySource={"Bucket": "src", "Key": "a/orig.bin"})
    assert same["CopyObjectResult"]["ETag"] == etag
    got = s3.get_object(Bucket="src", Key="a/copy.bin")
    assert got["Body"].read() == data and got["ContentType"] == "application/x-orig"
    assert got["Metadata"] == {"who": "alice"} and got["ETag"] == etag
    s3.copy_object(
        Bucket="dst",
        Key="b/replaced.bin",
        CopySource="src/a/orig.bin",
        MetadataDirective="REPLACE",
        ContentType="text/plain",
        Metadata={"who": "bob"},
    )
    other = s3.head_object(Bucket="dst", Key="b/replaced.bin")
    assert other["ContentType"] == "text/plain" and other["Metadata"] == {"who": "bob"}
    assert other["ETag"] == etag and other["ContentLength"] == len(data)
    assert s3.get_object(Bucket="src", Key="a/orig.bin")["Body"].read() == data  # the source is unchanged


def test_copy_errors_and_conditions(s3: Any) -> None:
    s3.create_bucket(Bucket="cp")
    etag = s3.put_object(Bucket="cp", Key="k", Body=b"v1")["ETag"]
    with pytest.raises(ClientError) as itself:
        s3.copy_object(Bucket="cp", Key="k", CopySource="cp/k")
    assert _code(itself) == ("InvalidRequest", 400)
    s3.copy_object(Bucket="cp", Key="k", CopySource="cp/k", MetadataDirective="REPLACE", Metadata={"x": "1"})
    assert s3.head_object(Bucket="cp", Key="k")["Metadata"] == {"x": "1"}
    with pytest.raises(ClientError) as missing:
        s3.copy_object(Bucket="cp", Key="k2", CopySource="cp/nope")
    assert _code(missing) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as nobucket:
        s3.copy_object(Bucket="cp", Key="k2", CopySource="nobucket/k")
    assert _code(nobucket) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as stale:
        s3.copy_object(Bucket="cp", Key="k2", CopySource="cp/k", CopySourceIfMatch='"0000"')
    assert _code(stale) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as unchanged:
        s3.copy_object(Bucket="cp", Key="k2", CopySource="cp/k", CopySourceIfNoneMatch=etag)
    assert _code(unchanged) == ("PreconditionFailed", 412)
    s3.copy_object(Bucket="cp", Key="k2", CopySource="cp/k", CopySourceIfMatch=etag)
    assert s3.get_object(Bucket="cp", Key="k2")["Body"].read() == b"v1"
    with pytest.raises(ClientError) as versioned:  # not a revision of k (test_s3_versions copies versions)
        s3.copy_object(Bucket="cp", Key="k3", CopySource={"Bucket": "cp", "Key": "k", "VersionId": "999999"})
    assert _code(versioned) == ("NoSuchVersion", 404)

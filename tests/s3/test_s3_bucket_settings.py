"""CreateBucket with the object store bucket's settings in ``x-amz-meta-*`` headers, through
boto3 (the headers added by an event hook, as a user would) on both servers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.s3.s3helpers import S3Gateway, make_client

from orlop.objects import connect


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def _with_headers(url: str, headers: dict[str, str]) -> Any:
    s3 = make_client(url)

    def add(request: Any, **_: Any) -> None:
        for name, value in headers.items():
            request.headers[name] = value

    s3.meta.events.register("before-sign.s3.CreateBucket", add)
    return s3


async def _config(url: str, bucket: str) -> tuple[int, int, dict[str, Any]]:
    async with connect(url) as client:
        b = await client.bucket(bucket)
        return b.history, b.max_object_size, b.config


def test_create_bucket_with_settings(s3gw: S3Gateway) -> None:
    settings = {
        "x-amz-meta-history": "5",
        "x-amz-meta-max-object-size": "1KiB",
        "x-amz-meta-max-bytes": "10MiB",
        "x-amz-meta-ttl": "2h",
        "x-amz-meta-compression": "s2",
        "x-amz-meta-replicas": "1",
        "x-amz-meta-storage": "memory",
        "x-amz-meta-description": "made through S3",
    }
    s3 = _with_headers(s3gw.url, settings)
    s3.create_bucket(Bucket="tuned")
    history, max_object_size, config = asyncio.run(_config(s3gw.nats_url, "tuned"))
    assert (history, max_object_size) == (5, 1024)
    assert config["max_bytes"] == 10 << 20 and config["max_age"] == 7200 * 10**9
    assert config["compression"] == "s2" and config["storage"] == "memory"
    assert config["num_replicas"] == 1 and config["description"] == "made through S3"
    assert s3.get_bucket_versioning(Bucket="tuned")["Status"] == "Enabled"  # history > 1
    s3.put_object(Bucket="tuned", Key="small", Body=b"x" * 1024)
    with pytest.raises(ClientError) as big:
        s3.put_object(Bucket="tuned", Key="big", Body=b"x" * 1025)
    assert _code(big) == ("EntityTooLarge", 400)

    plain = make_client(s3gw.url)
    plain.create_bucket(Bucket="defaults")
    assert asyncio.run(_config(s3gw.nats_url, "defaults"))[:2] == (1, 0)


_BAD = [
    ("x-amz-meta-colour", "blue", "unknown bucket setting"),
    ("x-amz-meta-history", "many", "whole number"),
    ("x-amz-meta-history", "100", "at most 64"),
    ("x-amz-meta-ttl", "soon", "duration"),
    ("x-amz-meta-max-object-size", "big", "size"),
    ("x-amz-meta-compression", "zstd", "s2 or none"),
    ("x-amz-meta-storage", "tape", "file or memory"),
]


def test_bad_settings_create_nothing(s3gw: S3Gateway) -> None:
    for header, value, message in _BAD:
        s3 = _with_headers(s3gw.url, {header: value})
        with pytest.raises(ClientError) as bad:
            s3.create_bucket(Bucket="refused")
        assert _code(bad) == ("InvalidArgument", 400), header
        assert message in bad.value.response["Error"]["Message"], (header, bad.value.response["Error"])
    with pytest.raises(ClientError) as missing:
        make_client(s3gw.url).head_bucket(Bucket="refused")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

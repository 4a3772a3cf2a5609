"""The S3 API and other NATS clients see the same objects: an S3 put read by nats-py's object
store byte for byte (with its headers and metadata), a nats-py put listed and read through
S3 with a digest-derived ETag; a rejected S3 body leaves no message in the stream."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from typing import Any

import nats
import pytest
from botocore.exceptions import ClientError
from tests.s3.s3helpers import S3Gateway


async def _nats(url: str) -> Any:
    return await nats.connect(url)


def test_s3_put_read_by_nats_py(s3: Any, s3gw: S3Gateway) -> None:
    s3.create_bucket(Bucket="shared")
    data = os.urandom(700_000)
    s3.put_object(
        Bucket="shared", Key="from/s3.bin", Body=data, ContentType="application/x-test", Metadata={"k": "v"}
    )

    async def read() -> Any:
        nc = await _nats(s3gw.nats_url)
        try:
            store = await nc.jetstream().object_store("shared")
            return await store.get("from/s3.bin")
        finally:
            await nc.close()

    result = asyncio.run(read())
    assert result.data == data
    assert result.info.headers["Content-Type"] == ["application/x-test"]
    # (nats-py's ObjectInfo has no metadata field; orlop.objects and nats.go read x-amz-meta-k as metadata k.)
    assert result.info.headers["Orlop-S3-ETag"] == [hashlib.md5(data, usedforsecurity=False).hexdigest()]


def test_nats_py_put_listed_and_read_through_s3(s3: Any, s3gw: S3Gateway) -> None:
    data = os.urandom(300_000)

    async def write() -> str:
        nc = await _nats(s3gw.nats_url)
        try:
            js = nc.jetstream()
            store = await js.create_object_store("foreign")
            info = await store.put("dir/from-nats.bin", data)
            return str(info.digest)
        finally:
            await nc.close()

    digest = asyncio.run(write())
    raw = base64.urlsafe_b64decode(digest.removeprefix("SHA-256=") + "==")
    etag = f'"{raw.hex()}"'  # no MD5 known: the SHA-256 digest in hex (docs/s3.md)
    assert raw == hashlib.sha256(data).digest()
    listed = s3.list_objects_v2(Bucket="foreign", Prefix="dir/")["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [("dir/from-nats.bin", len(data), etag)]
    got = s3.get_object(Bucket="foreign", Key="dir/from-nats.bin")
    assert got["Body"].read() == data and got["ETag"] == etag
    assert (
        s3.get_object(Bucket="foreign", Key="dir/from-nats.bin", Range="bytes=0-1")["Body"].read() == data[:2]
    )


def test_rejected_body_leaves_no_message(s3: Any, s3gw: S3Gateway) -> None:
    s3.create_bucket(Bucket="clean")
    wrong = base64.b64encode(hashlib.md5(b"something else", usedforsecurity=False).digest()).decode()
    with pytest.raises(ClientError) as bad:
        s3.put_object(Bucket="clean", Key="big", Body=os.urandom(5 << 20), ContentMD5=wrong)
    assert bad.value.response["Error"]["Code"] == "BadDigest"

    async def state() -> dict[str, Any]:
        nc = await _nats(s3gw.nats_url)
        try:
            info = await nc.jetstream().stream_info("OBJ_clean")
            return {"messages": info.state.messages, "bytes": info.state.bytes}
        finally:
            await nc.close()

    assert asyncio.run(state()) == {"messages": 0, "bytes": 0}

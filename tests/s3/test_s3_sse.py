"""S3 server-side encryption headers against a gateway in front of both servers.

SSE-C (the client's own key on every request) is applied as orlop.objects' client-side
encryption: the object is encrypted before it reaches NATS, so what the server stores is
ciphertext (checked by reading the chunks with nats-py), it reads back only with the same
key, and copies and multipart uploads carry the key as S3 asks. SSE-S3 and SSE-KMS need
keys the gateway does not manage and are refused, never stored in the clear; so are object
locks and tags.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from tests.s3.s3helpers import ACCESS_KEY, SECRET_KEY, S3Gateway, make_client

from orlop.objects import Key, connect
from orlop.testing import GatewayProcess, ServerProcess

KEY = os.urandom(32)
OTHER = os.urandom(32)
SSE = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": KEY}
WRONG = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": OTHER}


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


async def _stored_chunks(url: str, bucket: str) -> bytes:
    """Every chunk message the NATS server holds for a bucket, read with nats-py."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(f"$O.{bucket}.C.>", ordered_consumer=True)
        out = b""
        while True:
            try:
                msg = await sub.next_msg(timeout=1)
            except nats.errors.TimeoutError:
                return out
            out += msg.data
    finally:
        await nc.close()


def test_sse_c_objects_are_encrypted_before_nats_and_need_their_key(s3: Any, s3gw: S3Gateway) -> None:
    s3.create_bucket(Bucket="secret")
    body = b"top secret " * 30_000
    put = s3.put_object(Bucket="secret", Key="plan.txt", Body=body, **SSE)
    assert put["SSECustomerAlgorithm"] == "AES256"
    assert put["ETag"] == '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
    stored = asyncio.run(_stored_chunks(s3gw.nats_url, "secret"))
    assert len(stored) >= len(body) and b"top secret" not in stored  # ciphertext only
    got = s3.get_object(Bucket="secret", Key="plan.txt", **SSE)
    assert got["Body"].read() == body and got["SSECustomerKeyMD5"] == put["SSECustomerKeyMD5"]
    assert (
        s3.get_object(Bucket="secret", Key="plan.txt", Range="bytes=5-14", **SSE)["Body"].read() == body[5:15]
    )
    assert s3.head_object(Bucket="secret", Key="plan.txt", **SSE)["ContentLength"] == len(body)
    with pytest.raises(ClientError) as without:
        s3.get_object(Bucket="secret", Key="plan.txt")
    assert _code(without) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as other:
        s3.get_object(Bucket="secret", Key="plan.txt", **WRONG)
    assert _code(other) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as head:
        s3.head_object(Bucket="secret", Key="plan.txt", **WRONG)
    assert _code(head)[1] == 403
    # A key given for a plaintext object is an error too, as in S3.
    s3.put_object(Bucket="secret", Key="plain.txt", Body=b"open")
    with pytest.raises(ClientError) as needless:
        s3.get_object(Bucket="secret", Key="plain.txt", **SSE)
    assert _code(needless) == ("InvalidRequest", 400)
    # orlop.objects reads it with the same key (the id names the key's MD5).
    key_id = "s3-sse-c:" + hashlib.md5(KEY, usedforsecurity=False).hexdigest()

    async def read() -> bytes:
        async with connect(s3gw.nats_url) as client:
            bucket = await client.bucket("secret")
            return await bucket.get_bytes("plan.txt", encryption=Key(KEY, id=key_id))

    assert asyncio.run(read()) == body


def test_sse_c_copies_and_bad_keys(s3: Any) -> None:
    s3.create_bucket(Bucket="copies")
    s3.put_object(Bucket="copies", Key="src", Body=b"x" * 1000, **SSE)
    source = {"Bucket": "copies", "Key": "src"}
    with pytest.raises(ClientError) as no_source_key:
        s3.copy_object(Bucket="copies", Key="dst", CopySource=source)
    assert _code(no_source_key) == ("InvalidRequest", 400)
    copy_sse = {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": KEY}
    s3.copy_object(Bucket="copies", Key="re-keyed", CopySource=source, **copy_sse, **WRONG)
    assert s3.get_object(Bucket="copies", Key="re-keyed", **WRONG)["Body"].read() == b"x" * 1000
    s3.copy_object(Bucket="copies", Key="opened", CopySource=source, **copy_sse)
    assert s3.get_object(Bucket="copies", Key="opened")["Body"].read() == b"x" * 1000
    with pytest.raises(ClientError) as short:
        s3.put_object(
            Bucket="copies", Key="k", Body=b"x", SSECustomerAlgorithm="AES256", SSECustomerKey=b"short"
        )
    assert _code(short) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as algorithm:
        s3.put_object(Bucket="copies", Key="k", Body=b"x", SSECustomerAlgorithm="AES128", SSECustomerKey=KEY)
    assert _code(algorithm)[1] == 400
    for managed in ("AES256", "aws:kms"):
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket="copies", Key="k", Body=b"x", ServerSideEncryption=managed)
        assert _code(refused) == ("NotImplemented", 501)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="copies")["Contents"]]
    assert keys == ["opened", "re-keyed", "src"]


def test_sse_c_multipart_upload(s3: Any, tmp_path: Any) -> None:
    s3.create_bucket(Bucket="bigsecret")
    data = os.urandom(12 << 20)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    managed = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20, max_concurrency=4)
    s3.upload_file(str(src), "bigsecret", "big.bin", ExtraArgs=SSE, Config=managed)
    assert s3.head_object(Bucket="bigsecret", Key="big.bin", **SSE)["ETag"].endswith('-3"')
    assert s3.get_object(Bucket="bigsecret", Key="big.bin", **SSE)["Body"].read() == data
    with pytest.raises(ClientError):
        s3.get_object(Bucket="bigsecret", Key="big.bin")
    # Every part must bring the upload's key.
    upload = s3.create_multipart_upload(Bucket="bigsecret", Key="parts", **SSE)["UploadId"]
    with pytest.raises(ClientError) as missing:
        s3.upload_part(Bucket="bigsecret", Key="parts", UploadId=upload, PartNumber=1, Body=b"p")
    assert _code(missing) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as other:
        s3.upload_part(Bucket="bigsecret", Key="parts", UploadId=upload, PartNumber=1, Body=b"p", **WRONG)
    assert _code(other) == ("InvalidArgument", 400)
    part = s3.upload_part(Bucket="bigsecret", Key="parts", UploadId=upload, PartNumber=1, Body=b"p", **SSE)
    done = s3.complete_multipart_upload(
        Bucket="bigsecret",
        Key="parts",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        **SSE,
    )
    answered = done["ResponseMetadata"]["HTTPHeaders"]
    assert answered["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
    assert s3.get_object(Bucket="bigsecret", Key="parts", **SSE)["Body"].read() == b"p"


def test_objects_encrypted_with_a_key_the_gateway_holds_read_in_the_clear(
    server: ServerProcess, tmp_path: Path
) -> None:
    raw = os.urandom(32)
    (tmp_path / "team.key").write_bytes(raw)
    conf = tmp_path / "gw.toml"
    conf.write_text(f'encryption_keys = {{ "team" = "{tmp_path / "team.key"}" }}\n')
    args = ["-c", str(conf), "--s3-listen", "127.0.0.1:0"]
    args += ["--s3-access-key", ACCESS_KEY, "--s3-secret-key", SECRET_KEY]
    gateway = GatewayProcess(server.url, args=args).start(tmp_path)
    try:

        async def write() -> None:
            async with connect(server.url) as client:
                bucket = await client.create_bucket("teamvault")
                await bucket.put("held.txt", b"team data" * 1000, encryption=Key(raw, id="team"))
                await bucket.put("foreign.txt", b"not ours", encryption=Key(os.urandom(32), id="other"))

        asyncio.run(write())
        s3 = make_client(f"http://127.0.0.1:{gateway.s3_port}")
        assert s3.get_object(Bucket="teamvault", Key="held.txt")["Body"].read() == b"team data" * 1000
        with pytest.raises(ClientError) as foreign:
            s3.get_object(Bucket="teamvault", Key="foreign.txt")
        assert _code(foreign) == ("InvalidObjectState", 403)
    finally:
        gateway.stop()


def test_promises_the_gateway_cannot_keep_are_refused(s3: Any) -> None:
    s3.create_bucket(Bucket="promises")
    until = datetime.now(UTC) + timedelta(days=1)
    for extra in (
        {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until},
        {"ObjectLockLegalHoldStatus": "ON"},
        {"Tagging": "team=a"},
        {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "k"},
    ):
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket="promises", Key="k", Body=b"x", **extra)
        assert _code(refused) == ("NotImplemented", 501), extra
        with pytest.raises(ClientError) as refused_mpu:
            s3.create_multipart_upload(Bucket="promises", Key="k", **extra)
        assert _code(refused_mpu) == ("NotImplemented", 501), extra
    with pytest.raises(ClientError) as locked:
        s3.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
    assert _code(locked) == ("NotImplemented", 501)
    assert "locked" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.list_objects_v2(Bucket="promises")["KeyCount"] == 0
    s3.put_object(Bucket="promises", Key="private", Body=b"x", ACL="private")  # the owner's ACL: kept

"""Who may use the S3 API, and how requests prove it: SigV4 in headers, presigned URLs,
aws-chunked bodies with chunk signatures; wrong keys, skewed clocks, expired URLs; what
is not built answers NotImplemented; virtual-host addressing."""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import botocore.auth
import httpx
import pytest
from botocore.exceptions import ClientError
from tests.s3.s3helpers import S3Gateway, make_client, sign_v4, streaming_put


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_wrong_secret_and_unknown_key(s3: Any, s3_client: Callable[..., Any]) -> None:
    s3.create_bucket(Bucket="b")
    with pytest.raises(ClientError) as wrong:
        s3_client(secret_key="not-the-secret").list_objects_v2(Bucket="b")
    assert _code(wrong) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(ClientError) as unknown:
        s3_client(access_key="nobody").list_buckets()
    assert _code(unknown) == ("InvalidAccessKeyId", 403)
    with pytest.raises(ClientError) as put:
        s3_client(secret_key="not-the-secret").put_object(Bucket="b", Key="k", Body=b"x" * 100_000)
    assert _code(put) == ("SignatureDoesNotMatch", 403)
    assert "Contents" not in s3.list_objects_v2(Bucket="b")


def test_unsigned_request_and_xml_error_shape(s3gw: S3Gateway) -> None:
    answer = httpx.get(s3gw.url + "/somebucket/key")
    assert answer.status_code == 403 and answer.headers["content-type"] == "application/xml"
    assert (
        "<Code>AccessDenied</Code>" in answer.text and "<Resource>/somebucket/key</Resource>" in answer.text
    )
    assert "<RequestId>" in answer.text


def _skewed(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> None:
    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: real(*a, **k) + by)


def test_clock_skew(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _skewed(monkeypatch, timedelta(minutes=-20))
    with pytest.raises(ClientError) as skewed:
        s3.list_buckets()
    assert _code(skewed) == ("RequestTimeTooSkewed", 403)
    _skewed(monkeypatch, timedelta(minutes=10))  # within 15 minutes (and on top of the -20: -10)
    assert s3.list_buckets()["Buckets"] == []


def test_presigned_get_and_put(
    s3: Any, s3_client: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.create_bucket(Bucket="pre")
    v2 = s3.generate_presigned_url("get_object", Params={"Bucket": "pre", "Key": "k"}, ExpiresIn=600)
    refused = httpx.get(v2)  # boto3's default for presigned URLs is still Signature Version 2
    assert refused.status_code == 400 and "Signature Version 2 is not supported" in refused.text
    s3 = s3_client(signature_version="s3v4")
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "pre", "Key": "up/load.bin"}, ExpiresIn=600
    )
    assert httpx.put(put_url, content=b"presigned bytes").status_code == 200
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "pre", "Key": "up/load.bin"}, ExpiresIn=600
    )
    got = httpx.get(get_url)
    assert got.status_code == 200 and got.content == b"presigned bytes"
    assert (
        got.headers["etag"] == '"' + hashlib.md5(b"presigned bytes", usedforsecurity=False).hexdigest() + '"'
    )
    tampered = httpx.get(get_url.replace("up/load.bin", "up/other.bin"))
    assert tampered.status_code == 403 and "SignatureDoesNotMatch" in tampered.text
    _skewed(monkeypatch, timedelta(hours=-2))  # signed two hours ago, valid for one
    old = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "pre", "Key": "up/load.bin"}, ExpiresIn=3600
    )
    expired = httpx.get(old)
    assert (
        expired.status_code == 403
        and "<Code>AccessDenied</Code>" in expired.text
        and "expired" in expired.text
    )


def test_aws_chunked_signed_upload(s3: Any, s3gw: S3Gateway) -> None:
    s3.create_bucket(Bucket="chunky")
    data = bytes(range(256)) * 5000  # 1.28 MB in 64 KiB chunks
    answer = streaming_put(s3gw.url, "/chunky/streamed.bin", data, 65536)
    assert answer.status_code == 200, answer.text
    assert answer.headers["etag"] == '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'
    got = s3.get_object(Bucket="chunky", Key="streamed.bin")
    assert got["Body"].read() == data and "ContentEncoding" not in got
    bad = streaming_put(s3gw.url, "/chunky/broken.bin", data, 65536, break_chunk=12)
    assert bad.status_code == 403 and "SignatureDoesNotMatch" in bad.text
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="chunky")["Contents"]] == ["streamed.bin"]
    # A signed trailer (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER): its checksum and its
    # signature are both checked; either one wrong stores nothing.
    crc = {"x-amz-checksum-crc32": base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()}
    trailed = streaming_put(s3gw.url, "/chunky/trailed.bin", data, 65536, trailer=crc)
    assert trailed.status_code == 200, trailed.text
    assert trailed.headers["x-amz-checksum-crc32"] == crc["x-amz-checksum-crc32"]
    assert s3.get_object(Bucket="chunky", Key="trailed.bin")["Body"].read() == data
    forged = streaming_put(
        s3gw.url, "/chunky/forged.bin", data, 65536, trailer=crc, trailer_signature="0" * 64
    )
    assert forged.status_code == 403 and "SignatureDoesNotMatch" in forged.text
    wrong = streaming_put(
        s3gw.url, "/chunky/wrong.bin", data, 65536, trailer={"x-amz-checksum-crc32": "AAAAAA=="}
    )
    assert wrong.status_code == 400 and "BadDigest" in wrong.text
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="chunky")["Contents"]]
    assert keys == ["streamed.bin", "trailed.bin"]


def test_not_implemented_and_bad_xml(s3: Any, s3gw: S3Gateway) -> None:
    s3.create_bucket(Bucket="ni")
    s3.put_object(Bucket="ni", Key="k", Body=b"1")
    for call in (
        lambda: s3.get_bucket_cors(Bucket="ni"),
        lambda: s3.get_bucket_lifecycle_configuration(Bucket="ni"),
        lambda: s3.get_object_tagging(Bucket="ni", Key="k"),
        lambda: s3.get_bucket_policy(Bucket="ni"),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert _code(refused) == ("NotImplemented", 501)
    malformed = make_client(s3gw.url)
    malformed.meta.events.register(
        "before-sign.s3.DeleteObjects", lambda request, **kw: setattr(request, "data", b"<Delete><Object>")
    )
    with pytest.raises(ClientError) as bad:
        malformed.delete_objects(Bucket="ni", Delete={"Objects": [{"Key": "k"}]})
    assert _code(bad) == ("MalformedXML", 400)
    assert s3.head_object(Bucket="ni", Key="k")["ContentLength"] == 1


def test_virtual_host_addressing(s3gw: S3Gateway) -> None:
    client = make_client(f"http://localhost:{s3gw.port}", s3={"addressing_style": "virtual"})
    seen: list[str] = []

    def to_loopback(request: Any, **kw: Any) -> None:
        # *.localhost may not resolve on this machine: keep the signed Host, connect to 127.0.0.1.
        netloc = urlsplit(request.url).netloc
        seen.append(netloc)
        request.url = request.url.replace(netloc, f"127.0.0.1:{s3gw.port}", 1)
        request.headers["Host"] = netloc

    client.meta.events.register("before-send.s3", to_loopback)
    client.create_bucket(Bucket="vhost")
    client.put_object(Bucket="vhost", Key="a/b.txt", Body=b"virtual")
    assert client.get_object(Bucket="vhost", Key="a/b.txt")["Body"].read() == b"virtual"
    assert [o["Key"] for o in client.list_objects_v2(Bucket="vhost")["Contents"]] == ["a/b.txt"]
    assert f"vhost.localhost:{s3gw.port}" in seen
    path_style = make_client(s3gw.url)
    assert path_style.get_object(Bucket="vhost", Key="a/b.txt")["Body"].read() == b"virtual"


def test_signed_body_hashes_are_checked(s3: Any, s3gw: S3Gateway) -> None:
    s3.create_bucket(Bucket="hashes")
    s3.put_object(Bucket="hashes", Key="keep", Body=b"1")
    signed_for = b"<Delete><Object><Key>other</Key></Object></Delete>"
    sent = b"<Delete><Object><Key>keep</Key></Object></Delete>"
    headers = sign_v4("POST", s3gw.url, "/hashes", hashlib.sha256(signed_for).hexdigest(), query="delete=")
    answer = httpx.post(s3gw.url + "/hashes?delete", content=sent, headers=headers)
    assert answer.status_code == 400 and "<Code>XAmzContentSHA256Mismatch</Code>" in answer.text
    body = b"x" * 300_000
    headers = sign_v4("PUT", s3gw.url, "/hashes/put", hashlib.sha256(b"y" * 300_000).hexdigest())
    answer = httpx.put(s3gw.url + "/hashes/put", content=body, headers=headers)
    assert answer.status_code == 400 and "<Code>XAmzContentSHA256Mismatch</Code>" in answer.text
    # The signed SHA-256 is checked against the store's own digest of the bytes: a right one
    # stores the object, a wrong one stores nothing (nor a part of an upload).
    headers = sign_v4("PUT", s3gw.url, "/hashes/small", hashlib.sha256(b"y").hexdigest())
    answer = httpx.put(s3gw.url + "/hashes/small", content=b"x", headers=headers)
    assert answer.status_code == 400 and "<Code>XAmzContentSHA256Mismatch</Code>" in answer.text
    headers = sign_v4("PUT", s3gw.url, "/hashes/signed", hashlib.sha256(body).hexdigest())
    assert httpx.put(s3gw.url + "/hashes/signed", content=body, headers=headers).status_code == 200
    assert s3.get_object(Bucket="hashes", Key="signed")["Body"].read() == body
    upload = s3.create_multipart_upload(Bucket="hashes", Key="parts")["UploadId"]
    query = f"partNumber=1&uploadId={upload}"
    headers = sign_v4("PUT", s3gw.url, "/hashes/parts", hashlib.sha256(b"y").hexdigest(), query=query)
    answer = httpx.put(f"{s3gw.url}/hashes/parts?{query}", content=body, headers=headers)
    assert answer.status_code == 400 and "<Code>XAmzContentSHA256Mismatch</Code>" in answer.text
    assert s3.list_parts(Bucket="hashes", Key="parts", UploadId=upload).get("Parts", []) == []
    s3.abort_multipart_upload(Bucket="hashes", Key="parts", UploadId=upload)
    s3.delete_object(Bucket="hashes", Key="signed")
    headers = sign_v4("PUT", s3gw.url, "/hashes/unsigned", "UNSIGNED-PAYLOAD")
    assert httpx.put(s3gw.url + "/hashes/unsigned", content=body, headers=headers).status_code == 200
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="hashes")["Contents"]] == ["keep", "unsigned"]

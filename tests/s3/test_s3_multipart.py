"""Multipart uploads through boto3, against a gateway in front of both servers: the happy
path (bytes, S3's ``-N`` ETag, headers kept), each error of CompleteMultipartUpload,
Abort, ListParts and ListMultipartUploads, UploadPartCopy, parts hidden from listings,
and an upload that outlives its gateway."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import xml.etree.ElementTree as ET
import zlib
from types import SimpleNamespace
from typing import Any

import google_crc32c
import nats
import pytest
from botocore.exceptions import ClientError
from tests.s3.s3helpers import S3Gateway, streaming_put

from orlop.gateway.s3 import multipart
from orlop.gateway.s3.errors import S3Error
from orlop.gateway.s3.multipart_list import select_uploads
from orlop.gateway.s3.uploads import Upload

MIB = 1 << 20


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _multipart_etag(parts: list[bytes]) -> str:
    joined = b"".join(hashlib.md5(p, usedforsecurity=False).digest() for p in parts)
    return f'"{_md5(joined)}-{len(parts)}"'


def _upload(s3: Any, bucket: str, key: str, upload_id: str, parts: list[bytes]) -> list[dict[str, Any]]:
    done = []
    for number, data in enumerate(parts, 1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data)[
            "ETag"
        ]
        assert etag == f'"{_md5(data)}"'
        done.append({"PartNumber": number, "ETag": etag})
    return done


@pytest.fixture
def bucket(s3: Any) -> str:
    s3.create_bucket(Bucket="mpu")
    return "mpu"


async def _stream_state(url: str, bucket: str) -> tuple[int, list[str], int]:
    """The bucket's message count, meta subjects, and the chunks its objects need (nats-py)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(f"OBJ_{bucket}", subjects_filter=f"$O.{bucket}.M.>")
        store = await js.object_store(bucket)
        chunks = sum(o.chunks or 0 for o in await store.list())
        return info.state.messages, sorted(info.state.subjects or {}), chunks
    finally:
        await nc.close()


def test_multipart_happy_path_and_part_copy(s3: Any, s3gw: S3Gateway, bucket: str) -> None:
    parts = [os.urandom(5 * MIB) for _ in range(3)] + [os.urandom(123_457)]
    created = s3.create_multipart_upload(
        Bucket=bucket, Key="big/file.bin", ContentType="application/x-big", Metadata={"who": "alice"}
    )
    upload_id = created["UploadId"]
    assert created["Key"] == "big/file.bin" and created["Bucket"] == bucket
    done = _upload(s3, bucket, "big/file.bin", upload_id, parts[:3])
    md5 = base64.b64encode(hashlib.md5(parts[3], usedforsecurity=False).digest()).decode()
    last = s3.upload_part(
        Bucket=bucket, Key="big/file.bin", UploadId=upload_id, PartNumber=4, Body=parts[3], ContentMD5=md5
    )
    done.append({"PartNumber": 4, "ETag": last["ETag"]})
    # Parts in progress are not objects S3 clients see.
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert "CommonPrefixes" not in s3.list_objects(Bucket=bucket, Delimiter="/")
    result = s3.complete_multipart_upload(
        Bucket=bucket, Key="big/file.bin", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    etag = _multipart_etag(parts)
    assert result["ETag"] == etag and result["Key"] == "big/file.bin"
    got = s3.get_object(Bucket=bucket, Key="big/file.bin")
    assert got["Body"].read() == b"".join(parts)
    assert got["ETag"] == etag and got["ContentType"] == "application/x-big"
    assert got["Metadata"] == {"who": "alice"}
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["ETag"], o["Size"]) for o in listed] == [("big/file.bin", etag, 15 * MIB + 123_457)]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as gone:
        s3.list_parts(Bucket=bucket, Key="big/file.bin", UploadId=upload_id)
    assert _code(gone) == ("NoSuchUpload", 404)
    # Nothing of the upload is left in the stream: one meta, and the final object's chunks.
    messages, metas, chunks = asyncio.run(_stream_state(s3gw.nats_url, bucket))
    assert metas == ["$O.mpu.M." + base64.urlsafe_b64encode(b"big/file.bin").decode()]
    assert messages == chunks + 1

    # UploadPartCopy: a range of that object, then all of it.
    source = b"".join(parts)
    copy_id = s3.create_multipart_upload(Bucket=bucket, Key="copied.bin")["UploadId"]
    first = s3.upload_part_copy(
        Bucket=bucket,
        Key="copied.bin",
        UploadId=copy_id,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "big/file.bin"},
        CopySourceRange=f"bytes=1-{5 * MIB}",
    )["CopyPartResult"]
    assert first["ETag"] == f'"{_md5(source[1 : 5 * MIB + 1])}"'
    second = s3.upload_part_copy(
        Bucket=bucket, Key="copied.bin", UploadId=copy_id, PartNumber=2, CopySource=f"{bucket}/big/file.bin"
    )["CopyPartResult"]
    assert second["ETag"] == f'"{_md5(source)}"'
    with pytest.raises(ClientError) as past_end:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="copied.bin",
            UploadId=copy_id,
            PartNumber=3,
            CopySource=f"{bucket}/big/file.bin",
            CopySourceRange=f"bytes=0-{len(source)}",
        )
    assert _code(past_end) == ("InvalidArgument", 400)
    copied = [{"PartNumber": 1, "ETag": first["ETag"]}, {"PartNumber": 2, "ETag": second["ETag"]}]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="copied.bin", UploadId=copy_id, MultipartUpload={"Parts": copied}
    )
    got = s3.get_object(Bucket=bucket, Key="copied.bin")
    assert got["Body"].read() == source[1 : 5 * MIB + 1] + source
    assert got["ETag"] == _multipart_etag([source[1 : 5 * MIB + 1], source])


def test_errors_and_aws_chunked_parts(s3: Any, s3gw: S3Gateway, bucket: str) -> None:
    key = "errs.bin"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    small = _upload(s3, bucket, key, upload_id, [b"a" * 1000, b"b" * 1000])

    def complete(parts: list[dict[str, Any]], uid: str = upload_id) -> Any:
        return s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts}
        )

    with pytest.raises(ClientError) as order:
        complete(small[::-1])
    assert _code(order) == ("InvalidPartOrder", 400)
    with pytest.raises(ClientError) as twice:
        complete([small[0], small[0]])
    assert _code(twice) == ("InvalidPartOrder", 400)
    with pytest.raises(ClientError) as wrong_etag:
        complete([{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}])
    assert _code(wrong_etag) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as missing:
        complete([small[0], {"PartNumber": 3, "ETag": small[1]["ETag"]}])
    assert _code(missing) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as too_small:
        complete(small)
    assert _code(too_small) == ("EntityTooSmall", 400)
    with pytest.raises(ClientError) as no_upload:
        complete(small, uid="0" * 32)
    assert _code(no_upload) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as other_key:
        s3.list_parts(Bucket=bucket, Key="another-key", UploadId=upload_id)
    assert _code(other_key) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as bad_number:
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=10001, Body=b"x")
    assert _code(bad_number) == ("InvalidArgument", 400)
    wrong_md5 = base64.b64encode(b"\0" * 16).decode()
    with pytest.raises(ClientError) as bad_digest:
        s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=3, Body=b"x", ContentMD5=wrong_md5
        )
    assert _code(bad_digest) == ("BadDigest", 400)
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"]] == [
        1,
        2,
    ]
    # Nothing was written by the failed completions; a single (small) part completes.
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert complete(small[1:])["ETag"] == _multipart_etag([b"b" * 1000])
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"b" * 1000
    with pytest.raises(ClientError) as completed:
        complete(small[1:])
    assert _code(completed) == ("NoSuchUpload", 404)
    _aws_chunked_part(s3, s3gw, bucket)


def test_abort_and_listings(s3: Any, s3gw: S3Gateway, bucket: str) -> None:
    ids = {}
    for key in ("a/one", "a/two", "b/three"):
        ids[key] = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    second = s3.create_multipart_upload(Bucket=bucket, Key="a/one")["UploadId"]
    _upload(s3, bucket, "a/one", ids["a/one"], [b"1" * 10, b"2" * 20, b"3" * 30])
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [
        ("a/one", ids["a/one"]),
        ("a/one", second),
        ("a/two", ids["a/two"]),
        ("b/three", ids["b/three"]),
    ]
    rolled = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/", "b/"] and "Uploads" not in rolled
    page = s3.list_multipart_uploads(Bucket=bucket, Prefix="a/", MaxUploads=2)
    assert page["IsTruncated"] and [u["UploadId"] for u in page["Uploads"]] == [ids["a/one"], second]
    rest = s3.list_multipart_uploads(
        Bucket=bucket, Prefix="a/", KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"]
    )
    assert [u["Key"] for u in rest["Uploads"]] == ["a/two"] and not rest["IsTruncated"]
    parts = s3.list_parts(Bucket=bucket, Key="a/one", UploadId=ids["a/one"], MaxParts=2)
    assert [(p["PartNumber"], p["Size"]) for p in parts["Parts"]] == [(1, 10), (2, 20)] and parts[
        "IsTruncated"
    ]
    more = s3.list_parts(
        Bucket=bucket, Key="a/one", UploadId=ids["a/one"], PartNumberMarker=parts["NextPartNumberMarker"]
    )
    assert [p["PartNumber"] for p in more["Parts"]] == [3] and not more["IsTruncated"]
    assert more["Parts"][0]["ETag"] == f'"{_md5(b"3" * 30)}"'
    s3.abort_multipart_upload(Bucket=bucket, Key="a/one", UploadId=ids["a/one"])
    with pytest.raises(ClientError) as aborted:
        s3.upload_part(Bucket=bucket, Key="a/one", UploadId=ids["a/one"], PartNumber=4, Body=b"late")
    assert _code(aborted) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as again:
        s3.abort_multipart_upload(Bucket=bucket, Key="a/one", UploadId=ids["a/one"])
    assert _code(again) == ("NoSuchUpload", 404)
    left = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert sorted(u["UploadId"] for u in left) == sorted([second, ids["a/two"], ids["b/three"]])
    _, metas, _ = asyncio.run(_stream_state(s3gw.nats_url, bucket))
    assert len(metas) == 3  # the three other uploads' records: the aborted one's parts are gone
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    with pytest.raises(ClientError) as reserved:
        s3.put_object(Bucket=bucket, Key=".orlop-s3-mpu/" + second, Body=b"x")
    assert _code(reserved) == ("InvalidArgument", 400)


def test_upload_survives_a_gateway_restart(s3: Any, s3gw: S3Gateway, bucket: str, tmp_path: Any) -> None:
    parts = [os.urandom(5 * MIB), b"tail"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="survivor")["UploadId"]
    done = _upload(s3, bucket, "survivor", upload_id, parts[:1])
    s3gw.process.stop()
    s3gw.process.start(tmp_path)
    done += [
        {
            "PartNumber": 2,
            "ETag": s3.upload_part(
                Bucket=bucket, Key="survivor", UploadId=upload_id, PartNumber=2, Body=parts[1]
            )["ETag"],
        }
    ]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [upload_id]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="survivor", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    assert s3.get_object(Bucket=bucket, Key="survivor")["Body"].read() == b"".join(parts)


def test_select_uploads_pages_and_rolls_up() -> None:
    found = [
        Upload(f"{i:032x}", key, {}, {}, i) for i, key in enumerate(["a/1", "a/2", "b", "c/1", "c/2", "d"])
    ]
    entries, more = select_uploads(found, prefix="", delimiter="/", key_marker="", id_marker="", limit=3)
    assert [e[0] for e in entries] == ["a/", "b", "c/"] and more
    entries, more = select_uploads(found, prefix="", delimiter="/", key_marker="c/", id_marker="", limit=3)
    assert [e[0] for e in entries] == ["d"] and not more
    entries, _ = select_uploads(found, prefix="c/", delimiter="", key_marker="c/1", id_marker="", limit=9)
    assert [e[0] for e in entries] == ["c/2"]


def _aws_chunked_part(s3: Any, s3gw: S3Gateway, bucket: str) -> None:
    """An UploadPart body in aws-chunked encoding with chunk signatures, as PutObject takes it."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="chunked")["UploadId"]
    data = os.urandom(300_000)
    query = f"partNumber=1&uploadId={upload_id}"
    answer = streaming_put(s3gw.url, f"/{bucket}/chunked", data, 65536, query=query)
    assert answer.status_code == 200, answer.text
    assert answer.headers["etag"] == f'"{_md5(data)}"'
    broken = streaming_put(s3gw.url, f"/{bucket}/chunked", data, 65536, query=query, break_chunk=2)
    assert broken.status_code == 403 and "SignatureDoesNotMatch" in broken.text
    parts = s3.list_parts(Bucket=bucket, Key="chunked", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in parts] == [(1, f'"{_md5(data)}"')]  # the good one stayed
    done = [{"PartNumber": 1, "ETag": answer.headers["etag"]}]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="chunked", UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == data


async def test_slow_complete_keeps_the_connection_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Complete that outlasts KEEPALIVE_AFTER: 200 with spaces, then the result or an <Error>."""
    monkeypatch.setattr(multipart, "KEEPALIVE_AFTER", 0.01)
    ctx = SimpleNamespace(bucket="b", key="k", request_id="R1")

    async def body(outcome: Any) -> bytes:
        async def work() -> tuple[bytes, dict[str, str]]:
            await asyncio.sleep(0.05)
            if isinstance(outcome, Exception):
                raise outcome
            return b'<?xml version="1.0" encoding="UTF-8"?>\n<Result>done</Result>', {}

        return b"".join([piece async for piece in multipart._keepalive(asyncio.ensure_future(work()), ctx)])

    good = await body(None)
    assert (
        good.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n ') and ET.fromstring(good).text == "done"
    )
    bad = ET.fromstring(await body(S3Error("InternalError", "the parts went away")))
    assert (
        bad.tag == "Error" and bad.findtext("Code") == "InternalError" and bad.findtext("RequestId") == "R1"
    )


def test_part_checksums_are_kept_and_checked_on_complete(s3: Any, bucket: str) -> None:
    key = "sums.bin"
    data = [os.urandom(5 * MIB), os.urandom(1000)]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32")["UploadId"]
    parts = []
    for number, body in enumerate(data, 1):
        got = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="CRC32",
        )
        expected = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
        assert got["ChecksumCRC32"] == expected  # S3 echoes the part's checksum
        parts.append({"PartNumber": number, "ETag": got["ETag"], "ChecksumCRC32": expected})

    def complete(listed: list[dict[str, Any]]) -> Any:
        return s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listed}
        )

    # A checksum listed for a part must be the one it was stored with; another algorithm
    # than the part's, or one it never had, is no match either.
    for wrong in (
        {**parts[0], "ChecksumCRC32": base64.b64encode(b"\0\0\0\0").decode()},
        {"PartNumber": 1, "ETag": parts[0]["ETag"], "ChecksumSHA1": base64.b64encode(b"\0" * 20).decode()},
    ):
        with pytest.raises(ClientError) as mismatch:
            complete([wrong, parts[1]])
        assert _code(mismatch) == ("InvalidPart", 400)
        assert "checksum" in mismatch.value.response["Error"]["Message"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    done = complete(parts)
    raw = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in data)
    assert done["ChecksumCRC32"] == base64.b64encode(zlib.crc32(raw).to_bytes(4, "big")).decode() + "-2"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"".join(data)


def test_put_object_checks_the_checksum_it_is_given(s3: Any, bucket: str) -> None:
    body = os.urandom(300_000)
    for algorithm, param, value in [
        ("SHA256", "ChecksumSHA256", hashlib.sha256(body).digest()),
        ("SHA1", "ChecksumSHA1", hashlib.sha1(body).digest()),
        ("CRC32C", "ChecksumCRC32C", google_crc32c.value(body).to_bytes(4, "big")),
    ]:
        encoded = base64.b64encode(value).decode()
        got = s3.put_object(Bucket=bucket, Key=f"sum-{algorithm}", Body=body, **{param: encoded})
        assert got[param] == encoded
        with pytest.raises(ClientError) as bad:
            s3.put_object(Bucket=bucket, Key=f"bad-{algorithm}", Body=body + b"!", **{param: encoded})
        assert _code(bad) == ("BadDigest", 400) and algorithm in bad.value.response["Error"]["Message"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["sum-CRC32C", "sum-SHA1", "sum-SHA256"]

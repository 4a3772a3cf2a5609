"""GetObject / HeadObject with ``partNumber`` through boto3, on both servers: the parts of a
completed multipart upload (their sizes kept in the object's headers) and single-part objects."""

from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from orlop.gateway.s3.parts import decode_sizes, encode_sizes

MIB = 1 << 20


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_sizes_encoding() -> None:
    sizes = [5 * MIB] * 39 + [1234]
    assert encode_sizes(sizes) == f"{5 * MIB}*39,1234"
    assert decode_sizes(encode_sizes(sizes)) == sizes
    assert decode_sizes("7") == [7] and decode_sizes("x*2") is None and decode_sizes("1*20000") is None


def test_part_number_of_a_multipart_object(s3: Any) -> None:
    s3.create_bucket(Bucket="pn")
    pieces = [os.urandom(5 * MIB), os.urandom(5 * MIB + 17), os.urandom(1000)]
    upload = s3.create_multipart_upload(Bucket="pn", Key="mp")["UploadId"]
    etags = [
        s3.upload_part(Bucket="pn", Key="mp", UploadId=upload, PartNumber=n, Body=body)["ETag"]
        for n, body in enumerate(pieces, 1)
    ]
    s3.complete_multipart_upload(
        Bucket="pn",
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    whole = s3.head_object(Bucket="pn", Key="mp")
    total = sum(len(p) for p in pieces)
    start = 0
    for n, body in enumerate(pieces, 1):
        got = s3.get_object(Bucket="pn", Key="mp", PartNumber=n)
        assert got["Body"].read() == body
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206 and got["PartsCount"] == 3
        assert got["ContentRange"] == f"bytes {start}-{start + len(body) - 1}/{total}"
        assert got["ETag"] == whole["ETag"]  # the object's ETag, not the part's
        head = s3.head_object(Bucket="pn", Key="mp", PartNumber=n)
        assert head["ContentLength"] == len(body) and head["PartsCount"] == 3
        start += len(body)
    with pytest.raises(ClientError) as past:
        s3.get_object(Bucket="pn", Key="mp", PartNumber=4)
    assert _code(past) == ("InvalidPartNumber", 416)
    with pytest.raises(ClientError) as both:
        s3.get_object(Bucket="pn", Key="mp", PartNumber=1, Range="bytes=0-1")
    assert _code(both) == ("InvalidRequest", 400)
    # Metadata edits (a COPY onto itself with REPLACE) keep Orlop- headers, but the copy is one part.
    s3.copy_object(
        Bucket="pn", Key="mp", CopySource="pn/mp", MetadataDirective="REPLACE", Metadata={"a": "b"}
    )
    assert "PartsCount" not in s3.head_object(Bucket="pn", Key="mp", PartNumber=1)


def test_part_number_of_a_single_part_object(s3: Any) -> None:
    s3.create_bucket(Bucket="pn1")
    s3.put_object(Bucket="pn1", Key="k", Body=b"0123456789")
    got = s3.get_object(Bucket="pn1", Key="k", PartNumber=1)
    assert got["Body"].read() == b"0123456789" and got["ContentRange"] == "bytes 0-9/10"
    assert "PartsCount" not in got
    assert s3.head_object(Bucket="pn1", Key="k", PartNumber=1)["ContentLength"] == 10
    with pytest.raises(ClientError) as past:
        s3.head_object(Bucket="pn1", Key="k", PartNumber=2)
    assert past.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    with pytest.raises(ClientError) as bad:
        s3.get_object(Bucket="pn1", Key="k", PartNumber=0)
    assert _code(bad) == ("InvalidArgument", 400)

"""The S3 API's pure parts, without sockets: SigV4 against AWS's published examples, the
aws-chunked decoder with its chained chunk signatures, and the listing's page walk."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import google_crc32c
import pytest

from orlop.gateway.s3 import checksums, sigv4
from orlop.gateway.s3.body import BodySpec, CheckedBody, decode_md5
from orlop.gateway.s3.context import split_target
from orlop.gateway.s3.errors import S3Error
from orlop.gateway.s3.listing import walk

# AWS's documentation examples (Signature Version 4 for S3): these keys and signatures are theirs.
AKID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
WHEN = datetime(2013, 5, 24, 0, 0, 10, tzinfo=UTC)


def _headers(**items: str) -> dict[str, list[str]]:
    return {k.replace("_", "-"): [v] for k, v in items.items()}


def test_header_signature_matches_aws_get_object_example() -> None:
    headers = _headers(
        host="examplebucket.s3.amazonaws.com",
        range="bytes=0-9",
        x_amz_content_sha256=sigv4.EMPTY_SHA256,
        x_amz_date="20130524T000000Z",
        authorization=(
            f"AWS4-HMAC-SHA256 Credential={AKID}/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        ),
    )
    signed = sigv4.verify(
        method="GET", raw_path="/test.txt", raw_query="", headers=headers, secrets={AKID: SECRET}, now=WHEN
    )
    assert signed.access_key == AKID and signed.payload == sigv4.EMPTY_SHA256
    with pytest.raises(S3Error) as bad:
        sigv4.verify(
            method="GET",
            raw_path="/test.txt",
            raw_query="",
            headers=headers,
            secrets={AKID: "other"},
            now=WHEN,
        )
    assert bad.value.code == "SignatureDoesNotMatch" and bad.value.status == 403
    with pytest.raises(S3Error) as unknown:
        sigv4.verify(method="GET", raw_path="/test.txt", raw_query="", headers=headers, secrets={}, now=WHEN)
    assert unknown.value.code == "InvalidAccessKeyId"
    later = datetime(2013, 5, 24, 0, 16, tzinfo=UTC)
    with pytest.raises(S3Error) as skewed:
        sigv4.verify(
            method="GET",
            raw_path="/test.txt",
            raw_query="",
            headers=headers,
            secrets={AKID: SECRET},
            now=later,
        )
    assert skewed.value.code == "RequestTimeTooSkewed"


def test_presigned_url_matches_aws_example() -> None:
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={AKID}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )
    headers = _headers(host="examplebucket.s3.amazonaws.com")
    day_later = datetime(2013, 5, 24, 23, 0, tzinfo=UTC)
    signed = sigv4.verify(
        method="GET",
        raw_path="/test.txt",
        raw_query=query,
        headers=headers,
        secrets={AKID: SECRET},
        now=day_later,
    )
    assert signed.payload == sigv4.UNSIGNED
    expired = datetime(2013, 5, 25, 0, 0, 1, tzinfo=UTC)
    with pytest.raises(S3Error) as late:
        sigv4.verify(
            method="GET",
            raw_path="/test.txt",
            raw_query=query,
            headers=headers,
            secrets={AKID: SECRET},
            now=expired,
        )
    assert late.value.code == "AccessDenied" and "expired" in late.value.message


def test_unsigned_request_is_access_denied() -> None:
    with pytest.raises(S3Error) as denied:
        sigv4.verify(
            method="GET", raw_path="/", raw_query="", headers=_headers(host="h"), secrets={AKID: SECRET}
        )
    assert denied.value.code == "AccessDenied"


def test_canonical_query_sorts_and_encodes() -> None:
    assert sigv4.canonical_query("prefix=a%2Fb c&list-type=2&delimiter=%2F&x") == (
        "delimiter=%2F&list-type=2&prefix=a%2Fb%20c&x="
    )


async def _feed(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
        await asyncio.sleep(0)


def _streaming_signed(seed: str) -> sigv4.Signed:
    key = sigv4.signing_key(SECRET, "20130524", "us-east-1")
    scope = "20130524/us-east-1/s3/aws4_request"
    return sigv4.Signed(AKID, sigv4.STREAMING, key, scope, "20130524T000000Z", seed)


# AWS's aws-chunked example: 64 KiB + 1 KiB of 'a', seed and chunk signatures as published.
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGS = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]


def _chunked(sizes: list[int], sigs: list[str]) -> bytes:
    out = b""
    for size, sig in zip([*sizes, 0], sigs, strict=True):
        out += f"{size:x};chunk-signature={sig}\r\n".encode() + b"a" * size + b"\r\n"
    return out


@pytest.mark.parametrize("piece", [1, 7, 8192, 1 << 20])
async def test_aws_chunked_example_decodes_in_any_pieces(piece: int) -> None:
    raw = _chunked([65536, 1024], CHUNK_SIGS)
    body = CheckedBody(
        _feed([raw[i : i + piece] for i in range(0, len(raw), piece)]),
        BodySpec(_streaming_signed(SEED), 66560),
    )
    got = b"".join([p async for p in body])
    assert got == b"a" * 66560
    assert body.md5 == hashlib.md5(got, usedforsecurity=False).hexdigest()


async def test_aws_chunked_bad_chunk_signature_fails() -> None:
    sigs = [*CHUNK_SIGS[:1], "0" * 64, CHUNK_SIGS[2]]
    body = CheckedBody(_feed([_chunked([65536, 1024], sigs)]), BodySpec(_streaming_signed(SEED), 66560))
    with pytest.raises(S3Error) as bad:
        _ = [p async for p in body]
    assert bad.value.code == "SignatureDoesNotMatch"


async def test_unsigned_trailer_body_checks_its_crc32() -> None:
    data = b"hello world" * 1000
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    raw = f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n" + f"x-amz-checksum-crc32:{crc}\r\n\r\n".encode()
    signed = sigv4.Signed(AKID, sigv4.STREAMING_UNSIGNED, b"", "", "", "")
    announced = checksums.requested({"x-amz-trailer": "x-amz-checksum-crc32"})
    assert announced == checksums.Checksum("crc32", None)
    body = CheckedBody(_feed([raw]), BodySpec(signed, len(data), checksum=announced))
    assert b"".join([p async for p in body]) == data
    assert body.checksum == crc and body.answer_headers() == {"x-amz-checksum-crc32": crc}
    assert body.stored_headers() == {checksums.CHECKSUM_HEADER: f"CRC32 {crc}"}
    wrong = raw.replace(crc.encode(), b"AAAAAA==")
    with pytest.raises(S3Error) as bad:
        _ = [p async for p in CheckedBody(_feed([wrong]), BodySpec(signed, len(data), checksum=announced))]
    assert bad.value.code == "BadDigest"
    # A checksum trailer nobody announced is not checked, so it is refused, not ignored.
    with pytest.raises(S3Error) as unannounced:
        _ = [p async for p in CheckedBody(_feed([raw]), BodySpec(signed, len(data)))]
    assert unannounced.value.code == "InvalidRequest"
    # Announced but never sent.
    bare = f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n"
    with pytest.raises(S3Error) as missing:
        _ = [p async for p in CheckedBody(_feed([bare]), BodySpec(signed, len(data), checksum=announced))]
    assert missing.value.code == "InvalidRequest"


@pytest.mark.parametrize(
    ("algorithm", "compute"),
    [
        ("crc32", lambda d: zlib.crc32(d).to_bytes(4, "big")),
        ("crc32c", lambda d: google_crc32c.value(d).to_bytes(4, "big")),
        ("sha1", lambda d: hashlib.sha1(d).digest()),
        ("sha256", lambda d: hashlib.sha256(d).digest()),
    ],
)
async def test_every_checksum_header_is_checked(algorithm: str, compute: Any) -> None:
    data = os.urandom(3 << 20)  # several hashing jobs
    value = base64.b64encode(compute(data)).decode()
    spec = checksums.requested({f"x-amz-checksum-{algorithm}": value, "x-amz-checksum-mode": "ENABLED"})
    assert spec == checksums.Checksum(algorithm, value)
    signed = sigv4.Signed(AKID, sigv4.UNSIGNED, b"", "", "", "")
    pieces = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    body = CheckedBody(_feed(pieces), BodySpec(signed, len(data), checksum=spec))
    assert b"".join([p async for p in body]) == data and body.checksum == value
    other = checksums.Checksum(algorithm, base64.b64encode(compute(b"other")).decode())
    with pytest.raises(S3Error) as bad:
        _ = [p async for p in CheckedBody(_feed(pieces), BodySpec(signed, len(data), checksum=other))]
    assert bad.value.code == "BadDigest" and algorithm.upper() in bad.value.message


def test_checksum_headers_that_cannot_be_honoured_are_refused() -> None:
    assert checksums.requested({"x-amz-checksum-algorithm": "CRC32", "content-type": "a/b"}) is None
    for headers, code in [
        ({"x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-sha1": "x"}, "InvalidRequest"),
        ({"x-amz-checksum-crc32": "AAAAAA==", "x-amz-trailer": "x-amz-checksum-crc32"}, "InvalidRequest"),
        ({"x-amz-checksum-crc64nvme": "AAAAAAAAAAA="}, "NotImplemented"),
        ({"x-amz-trailer": "x-amz-checksum-crc64nvme"}, "NotImplemented"),
        ({"x-amz-checksum-md4": "x"}, "InvalidRequest"),
    ]:
        with pytest.raises(S3Error) as refused:
            checksums.requested(headers)
        assert refused.value.code == code, headers


def test_composite_checksum_is_the_checksum_of_the_part_checksums() -> None:
    parts = [os.urandom(1000) for _ in range(3)]
    raw = [zlib.crc32(p).to_bytes(4, "big") for p in parts]
    values = [base64.b64encode(r).decode() for r in raw]
    expected = base64.b64encode(zlib.crc32(b"".join(raw)).to_bytes(4, "big")).decode()
    assert checksums.composite("crc32", values) == f"{expected}-3"


async def test_plain_body_checks_md5_and_length_and_hands_the_sha256_on() -> None:
    data = b"x" * 1000
    sha = hashlib.sha256(data).hexdigest()
    signed = sigv4.Signed(AKID, sha, b"", "", "", "")
    md5 = hashlib.md5(data, usedforsecurity=False).digest()
    ok = CheckedBody(_feed([data[:10], data[10:]]), BodySpec(signed, 1000, content_md5=md5))
    assert len(b"".join([p async for p in ok])) == 1000
    assert ok.md5 == md5.hex()
    # The signed SHA-256 is the put's to check (against the store's own digest of the bytes);
    # an unsigned or aws-chunked body has none to hand on.
    assert ok.expected_sha256 == sha
    unsigned = sigv4.Signed(AKID, sigv4.UNSIGNED, b"", "", "", "")
    assert CheckedBody(_feed([data]), BodySpec(unsigned, 1000)).expected_sha256 is None
    streaming = sigv4.Signed(AKID, sigv4.STREAMING, b"", "", "", "")
    assert CheckedBody(_feed([data]), BodySpec(streaming, 1000)).expected_sha256 is None
    for spec, code in [
        (BodySpec(signed, 1000, content_md5=hashlib.md5(b"no", usedforsecurity=False).digest()), "BadDigest"),
        (BodySpec(signed, 2000), "IncompleteBody"),
        (BodySpec(signed, 1000, max_size=999), "EntityTooLarge"),
    ]:
        with pytest.raises(S3Error) as bad:
            _ = [p async for p in CheckedBody(_feed([data]), spec)]
        assert bad.value.code == code
    with pytest.raises(S3Error) as invalid:
        decode_md5("not base64!")
    assert invalid.value.code == "InvalidDigest"


def test_walk_rolls_up_and_resumes() -> None:
    names = sorted(["a", "b/1", "b/2", "b/c/3", "c", "d/1", "e"])
    assert list(walk(names, "", "/", "")) == [
        ("key", "a"), ("prefix", "b/"), ("key", "c"), ("prefix", "d/"), ("key", "e"),
    ]  # fmt: skip
    assert list(walk(names, "", "/", "b/")) == [("key", "c"), ("prefix", "d/"), ("key", "e")]
    assert list(walk(names, "b/", "/", "")) == [("key", "b/1"), ("key", "b/2"), ("prefix", "b/c/")]
    assert list(walk(names, "b", "", "b/1")) == [("key", "b/2"), ("key", "b/c/3")]


def test_virtual_host_and_path_style() -> None:
    assert split_target("docs.localhost:9000", "/a/b.txt", ("localhost",)) == ("docs", "a/b.txt")
    assert split_target("127.0.0.1:9000", "/docs/a/b%20c.txt", ("localhost",)) == ("docs", "a/b c.txt")
    assert split_target("localhost:9000", "/docs", ("localhost",)) == ("docs", "")
    assert split_target("docs.s3.example.com", "/", ("localhost", "s3.example.com")) == ("docs", "")

"""The service and bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
GetBucketLocation, ListObjectsV2 and ListObjects (v1).

Bucket names map one to one onto object store bucket names (``OBJ_<name>`` streams),
which allow letters, digits, ``-`` and ``_``: an S3 name with a dot cannot be held and
is InvalidBucketName; existing buckets with upper case or ``_`` are served as they are
(boto3 accepts them; strict S3 naming would not). See docs/s3.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from urllib.parse import quote

from starlette.responses import Response

from orlop.errors import BucketExists, BucketNotFound
from orlop.gateway.s3 import listing, sigv4
from orlop.gateway.s3.bucket_settings import bucket_options
from orlop.gateway.s3.context import S3Request
from orlop.gateway.s3.errors import S3Error
from orlop.gateway.s3.etags import etag_of
from orlop.gateway.s3.unkept import refuse_unkept
from orlop.gateway.s3.xmlio import MAX_BODY, document, iso8601, parse, render, sub
from orlop.gateway.state import forget_bucket, open_bucket
from orlop.objects import Bucket

__all__ = [
    "REGION",
    "check_bucket_name",
    "create_bucket",
    "delete_bucket",
    "get_location",
    "head_bucket",
    "list_buckets",
    "list_objects",
    "open_s3_bucket",
    "read_small_body",
    "xml_response",
]  # fmt: skip

REGION = "us-east-1"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
OWNER_ID = "orlop"


def xml_response(root: object, status: int = 200) -> Response:
    return Response(render(root), status_code=status, media_type="application/xml")  # type: ignore[arg-type]


def check_bucket_name(name: str) -> str:
    """The object store bucket for an S3 bucket name; InvalidBucketName when it cannot be one."""
    if not _NAME.fullmatch(name):
        raise S3Error(
            "InvalidBucketName", f"The specified bucket is not valid: {name!r} (letters, digits, '-', '_')"
        )
    return name


async def open_s3_bucket(ctx: S3Request) -> Bucket:
    try:
        return await open_bucket(ctx.client, check_bucket_name(ctx.bucket))
    except BucketNotFound:
        raise S3Error("NoSuchBucket", "The specified bucket does not exist") from None


async def list_buckets(ctx: S3Request) -> Response:
    root = document("ListAllMyBucketsResult")
    owner = sub(root, "Owner")
    sub(owner, "ID", OWNER_ID)
    sub(owner, "DisplayName", OWNER_ID)
    buckets = sub(root, "Buckets")
    for name in sorted(await ctx.client.buckets()):
        try:
            bucket = await open_bucket(ctx.client, name)
        except BucketNotFound:
            continue  # deleted meanwhile
        entry = sub(buckets, "Bucket")
        sub(entry, "Name", name)
        sub(entry, "CreationDate", _created(bucket))
    return xml_response(root)


def _created(bucket: Bucket) -> str:
    text = str(bucket.stream_info.get("created", ""))
    return text[:23] + "Z" if len(text) > 23 else text or "1970-01-01T00:00:00.000Z"


async def create_bucket(ctx: S3Request) -> Response:
    name = check_bucket_name(ctx.bucket)
    refuse_unkept(ctx, bucket=True)
    body = await read_small_body(ctx)
    if body.strip():
        config = parse(body, "CreateBucketConfiguration")
        location = config.findtext("LocationConstraint")
        if location is not None and location.strip() not in ("", REGION):
            raise S3Error("InvalidLocationConstraint", f"this gateway has one region, {REGION}")
    options = bucket_options(ctx.request.headers)
    try:
        await ctx.client.create_bucket(name, **options)
    except BucketExists:
        raise S3Error(
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
        ) from None
    return Response(status_code=200, headers={"Location": f"/{name}"})


async def head_bucket(ctx: S3Request) -> Response:
    await open_s3_bucket(ctx)
    return Response(status_code=200, headers={"x-amz-bucket-region": REGION})


async def get_location(ctx: S3Request) -> Response:
    await open_s3_bucket(ctx)
    root = document("LocationConstraint")  # us-east-1 is answered as an empty constraint, as S3 does
    return xml_response(root)


async def delete_bucket(ctx: S3Request) -> Response:
    bucket = await open_s3_bucket(ctx)
    # Empty means what ListObjectVersions shows: in a versioned bucket (history > 1) every
    # retained revision and delete marker counts, as in S3; without history only live
    # objects do (the tombstones of deleted ones are no versions there). The uploads in
    # progress (hidden names) go with the bucket.
    if bucket.history > 1:
        names = await listing.object_names(bucket)
        if any(not name.startswith(listing.HIDDEN_PREFIX) for name in names):
            raise S3Error(
                "BucketNotEmpty",
                "The bucket you tried to delete is not empty. You must delete all versions in the bucket.",
            )
    page = await listing.list_page(bucket, prefix="", delimiter="", marker="", max_keys=1)
    if page.keys:
        raise S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty")
    await ctx.client.delete_bucket(bucket.name)
    forget_bucket(ctx.client, bucket.name)
    return Response(status_code=204)


async def read_small_body(ctx: S3Request) -> bytes:
    """A small request body (an XML document), its signed SHA-256 checked; aws-chunked refused."""
    if ctx.signed.streaming:
        raise S3Error("NotImplemented", "aws-chunked bodies are only taken by PutObject")
    parts, size = [], 0
    async for piece in ctx.request.stream():
        size += len(piece)
        if size > MAX_BODY:
            raise S3Error("MalformedXML", "the XML body is too large")
        parts.append(piece)
    body = b"".join(parts)
    payload = ctx.signed.payload
    if payload != sigv4.UNSIGNED and hashlib.sha256(body).hexdigest() != payload:
        raise S3Error(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    return body


def _int(ctx: S3Request, name: str, default: int) -> int:
    text = ctx.query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise S3Error("InvalidArgument", f"{name} must be an integer") from None
    if value < 0:
        raise S3Error("InvalidArgument", f"{name} must not be negative")
    return value


def _token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode("utf-8")).decode("ascii")


def _untoken(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect") from None


async def list_objects(ctx: S3Request) -> Response:
    """ListObjectsV2 (``list-type=2``) and ListObjects (v1): see :mod:`.listing` for the cost."""
    bucket = await open_s3_bucket(ctx)
    v2 = ctx.query.get("list-type") == "2"
    prefix, delimiter = ctx.query.get("prefix", ""), ctx.query.get("delimiter", "")
    max_keys = min(_int(ctx, "max-keys", 1000), 1000)
    encoding = ctx.query.get("encoding-type")
    if encoding not in (None, "url"):
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request")
    token = ctx.query.get("continuation-token")
    if v2:
        marker = _untoken(token) if token else ctx.query.get("start-after", "")
    else:
        marker = ctx.query.get("marker", "")
    page = await listing.list_page(
        bucket, prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys
    )

    def enc(text: str) -> str:
        return quote(text, safe="/") if encoding == "url" else text

    root = document("ListBucketResult")
    sub(root, "Name", ctx.bucket)
    sub(root, "Prefix", enc(prefix))
    if v2:
        if token:
            sub(root, "ContinuationToken", token)
        if "start-after" in ctx.query:
            sub(root, "StartAfter", enc(ctx.query["start-after"]))
        sub(root, "KeyCount", len(page.keys) + len(page.prefixes))
    else:
        sub(root, "Marker", enc(marker))
    sub(root, "MaxKeys", max_keys)
    if delimiter:
        sub(root, "Delimiter", enc(delimiter))
    if encoding:
        sub(root, "EncodingType", encoding)
    sub(root, "IsTruncated", page.truncated)
    if page.truncated:
        if v2:
            sub(root, "NextContinuationToken", _token(page.last))
        elif delimiter:
            sub(root, "NextMarker", enc(page.last))
    for info in page.keys:
        item = sub(root, "Contents")
        sub(item, "Key", enc(info.name))
        sub(item, "LastModified", iso8601(info.modified_ns))
        sub(item, "ETag", etag_of(info))
        sub(item, "Size", info.original_size)
        sub(item, "StorageClass", "STANDARD")
        if not v2 or ctx.query.get("fetch-owner") == "true":
            owner = sub(item, "Owner")
            sub(owner, "ID", OWNER_ID)
            sub(owner, "DisplayName", OWNER_ID)
    for common in page.prefixes:
        sub(sub(root, "CommonPrefixes"), "Prefix", enc(common))
    return xml_response(root)

"""CopyObject (PUT with ``x-amz-copy-source``): within a bucket and across buckets, streamed.

The source is read chunk by chunk from an ObjectReader and written with ``Bucket.put``
as it arrives, so a copy holds about one chunk whatever the size, and its MD5 is
computed on the way (the copy's ETag, as for PutObject). ``x-amz-metadata-directive``:
``COPY`` (default) keeps the source's S3 headers and metadata, ``REPLACE`` takes the
request's. The ``x-amz-copy-source-if-*`` conditions are checked on the source (a
failure is 412); the destination's ``If-None-Match: *`` / ``If-Match`` as for PutObject.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from urllib.parse import unquote

from starlette.responses import Response

from orlop.errors import BucketNotFound, ObjectAlreadyExists, ObjectNotFound
from orlop.gateway.s3 import sse, versions
from orlop.gateway.s3.bucket_ops import check_bucket_name, open_s3_bucket, xml_response
from orlop.gateway.s3.context import S3Request
from orlop.gateway.s3.errors import S3Error
from orlop.gateway.s3.etags import ETAG_HEADER
from orlop.gateway.s3.object_ops import (
    KEPT_HEADERS,
    META_PREFIX,
    object_key,
    preconditions,
    put_condition,
    stored_headers,
)
from orlop.gateway.s3.unkept import refuse_unkept
from orlop.gateway.s3.xmlio import document, iso8601, sub
from orlop.gateway.state import open_bucket
from orlop.objects import Bucket, ObjectReader

__all__ = ["PRECONDITION", "copy_object", "open_source", "parse_copy_source", "source_bucket"]

PRECONDITION = "At least one of the pre-conditions you specified did not hold"


def parse_copy_source(value: str) -> tuple[str, str, int | None]:
    """``(bucket, key, revision)`` of an ``x-amz-copy-source`` (``/bucket/key`` or ``bucket/key``,
    URL-encoded, optionally ``?versionId=…``: the revision, None for the current one)."""
    path, _, query = value.partition("?")
    version = dict(p.partition("=")[::2] for p in query.split("&")).get("versionId") if query else None
    revision = versions.parse_version(version)
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    if not bucket or not key:
        raise S3Error("InvalidArgument", "Copy Source must mention the source bucket and key: bucket/key")
    return bucket, key, revision


async def open_source(ctx: S3Request, bucket: Bucket, key: str, revision: int | None) -> ObjectReader:
    """A reader of the copy source (that version, when given), decrypted with the request's
    ``x-amz-copy-source-server-side-encryption-customer-*`` key: NoSuchKey / NoSuchVersion."""
    given = sse.customer_key(ctx, sse.COPY_SOURCE)
    if revision is not None:
        await versions.lookup_version(bucket, key, revision)
    try:
        return await sse.open_reader(bucket, key, revision, given, ctx.gateway_keys)
    except ObjectNotFound:
        if revision is not None:
            raise S3Error("NoSuchVersion", "The specified version does not exist.") from None
        raise


async def source_bucket(ctx: S3Request, bucket: str) -> Bucket:
    try:
        return await open_bucket(ctx.client, check_bucket_name(bucket))
    except BucketNotFound:
        raise S3Error("NoSuchBucket", "The specified bucket does not exist") from None


async def _hashed(reader: ObjectReader, update: Callable[[bytes], None]) -> AsyncIterator[bytes]:
    async for piece in reader:
        update(piece)
        yield piece


async def copy_object(ctx: S3Request) -> Response:
    src_bucket_name, src_key, src_revision = parse_copy_source(ctx.header("x-amz-copy-source") or "")
    refuse_unkept(ctx)
    customer = sse.customer_key(ctx)
    dest = await open_s3_bucket(ctx)
    key = object_key(ctx)
    source = await source_bucket(ctx, src_bucket_name)
    directive = (ctx.header("x-amz-metadata-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", "Unknown metadata directive.")
    same = source.name == dest.name and src_key == key and src_revision is None
    if directive == "COPY" and same and customer is None:
        raise S3Error(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself without changing"
            " the object's metadata, storage class, website redirect location or encryption attributes.",
        )
    reader = await open_source(ctx, source, src_key, src_revision)
    try:
        info = reader.info
        if preconditions(ctx, info, "x-amz-copy-source-") == 304:
            raise S3Error("PreconditionFailed", PRECONDITION)
        if directive == "COPY":
            headers = {h: v for h in KEPT_HEADERS if (v := info.header(h))}
            metadata = dict(info.metadata)
        else:
            headers = stored_headers(ctx)
            items = ctx.request.headers.items()
            metadata = {k[len(META_PREFIX) :]: v for k, v in items if k.startswith(META_PREFIX)}
        revision, create_only = await put_condition(ctx, dest, key)
        md5 = hashlib.md5(usedforsecurity=False)
        try:
            copied = await dest.put(
                key,
                _hashed(reader, md5.update),
                headers=headers or None,
                metadata=metadata or None,
                if_revision=revision,
                create_only=create_only,
                final_headers=lambda: {ETAG_HEADER: md5.hexdigest()},
                encryption=customer.key if customer else None,
            )
        except ObjectAlreadyExists as exc:
            raise S3Error("PreconditionFailed", PRECONDITION) from exc
    finally:
        await reader.aclose()
    root = document("CopyObjectResult")
    sub(root, "LastModified", iso8601(copied.modified_ns))
    sub(root, "ETag", f'"{md5.hexdigest()}"')
    response = xml_response(root)
    response.headers.update(versions.version_headers(dest, copied))
    if customer is not None:
        response.headers.update(customer.answer())
    if src_revision is not None:
        response.headers["x-amz-copy-source-version-id"] = str(src_revision)
    return response

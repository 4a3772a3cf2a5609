"""The object operations: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects.

Bytes stream both ways: a PutObject body goes to ``Bucket.put`` through
:class:`~orlop.gateway.s3.body.CheckedBody` (verified on the way, its MD5 becoming the
ETag through the put's ``final_headers``), and a GetObject is read from an
:class:`~orlop.objects.ObjectReader`, seeking first for a ``Range``. S3's object headers
(``Content-Type``, ``Cache-Control``, ``Content-Disposition``, ``Content-Encoding``,
``Content-Language``, ``Expires``) are kept in the object's headers, ``x-amz-meta-*``
in its metadata, so other NATS clients see them too. Conditional puts map onto the
object store's: ``If-None-Match: *`` is ``create_only``, ``If-Match`` an ``if_revision``
on the revision that carries the ETag.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from xml.etree.ElementTree import Element

from starlette.requests import ClientDisconnect
from starlette.responses import Response

from orlop.errors import ObjectAlreadyExists, ObjectNotFound
from orlop.gateway.s3 import checksums, parts, sse, versions
from orlop.gateway.s3.body import BodySpec, CheckedBody, decode_md5, put_checked
from orlop.gateway.s3.bucket_ops import open_s3_bucket, read_small_body, xml_response
from orlop.gateway.s3.context import S3Request
from orlop.gateway.s3.errors import S3Error, from_object_store
from orlop.gateway.s3.etags import etag_matches, etag_of
from orlop.gateway.s3.listing import HIDDEN_PREFIX
from orlop.gateway.s3.sigv4 import Signed
from orlop.gateway.s3.unkept import refuse_unkept
from orlop.gateway.s3.xmlio import document, parse, sub
from orlop.gateway.streaming import span_response
from orlop.objects import Bucket, ObjectInfo

__all__ = [
    "KEPT_HEADERS",
    "MAX_PUT",
    "META_PREFIX",
    "declared_length",
    "delete_object",
    "delete_objects",
    "get_object",
    "object_key",
    "preconditions",
    "put_condition",
    "put_object",
    "request_body",
    "stored_headers",
    "user_metadata",
]

KEPT_HEADERS = (
    "Content-Type",
    "Cache-Control",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Expires",
)
_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
META_PREFIX = "x-amz-meta-"
MAX_KEY_BYTES = 1024
MAX_PUT = 5 << 30  # S3's limit for a single PutObject


def object_key(ctx: S3Request) -> str:
    """The request's key; KeyTooLongError, or InvalidArgument for the gateway's own names."""
    if len(ctx.key.encode("utf-8")) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", "Your key is too long")
    if ctx.key.startswith(HIDDEN_PREFIX):
        raise S3Error("InvalidArgument", f"keys starting with {HIDDEN_PREFIX!r} are reserved by the gateway")
    return ctx.key


async def request_body(ctx: S3Request) -> AsyncIterator[bytes]:
    try:
        async for piece in ctx.request.stream():
            yield piece
    except ClientDisconnect:
        raise S3Error("IncompleteBody", "the client went away before the whole body arrived") from None


def declared_length(ctx: S3Request, signed: Signed) -> int | None:
    text = ctx.header("x-amz-decoded-content-length") if signed.streaming else ctx.header("content-length")
    if text is None:
        if signed.streaming or ctx.header("transfer-encoding"):
            return None
        raise S3Error("MissingContentLength", "You must provide the Content-Length HTTP header.")
    if not text.strip().isdigit():
        raise S3Error("InvalidArgument", "invalid Content-Length")
    length = int(text)
    if length > MAX_PUT:
        raise S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
    return length


def stored_headers(ctx: S3Request) -> dict[str, str]:
    out = {}
    for name in KEPT_HEADERS:
        value = ctx.header(name)
        if name == "Content-Encoding" and value:
            value = ",".join(v.strip() for v in value.split(",") if v.strip().lower() != "aws-chunked")
        if value:
            out[name] = value
    return out


def user_metadata(ctx: S3Request) -> dict[str, str]:
    """The request's ``x-amz-meta-*`` headers, prefix dropped."""
    return {k[len(META_PREFIX) :]: v for k, v in ctx.request.headers.items() if k.startswith(META_PREFIX)}


async def put_object(ctx: S3Request) -> Response:
    refuse_unkept(ctx)
    customer = sse.customer_key(ctx)
    bucket = await open_s3_bucket(ctx)
    key = object_key(ctx)
    spec = BodySpec(
        signed=ctx.signed,
        length=declared_length(ctx, ctx.signed),
        content_md5=decode_md5(ctx.header("content-md5")),
        checksum=checksums.requested(ctx.request.headers),
        max_size=min(MAX_PUT, bucket.max_object_size or MAX_PUT),
    )
    revision, create_only = await put_condition(ctx, bucket, key)
    body = CheckedBody(request_body(ctx), spec)
    metadata = user_metadata(ctx)
    try:
        stored = await put_checked(
            bucket,
            key,
            body,
            lambda: body.md5,
            body,
            headers=stored_headers(ctx) or None,
            metadata=metadata or None,
            if_revision=revision,
            create_only=create_only,
            encryption=customer.key if customer else None,
        )
    except ObjectAlreadyExists as exc:  # RevisionMismatch too: a conditional put lost
        raise S3Error(
            "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"
        ) from exc
    answer = {"ETag": f'"{body.md5}"', **body.answer_headers(), **versions.version_headers(bucket, stored)}
    if customer is not None:
        answer.update(customer.answer())
    return Response(status_code=200, headers=answer)


async def put_condition(ctx: S3Request, bucket: Bucket, key: str) -> tuple[int | None, bool]:
    if_none, if_match = ctx.header("if-none-match"), ctx.header("if-match")
    if if_none is not None:
        if if_none.strip() != "*":
            raise S3Error("NotImplemented", "only If-None-Match: * is supported on PutObject")
        return None, True
    if if_match is None:
        return None, False
    try:
        current = await bucket.info(key)
    except ObjectNotFound:
        raise S3Error("NoSuchKey", "The specified key does not exist.") from None
    if not etag_matches(current, if_match):
        raise S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
    return int(current.revision), False


def _http_date(ns: int) -> str:
    return format_datetime(datetime.fromtimestamp(ns / 1e9, UTC), usegmt=True)


def _date(text: str | None) -> int | None:
    """Seconds since the epoch of an HTTP date; None when absent or unreadable (S3 ignores those)."""
    if not text:
        return None
    try:
        return int(parsedate_to_datetime(text).timestamp())
    except (TypeError, ValueError):
        return None


def preconditions(ctx: S3Request, info: ObjectInfo, prefix: str = "") -> int | None:
    """412/304 per S3's rules (If-Match beats If-Unmodified-Since, If-None-Match beats
    If-Modified-Since); ``prefix``: ``x-amz-copy-source-`` for CopyObject's source."""
    modified = info.modified_ns // 1_000_000_000
    if_match, if_none = ctx.header(prefix + "if-match"), ctx.header(prefix + "if-none-match")
    if if_match is not None:
        if not etag_matches(info, if_match):
            raise S3Error(
                "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"
            )
    elif (since := _date(ctx.header(prefix + "if-unmodified-since"))) is not None and modified > since:
        raise S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
    if if_none is not None:
        return 304 if etag_matches(info, if_none) else None
    if (since := _date(ctx.header(prefix + "if-modified-since"))) is not None and modified <= since:
        return 304
    return None


def _range(header: str, size: int) -> tuple[int, int] | None:
    """Inclusive ``(start, end)`` of a single ``bytes=`` range; None: the whole object; InvalidRange."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            length = int(last)
            if length <= 0 or size == 0:
                raise S3Error(
                    "InvalidRange",
                    "The requested range is not satisfiable",
                    headers={"Content-Range": f"bytes */{size}"},
                )
            return max(0, size - length), size - 1
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    except ValueError:
        return None
    if last and int(last) < start:
        return None
    if start >= size:
        raise S3Error(
            "InvalidRange",
            "The requested range is not satisfiable",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


def _headers(ctx: S3Request, info: ObjectInfo) -> dict[str, str]:
    out = {
        "ETag": etag_of(info),
        "Last-Modified": _http_date(info.modified_ns),
        "Accept-Ranges": "bytes",
        "Content-Type": info.header("Content-Type") or "binary/octet-stream",
    }
    for name in KEPT_HEADERS[1:]:
        if value := info.header(name):
            out[name] = value
    for key, value in info.metadata.items():
        out[META_PREFIX + key] = value
    for param, name in _OVERRIDES.items():
        if param in ctx.query:
            out[name] = ctx.query[param]
    return out


def _span(
    ctx: S3Request, info: ObjectInfo, part: int | None, headers: dict[str, str]
) -> tuple[int, int, int]:
    """``(start, length, status)`` of what a GET answers (a ``Range``, a ``partNumber``, or all);
    ``Content-Range``, ``Content-Length`` and ``x-amz-mp-parts-count`` added to ``headers``."""
    size = info.original_size
    if part is not None:
        start, length, count = parts.part_span(info, part)
        if count is not None:
            headers["x-amz-mp-parts-count"] = str(count)
        span = (start, start + length - 1) if length else None
    else:
        given = ctx.header("range")
        span = _range(given, size) if given else None
    start, end = span if span else (0, size - 1)
    length = end - start + 1 if size else 0
    if span:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(length)
    return start, length, 206 if span else 200


async def get_object(ctx: S3Request) -> Response:
    """GetObject and HeadObject."""
    revision = versions.parse_version(ctx.query.get("versionId"))
    part = parts.requested_part(ctx.query.get("partNumber"))
    if part is not None and ctx.header("range"):
        raise S3Error("InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
    customer = sse.customer_key(ctx)
    bucket = await open_s3_bucket(ctx)
    key = object_key(ctx)
    if revision is not None:
        await versions.lookup_version(bucket, key, revision)
    try:
        reader = await sse.open_reader(bucket, key, revision, customer, ctx.gateway_keys)
    except ObjectNotFound:
        if revision is not None:
            raise S3Error("NoSuchVersion", "The specified version does not exist.") from None
        raise await versions.missing_key(bucket, key) from None
    handed = False
    try:
        info = reader.info
        headers = _headers(ctx, info)
        if customer is not None:
            headers.update(customer.answer())
        if versions.versioned(bucket) or revision is not None:
            headers["x-amz-version-id"] = str(revision or info.revision)
        if preconditions(ctx, info) == 304:
            return Response(
                status_code=304, headers={k: v for k, v in headers.items() if k in ("ETag", "Last-Modified")}
            )
        start, length, status = _span(ctx, info, part, headers)
        if ctx.method == "HEAD" or length == 0:
            return Response(status_code=status, headers=headers)
        handed = True
        return await span_response(reader, start, length, status, headers)
    finally:
        if not handed:
            await reader.aclose()


async def delete_object(ctx: S3Request) -> Response:
    """DeleteObject: 204 whether or not the key existed (S3's rule)."""
    revision = versions.parse_version(ctx.query.get("versionId"))
    bucket = await open_s3_bucket(ctx)
    headers = await _delete(bucket, object_key(ctx), revision)
    return Response(status_code=204, headers=headers)


async def _delete(bucket: Bucket, key: str, revision: int | None = None) -> dict[str, str]:
    """Delete a key (a delete marker in a versioned bucket) or one version; the answer's headers."""
    if key.startswith(HIDDEN_PREFIX):
        raise S3Error("InvalidArgument", f"keys starting with {HIDDEN_PREFIX!r} are reserved by the gateway")
    if revision is not None:
        return await versions.delete_version(bucket, key, revision)
    try:
        await bucket.info(key)  # a delete marker is not deleted again
        tomb = await bucket.delete(key)
    except ObjectNotFound:
        return {}
    return versions.version_headers(bucket, tomb) if tomb is not None else {}


async def delete_objects(ctx: S3Request) -> Response:
    """DeleteObjects: up to 1,000 keys, each its own delete; ``Quiet`` answers only the errors."""
    bucket = await open_s3_bucket(ctx)
    body = await read_small_body(ctx)
    md5 = decode_md5(ctx.header("content-md5"))
    if md5 is not None and hashlib.md5(body, usedforsecurity=False).digest() != md5:
        raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")
    request = parse(body, "Delete")
    quiet = (request.findtext("Quiet") or "").strip().lower() == "true"
    keys = [(o.findtext("Key"), o.findtext("VersionId")) for o in request.findall("Object")]
    if not keys or len(keys) > 1000 or any(k is None or k == "" for k, _ in keys):
        raise S3Error(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    gate = asyncio.Semaphore(16)

    async def one(key: str, version: str | None) -> S3Error | dict[str, str]:
        async with gate:
            try:
                return await _delete(bucket, key, versions.parse_version(version))
            except S3Error as exc:
                return exc
            except Exception as exc:  # reported per key, as S3 does
                return from_object_store(exc)

    outcomes = await asyncio.gather(*(one(k or "", v) for k, v in keys))
    root = document("DeleteResult")
    for (key, version), failure in zip(keys, outcomes, strict=True):
        if not isinstance(failure, S3Error):
            if not quiet:
                _deleted(sub(root, "Deleted"), key or "", version, failure)
            continue
        err = sub(root, "Error")
        sub(err, "Key", key)
        sub(err, "Code", failure.code)
        sub(err, "Message", failure.message)
    return xml_response(root)


def _deleted(item: Element, key: str, version: str | None, headers: dict[str, str]) -> None:
    """One ``<Deleted>`` entry of DeleteObjects, with S3's version fields."""
    sub(item, "Key", key)
    if version is not None:
        sub(item, "VersionId", version)
        if headers.get("x-amz-delete-marker"):
            sub(item, "DeleteMarker", True)
    elif "x-amz-version-id" in headers:  # a delete marker was made
        sub(item, "DeleteMarker", True)
        sub(item, "DeleteMarkerVersionId", headers["x-amz-version-id"])

"""Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
CompleteMultipartUpload and AbortMultipartUpload (the listings are in :mod:`.multipart_list`).

Parts are objects of their own while the upload is in progress (:mod:`.uploads` says
where), each streamed in like a PutObject (:class:`~orlop.gateway.s3.body.CheckedBody`:
``Content-MD5``, checksums, aws-chunked bodies) or copied from another object. Complete
validates the part list first (order, ETags, 5 MiB minimum but for the last part) and
then writes the object with one ``Bucket.put`` that reads the listed parts in order,
one chunk at a time: nothing is ever held whole, and the object appears atomically
when its meta is published, with S3's ETag ``"<md5 of the parts' MD5s>-<N>"``. Then the
upload's record and parts are purged. A Complete that takes a while answers ``200`` at
once and sends spaces until the result is known (S3 does the same, so clients do not
time out); an error found after that is an ``<Error>`` document in the ``200``, which
S3 clients read as the error it is.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element

from starlette.responses import Response, StreamingResponse

from orlop.errors import ObjectAlreadyExists, ObjectStoreError
from orlop.gateway.s3 import checksums, sse, uploads, versions
from orlop.gateway.s3.body import BodySpec, CheckedBody, decode_md5, put_checked
from orlop.gateway.s3.bucket_ops import open_s3_bucket, read_small_body, xml_response
from orlop.gateway.s3.context import S3Request
from orlop.gateway.s3.copy_ops import PRECONDITION, open_source, parse_copy_source, source_bucket
from orlop.gateway.s3.errors import S3Error, from_object_store
from orlop.gateway.s3.etags import ETAG_HEADER, etag_of
from orlop.gateway.s3.listing import infos
from orlop.gateway.s3.object_ops import (
    MAX_PUT,
    declared_length,
    object_key,
    preconditions,
    put_condition,
    request_body,
    stored_headers,
    user_metadata,
)
from orlop.gateway.s3.parts import PARTS_HEADER, encode_sizes
from orlop.gateway.s3.unkept import refuse_unkept
from orlop.gateway.s3.xmlio import document, error_document, iso8601, parse, render, sub
from orlop.gateway.streaming import object_span
from orlop.objects import Bucket, ObjectInfo

__all__ = [
    "MIN_PART_SIZE",
    "abort_upload",
    "complete_upload",
    "create_upload",
    "multipart_etag",
    "upload_part",
    "upload_part_copy",
]

log = logging.getLogger("orlop.gateway.s3")
MIN_PART_SIZE = 5 << 20  # every part but the last (S3's EntityTooSmall)
KEEPALIVE_AFTER = 5.0  # seconds before a slow Complete commits to 200 and sends spaces
_running: set[asyncio.Task[Any]] = set()  # Completes whose client went away still finish


def _finished(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    exc = None if task.cancelled() else task.exception()
    if exc is not None and not isinstance(exc, S3Error | ObjectStoreError):  # those are answered
        log.warning("CompleteMultipartUpload failed: %r", exc)


def multipart_etag(part_md5s: list[str]) -> str:
    """S3's ETag of an object completed from parts (hex MD5s, in order), unquoted."""
    joined = b"".join(bytes.fromhex(m) for m in part_md5s)
    return f"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(part_md5s)}"


def _part_number(ctx: S3Request) -> int:
    text = ctx.query.get("partNumber", "")
    number = int(text) if text.isdigit() else 0
    if not 1 <= number <= uploads.MAX_PART_NUMBER:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
    return number


async def create_upload(ctx: S3Request) -> Response:
    """CreateMultipartUpload (``POST ?uploads``): record the upload, answer its id."""
    refuse_unkept(ctx)
    customer = sse.customer_key(ctx)
    bucket = await open_s3_bucket(ctx)
    key = object_key(ctx)
    md5 = customer.md5 if customer else None
    upload_id = await uploads.create_upload(bucket, key, stored_headers(ctx), user_metadata(ctx), md5)
    root = document("InitiateMultipartUploadResult")
    sub(root, "Bucket", ctx.bucket)
    sub(root, "Key", key)
    sub(root, "UploadId", upload_id)
    response = xml_response(root)
    if customer is not None:
        response.headers.update(customer.answer())
    return response


def _upload_key(ctx: S3Request, upload: uploads.Upload) -> sse.CustomerKey | None:
    """The request's SSE-C key, which must be the one the upload was created with (or none)."""
    customer = sse.customer_key(ctx)
    if upload.sse_md5 is not None and customer is None:
        raise S3Error(
            "InvalidRequest",
            "The multipart upload initiate requested encryption. Subsequent part requests must include"
            " the appropriate encryption parameters.",
        )
    if (customer.md5 if customer else None) != upload.sse_md5:
        raise S3Error(
            "InvalidArgument", "The provided encryption parameters did not match the ones used originally."
        )
    return customer


async def _store_part(
    bucket: Bucket,
    upload_id: str,
    number: int,
    data: AsyncIterable[bytes],
    md5: Callable[[], str],
    body: CheckedBody | None = None,
    customer: sse.CustomerKey | None = None,
) -> ObjectInfo:
    """Put one part; removed again when the upload was aborted or completed meanwhile.

    ``body``: the request's checked body (its signed SHA-256 and its checksum kept), when
    the part is one (UploadPartCopy's part is not)."""
    encryption = customer.key if customer else None
    info = await put_checked(
        bucket, uploads.part_name(upload_id, number), data, md5, body, encryption=encryption
    )
    try:
        await uploads.load_upload(bucket, upload_id)
    except S3Error:
        await uploads.remove_upload(bucket, upload_id)
        raise
    return info


async def upload_part(ctx: S3Request) -> Response:
    """UploadPart (``PUT ?partNumber&uploadId``): the body streamed into the part, checked as PutObject's."""
    bucket = await open_s3_bucket(ctx)
    key, number = object_key(ctx), _part_number(ctx)
    upload = await uploads.load_upload(bucket, ctx.query.get("uploadId", ""), key)
    customer = _upload_key(ctx, upload)
    spec = BodySpec(
        signed=ctx.signed,
        length=declared_length(ctx, ctx.signed),
        content_md5=decode_md5(ctx.header("content-md5")),
        checksum=checksums.requested(ctx.request.headers),
        max_size=MAX_PUT,
    )
    body = CheckedBody(request_body(ctx), spec)
    await _store_part(bucket, upload.upload_id, number, body, lambda: body.md5, body, customer)
    answer = {"ETag": f'"{body.md5}"', **body.answer_headers(), **(customer.answer() if customer else {})}
    return Response(status_code=200, headers=answer)


def _copy_range(header: str | None, size: int) -> tuple[int, int]:
    """``(start, length)`` of an ``x-amz-copy-source-range`` (``bytes=first-last``), or the whole source."""
    if header is None:
        return 0, size
    unit, _, spec = header.strip().partition("=")
    first, dash, last = spec.partition("-")
    if unit != "bytes" or not dash or not first.isdigit() or not last.isdigit() or int(last) < int(first):
        raise S3Error(
            "InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last"
        )
    start, end = int(first), int(last)
    if end >= size:  # S3 says InvalidArgument here, not GetObject's 416 InvalidRange
        raise S3Error("InvalidArgument", f"Range specified is not valid for source object of size: {size}")
    return start, end - start + 1


async def upload_part_copy(ctx: S3Request) -> Response:
    """UploadPartCopy (UploadPart with ``x-amz-copy-source``): a part from (a range of) an object."""
    src_bucket, src_key, src_revision = parse_copy_source(ctx.header("x-amz-copy-source") or "")
    bucket = await open_s3_bucket(ctx)
    key, number = object_key(ctx), _part_number(ctx)
    upload = await uploads.load_upload(bucket, ctx.query.get("uploadId", ""), key)
    customer = _upload_key(ctx, upload)
    source = await source_bucket(ctx, src_bucket)
    reader = await open_source(ctx, source, src_key, src_revision)
    md5 = hashlib.md5(usedforsecurity=False)

    async def hashed(pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for piece in pieces:
            md5.update(piece)
            yield piece

    try:
        if preconditions(ctx, reader.info, "x-amz-copy-source-") == 304:
            raise S3Error("PreconditionFailed", PRECONDITION)
        start, length = _copy_range(ctx.header("x-amz-copy-source-range"), reader.info.original_size)
        data = hashed(object_span(reader, start, length))
        stored = await _store_part(bucket, upload.upload_id, number, data, md5.hexdigest, None, customer)
    finally:
        await reader.aclose()
    root = document("CopyPartResult")
    sub(root, "LastModified", iso8601(stored.modified_ns))
    sub(root, "ETag", f'"{md5.hexdigest()}"')
    return xml_response(root)


async def abort_upload(ctx: S3Request) -> Response:
    """AbortMultipartUpload (``DELETE ?uploadId``): the record and every part purged."""
    bucket = await open_s3_bucket(ctx)
    upload = await uploads.load_upload(bucket, ctx.query.get("uploadId", ""), object_key(ctx))
    await uploads.remove_upload(bucket, upload.upload_id)
    return Response(status_code=204)


@dataclass(frozen=True)
class _Wanted:
    """One ``<Part>`` of a CompleteMultipartUpload body."""

    number: int
    etag: str  # unquoted
    checksum: checksums.Checksum | None  # a <ChecksumCRC32> (...) the client listed for it


def _listed_checksum(part: Element) -> checksums.Checksum | None:
    listed = [
        (child.tag[len("Checksum") :], (child.text or "").strip())
        for child in part
        if child.tag.startswith("Checksum") and child.tag != "ChecksumType"
    ]
    if not listed:
        return None
    if len(listed) > 1:
        raise S3Error("InvalidRequest", "a part lists more than one checksum")
    algorithm, value = listed[0]
    return checksums.Checksum(checksums.supported(algorithm, "Checksum"), value)


def _requested_parts(body: bytes) -> list[_Wanted]:
    """The parts a CompleteMultipartUpload body lists, in its order."""
    root = parse(body, "CompleteMultipartUpload")
    parts = []
    for part in root.findall("Part"):
        number, etag = (part.findtext("PartNumber") or "").strip(), (part.findtext("ETag") or "").strip()
        if not number.isdigit() or not etag:
            raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate")
        parts.append(_Wanted(int(number), etag.strip('"'), _listed_checksum(part)))
    if not parts:
        raise S3Error("MalformedXML", "You must specify at least one part")
    for before, after in itertools.pairwise(parts):
        if after.number <= before.number:
            raise S3Error("InvalidPartOrder", "The list of parts was not in ascending order.")
    return parts


async def _checked_parts(bucket: Bucket, upload_id: str, wanted: list[_Wanted]) -> list[ObjectInfo]:
    """The stored parts the list names, their ETags, checksums and sizes checked
    (InvalidPart, EntityTooSmall)."""
    names = [uploads.part_name(upload_id, w.number) for w in wanted]
    found = await infos(bucket, names)
    parts: list[ObjectInfo] = []
    for want, info in zip(wanted, found, strict=True):
        if info is None or etag_of(info).strip('"') != want.etag:
            raise S3Error(
                "InvalidPart",
                f"One or more of the specified parts could not be found (part {want.number}). The part may"
                " not have been uploaded, or the specified entity tag may not match the part's entity tag.",
            )
        # A checksum listed for a part must be the one (algorithm and value) it was stored with.
        if want.checksum is not None and checksums.stored_checksum(info) != want.checksum:
            raise S3Error(
                "InvalidPart",
                f"The {want.checksum.name} checksum listed for part {want.number} is not the one the part"
                " was uploaded with.",
            )
        parts.append(info)
    for want, info in zip(wanted[:-1], parts[:-1], strict=True):
        if info.original_size < MIN_PART_SIZE:
            raise S3Error(
                "EntityTooSmall",
                f"Your proposed upload is smaller than the minimum allowed size (part {want.number}: 5 MiB).",
            )
    return parts


async def _concatenated(
    bucket: Bucket, parts: list[ObjectInfo], customer: sse.CustomerKey | None
) -> AsyncIterator[bytes]:
    key = customer.key if customer else None
    for part in parts:  # each read at the revision that was checked; its digest verified at the end
        reader = await bucket.get(part.name, revision=part.revision, encryption=key)
        try:
            async for piece in reader:
                yield piece
        finally:
            await reader.aclose()


def _composite(wanted: list[_Wanted]) -> checksums.Checksum | None:
    """The upload's composite checksum, when the list gave every part's (of one algorithm)."""
    listed = [w.checksum for w in wanted if w.checksum is not None]
    if len(listed) != len(wanted) or len({c.algorithm for c in listed}) != 1:
        return None
    algorithm = listed[0].algorithm
    return checksums.Checksum(algorithm, checksums.composite(algorithm, [c.value or "" for c in listed]))


async def _complete(
    ctx: S3Request,
    bucket: Bucket,
    upload: uploads.Upload,
    parts: list[ObjectInfo],
    checksum: checksums.Checksum | None,
    customer: sse.CustomerKey | None,
) -> tuple[bytes, dict[str, str]]:
    """Write the object from its parts, remove the upload; the result document and its headers
    (``x-amz-version-id`` in a versioned bucket, sent when the answer is not a keep-alive)."""
    etag = multipart_etag([etag_of(p).strip('"') for p in parts])
    sizes = encode_sizes([p.original_size for p in parts])
    revision, create_only = await put_condition(ctx, bucket, upload.key)
    try:
        stored = await bucket.put(
            upload.key,
            _concatenated(bucket, parts, customer),
            headers=upload.headers or None,
            metadata=upload.metadata or None,
            if_revision=revision,
            create_only=create_only,
            final_headers=lambda: {ETAG_HEADER: etag, PARTS_HEADER: sizes},
            encryption=customer.key if customer else None,
        )
    except ObjectAlreadyExists as exc:
        raise S3Error("PreconditionFailed", PRECONDITION) from exc
    await uploads.remove_upload(bucket, upload.upload_id)
    root = document("CompleteMultipartUploadResult")
    sub(root, "Location", f"{str(ctx.request.base_url).rstrip('/')}/{ctx.bucket}/{upload.key}")
    sub(root, "Bucket", ctx.bucket)
    sub(root, "Key", upload.key)
    sub(root, "ETag", f'"{etag}"')
    if checksum is not None and checksum.value:
        sub(root, f"Checksum{checksum.name}", checksum.value)
        sub(root, "ChecksumType", "COMPOSITE")
    answer = versions.version_headers(bucket, stored)
    if customer is not None:
        answer.update(customer.answer())
    return render(root), answer


async def complete_upload(ctx: S3Request) -> Response:
    """CompleteMultipartUpload (``POST ?uploadId``): check the part list, then stream the parts in."""
    bucket = await open_s3_bucket(ctx)
    key = object_key(ctx)
    body = await read_small_body(ctx)
    md5 = decode_md5(ctx.header("content-md5"))
    if md5 is not None and hashlib.md5(body, usedforsecurity=False).digest() != md5:
        raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")
    upload = await uploads.load_upload(bucket, ctx.query.get("uploadId", ""), key)
    customer = _upload_key(ctx, upload)  # an encrypted upload's parts are read and written with it
    wanted = _requested_parts(body)
    parts = await _checked_parts(bucket, upload.upload_id, wanted)
    checksum = _composite(wanted)
    task = asyncio.get_running_loop().create_task(_complete(ctx, bucket, upload, parts, checksum, customer))
    _running.add(task)
    task.add_done_callback(_finished)
    done, _ = await asyncio.wait({task}, timeout=KEEPALIVE_AFTER)
    if done:
        body, headers = task.result()  # errors raise: their own status
        return Response(body, headers=headers, media_type="application/xml")
    return StreamingResponse(_keepalive(task, ctx), media_type="application/xml")


async def _keepalive(task: Awaitable[tuple[bytes, dict[str, str]]], ctx: S3Request) -> AsyncIterator[bytes]:
    """A committed 200: the XML declaration, a space now and then, then the result or an Error."""
    yield b'<?xml version="1.0" encoding="UTF-8"?>\n'
    waiting = asyncio.ensure_future(task)
    while not waiting.done():
        await asyncio.wait({waiting}, timeout=KEEPALIVE_AFTER)
        if not waiting.done():
            yield b" "
    try:
        result, _ = waiting.result()
    except S3Error as exc:
        failure = exc
    except Exception as exc:  # reported in the 200's body, as S3 does
        failure = from_object_store(exc)
    else:
        yield result.split(b"\n", 1)[1]
        return
    resource = f"/{ctx.bucket}/{ctx.key}"
    yield error_document(failure.code, failure.message, resource, ctx.request_id).split(b"\n", 1)[1]

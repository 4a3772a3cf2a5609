"""Objects as raw HTTP bodies, streamed both ways, and changes as Server-Sent Events.

``PUT`` hands the request body to ``orlop.objects`` as an async iterator: chunks go to
the server as they arrive, so the gateway never holds an object (a client that stops
early, or sends fewer bytes than its ``Content-Length``, makes the put fail and leaves
nothing behind). ``GET`` streams from an :class:`~orlop.objects.ObjectReader`; a
``Range`` seeks first, so only the chunks it covers are fetched. Validators are HTTP's:
``ETag`` is the object's digest, ``If-Match`` maps to a conditional write on the revision
that digest belongs to (412 when another revision is current), ``If-None-Match`` and
``If-Modified-Since`` answer 304. Client-side encryption: :mod:`orlop.gateway.encryption`
(the ETag stays the digest of the stored ciphertext).
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.requests import ClientDisconnect

from orlop.errors import BadRequest, DigestMismatch, ObjectNotFound, RevisionMismatch
from orlop.gateway import models as m
from orlop.gateway.encryption import RequestKey
from orlop.gateway.errors import ERROR_RESPONSES, GatewayError
from orlop.gateway.state import client_for, open_bucket
from orlop.objects import Bucket, ObjectInfo, ObjectReader, ObjectStoreClient

__all__ = ["object_span", "router", "span_response"]

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
Client = Annotated[ObjectStoreClient, Depends(client_for)]
_PIECE = 256 * 1024  # bytes per body write when serving a range
_SMALL_BODY = 256 * 1024  # spans up to this size are answered whole, not streamed
_KEEPALIVE = 15.0  # seconds between SSE comments on a quiet bucket
_META_PREFIX = "x-object-meta-"


def _logical_size(info: ObjectInfo) -> int:
    return info.original_size if info.compression or info.encryption else info.size


def _etag(info: ObjectInfo) -> str:
    return f'"{info.digest}"'


def _object_headers(info: ObjectInfo) -> dict[str, str]:
    given = info.headers.get("Content-Type") or []
    ctype = given[0] if given else (mimetypes.guess_type(info.name)[0] or "application/octet-stream")
    modified = datetime.fromtimestamp(info.modified_ns / 1e9, UTC)
    return {
        "Content-Type": ctype,
        "ETag": _etag(info),
        "Last-Modified": format_datetime(modified, usegmt=True),
        "Accept-Ranges": "bytes",
        "X-Object-Revision": str(info.revision),
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(info.name.rsplit('/', 1)[-1])}",
    }


def _not_modified(info: ObjectInfo, if_none_match: str | None, if_modified_since: str | None) -> bool:
    if if_none_match is not None:
        tags = {t.strip() for t in if_none_match.split(",")}
        return "*" in tags or _etag(info) in tags or f"W/{_etag(info)}" in tags
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return int(info.modified_ns // 1_000_000_000) <= int(since.timestamp())
    return False


def _range(header: str, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive of a single ``bytes=`` range; None: serve it whole. 416 if unsatisfiable."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # other units, and several ranges, are served whole (RFC 9110 allows it)
    first, dash, last = spec.strip().partition("-")
    try:
        if not dash:
            return None
        if first == "":
            length = int(last)
            if length <= 0:
                raise ValueError
            start, end = max(0, size - length), size - 1
        else:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
            if last and int(last) < start:
                return None  # invalid: ignored, the whole object is served
    except ValueError:
        return None
    if start >= size:
        raise GatewayError(416, 10416, "range not satisfiable", {"Content-Range": f"bytes */{size}"})
    return start, end


async def object_span(reader: ObjectReader, start: int, length: int) -> AsyncGenerator[bytes, None]:
    """``length`` bytes of the object from ``start``, streamed; closes ``reader`` at the end.

    The whole object streams chunk by chunk; a range seeks (only the chunks it needs are
    fetched) and reads in ``_PIECE`` writes. Shared by the raw GET and the S3 API's GetObject.
    """
    sent = 0
    try:
        if start == 0 and length == _logical_size(reader.info):
            async for piece in reader:
                yield piece
        else:
            await reader.seek(start)
            while sent < length:
                piece = await reader.read(min(_PIECE, length - sent))
                if not piece:
                    break
                sent += len(piece)
                yield piece
    finally:
        await reader.aclose()


async def span_response(
    reader: ObjectReader, start: int, length: int, status: int, headers: dict[str, str]
) -> Response:
    """:func:`object_span` as the response; ``reader`` is closed once it has been read.

    A span of up to ``_SMALL_BODY`` bytes is read here and answered as one plain
    ``Response``: a ``StreamingResponse`` costs a task group and a disconnect listener per
    request, most of the gateway's CPU for a 1 KiB GET. Bigger spans stream. Shared by the
    raw GET and the S3 API's GetObject.
    """
    if length <= _SMALL_BODY:
        name = reader.info.name
        async with aclosing(object_span(reader, start, length)) as pieces:
            body = b"".join([piece async for piece in pieces])
        if len(body) != length:  # chunks missing: an error now, not a response cut short
            raise DigestMismatch(f"object {name!r} ended after {len(body)} of the {length} bytes asked for")
        return Response(body, status_code=status, headers=headers)
    return StreamingResponse(object_span(reader, start, length), status_code=status, headers=headers)


async def _body(reader: ObjectReader, start: int, length: int, request: Request) -> AsyncIterator[bytes]:
    sent = 0
    try:
        async with aclosing(object_span(reader, start, length)) as pieces:
            async for piece in pieces:
                sent += len(piece)
                yield piece
    finally:
        request.state.bytes_out = sent


@router.api_route("/buckets/{bucket}/objects/{name:path}", methods=["GET", "HEAD"], name="get")
async def object_get(
    bucket: str,
    name: str,
    client: Client,
    request: Request,
    revision: Annotated[int | None, Query(ge=1)] = None,
    range_: Annotated[str | None, Header(alias="Range")] = None,
    if_none_match: Annotated[str | None, Header()] = None,
    if_modified_since: Annotated[str | None, Header()] = None,
    key: RequestKey = None,
) -> Response:
    """The object's bytes (a single ``Range`` gives 206; validators give 304); decrypted given a key."""
    store = await open_bucket(client, bucket)
    reader = await store.get(name, revision=revision, encryption=key)  # the meta only: chunks come when read
    streaming = False  # the body generator closes the reader; every other answer closes it here
    try:
        info = reader.info
        headers = _object_headers(info)
        if _not_modified(info, if_none_match, if_modified_since):
            del headers["Content-Type"]
            return Response(status_code=304, headers=headers)
        size = _logical_size(info)
        span = _range(range_, size) if range_ and size > 0 else None  # may raise 416
        start, end = span if span else (0, size - 1)
        length = end - start + 1 if size else 0
        status = 206 if span else 200
        if span:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(length)
        if request.method == "HEAD" or length == 0:
            return Response(status_code=status, headers=headers)
        streaming = True  # the reader is closed once read
        if length <= _SMALL_BODY:
            response = await span_response(reader, start, length, status, headers)
            request.state.bytes_out = len(response.body)
            return response
        body = _body(reader, start, length, request)
        return StreamingResponse(body, status_code=status, headers=headers)
    finally:
        if not streaming:
            await reader.aclose()


async def _request_body(request: Request, expected: int | None) -> AsyncIterator[bytes]:
    received = 0
    try:
        async for piece in request.stream():
            if piece:
                received += len(piece)
                yield piece
    except ClientDisconnect:
        raise BadRequest("the client went away before the whole body arrived") from None
    finally:
        request.state.bytes_in = received
    if expected is not None and received != expected:
        raise BadRequest(f"body shorter than its Content-Length ({received} of {expected} bytes)")


def _declared_length(request: Request) -> int | None:
    """The body's ``Content-Length`` (HTTP's own, so not a documented parameter); None if chunked."""
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


async def _current_revision(store: Bucket, name: str, if_match: str) -> int | None:
    """The revision an ``If-Match`` names (None for ``*`` on an existing object); 412 otherwise."""
    try:
        info = await store.info(name)
    except ObjectNotFound:
        raise GatewayError(412, 10412, "precondition failed: the object does not exist") from None
    tags = {t.strip() for t in if_match.split(",")}
    if "*" in tags:
        return info.revision
    if _etag(info) not in tags:
        raise GatewayError(412, 10412, "precondition failed: the object has changed")
    return info.revision


@router.put(
    "/buckets/{bucket}/objects/{name:path}", status_code=201, response_model=m.ObjectInfoOut, name="put"
)
async def object_put(
    bucket: str,
    name: str,
    client: Client,
    request: Request,
    content_type: Annotated[str | None, Header()] = None,
    if_match: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
    x_object_description: Annotated[str | None, Header()] = None,
    x_object_chunk_size: Annotated[int | None, Header(ge=1)] = None,
    key: RequestKey = None,
) -> JSONResponse:
    """Store the request body as the object, streamed chunk by chunk."""
    store = await open_bucket(client, bucket)
    revision = await _current_revision(store, name, if_match) if if_match else None
    metadata = {k[len(_META_PREFIX) :]: v for k, v in request.headers.items() if k.startswith(_META_PREFIX)}
    # curl's default for --data-binary says nothing about the bytes: not kept as their type.
    given_type = (
        content_type if content_type and content_type != "application/x-www-form-urlencoded" else None
    )
    headers = {"Content-Type": given_type} if given_type else None
    try:
        info = await store.put(
            name,
            _request_body(request, _declared_length(request)),
            description=x_object_description,
            headers=headers,
            chunk_size=x_object_chunk_size,
            metadata=metadata or None,
            if_revision=revision,
            create_only=if_none_match is not None and if_none_match.strip() == "*",
            encryption=key,
        )
    except RevisionMismatch as exc:
        if if_match:
            raise GatewayError(412, 10412, "precondition failed: the object has changed") from exc
        raise
    return JSONResponse(info.to_dict(), status_code=201, headers={"ETag": _etag(info)})


@router.delete("/buckets/{bucket}/objects/{name:path}", response_model=m.ObjectInfoOut, name="delete")
async def object_delete(
    bucket: str,
    name: str,
    client: Client,
    purge: bool = False,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    store = await open_bucket(client, bucket)
    if if_match:
        await _current_revision(store, name, if_match)
    marker = await store.delete(name, purge=purge)
    if marker is None:
        return Response(status_code=204)
    return JSONResponse(marker.to_dict())


@router.get("/buckets/{bucket}/events", name="events", response_class=StreamingResponse)
async def events(bucket: str, client: Client, request: Request) -> StreamingResponse:
    """Changes to the bucket as Server-Sent Events: ``put`` and ``delete``, object info as data."""
    store = await open_bucket(client, bucket)
    metrics = request.app.state.gateway.metrics

    async def stream() -> AsyncIterator[bytes]:
        watcher = await store.watch(updates_only=True).start()  # before the first byte: no change missed
        metrics.watchers.inc()
        pending: asyncio.Task[Any] | None = None
        try:
            yield b": watching " + bucket.encode() + b"\n\n"
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(watcher.__anext__())
                done, _ = await asyncio.wait({pending}, timeout=_KEEPALIVE)
                if not done:
                    yield b": keepalive\n\n"
                    continue
                info: ObjectInfo = pending.result()
                pending = None
                kind = "delete" if info.deleted else "put"
                yield f"event: {kind}\ndata: {json.dumps(info.to_dict())}\n\n".encode()
        except StopAsyncIteration:
            return
        finally:
            if pending is not None:
                pending.cancel()
            metrics.watchers.dec()
            await watcher.aclose()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

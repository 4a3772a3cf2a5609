"""Where a multipart upload lives while it is in progress: plain objects in its own bucket.

An upload is a set of ordinary object store objects under the reserved
:data:`~orlop.gateway.s3.listing.HIDDEN_PREFIX` (``.orlop-s3-mpu/``), which S3 listings
skip and S3 requests cannot address:

- ``.orlop-s3-mpu/<upload id>``: the upload's record, an empty object whose metadata
  holds the S3 key and the headers and ``x-amz-meta-*`` given to CreateMultipartUpload;
  its put time is the upload's ``Initiated``;
- ``.orlop-s3-mpu/<upload id>/<part number, 5 digits>``: one part, stored as it streams
  in, its MD5 in ``Orlop-S3-ETag`` like any S3 put; uploading a part number again
  replaces it.

Everything is in the bucket's own stream, written through :mod:`orlop.objects`, so an
upload survives a gateway restart, works the same on a nats-server cluster, and goes
away with the bucket. Upload ids are 32 hex digits starting with the creation time, so
their order is the order uploads were created in (S3's order for one key).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from dataclasses import dataclass

from orlop.errors import ObjectNotFound
from orlop.gateway.s3 import listing
from orlop.gateway.s3.errors import S3Error
from orlop.gateway.s3.listing import HIDDEN_PREFIX
from orlop.objects import Bucket, ObjectInfo

__all__ = [
    "MAX_PART_NUMBER",
    "Upload",
    "create_upload",
    "load_upload",
    "part_name",
    "part_number_of",
    "remove_upload",
    "stored_parts",
    "upload_from_info",
    "upload_names",
]

MAX_PART_NUMBER = 10_000
_ID = re.compile(r"[0-9a-f]{32}")
_KEY, _HEADERS, _METADATA = "s3-upload-key", "s3-upload-headers", "s3-upload-metadata"
_SSE_C = "s3-upload-sse-c-key-md5"  # the upload's SSE-C key (its MD5: every part must bring it)
_REMOVE_CONCURRENCY = 16


@dataclass(frozen=True)
class Upload:
    upload_id: str
    key: str
    headers: dict[str, str]  # Content-Type & co., as the completed object will carry them
    metadata: dict[str, str]  # x-amz-meta-*, prefix dropped
    initiated_ns: int
    sse_md5: str | None = None  # base64 MD5 of the SSE-C key the upload was created with


def record_name(upload_id: str) -> str:
    return HIDDEN_PREFIX + upload_id


def part_name(upload_id: str, number: int) -> str:
    return f"{HIDDEN_PREFIX}{upload_id}/{number:05d}"


def part_number_of(name: str) -> int:
    """The part number of a :func:`part_name` (0 when it is not one)."""
    tail = name.rpartition("/")[2]
    return int(tail) if tail.isdigit() else 0


def _no_such_upload() -> S3Error:
    return S3Error(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have"
        " been aborted or completed.",
    )


def upload_from_info(info: ObjectInfo) -> Upload | None:
    """The upload a record's meta describes; None when it is not a readable record."""
    upload_id = info.name[len(HIDDEN_PREFIX) :]
    meta = info.metadata
    if not info.name.startswith(HIDDEN_PREFIX) or not _ID.fullmatch(upload_id) or _KEY not in meta:
        return None
    try:
        headers, metadata = json.loads(meta.get(_HEADERS, "{}")), json.loads(meta.get(_METADATA, "{}"))
    except ValueError:
        return None
    if not isinstance(headers, dict) or not isinstance(metadata, dict):
        return None
    return Upload(upload_id, meta[_KEY], headers, metadata, info.created_ns, meta.get(_SSE_C))


async def create_upload(
    bucket: Bucket, key: str, headers: dict[str, str], metadata: dict[str, str], sse_md5: str | None = None
) -> str:
    """Record a new upload of ``key`` (with the MD5 of its SSE-C key, if any); its upload id."""
    upload_id = f"{time.time_ns():016x}{secrets.token_hex(8)}"
    record = {_KEY: key, _HEADERS: json.dumps(headers), _METADATA: json.dumps(metadata)}
    if sse_md5 is not None:
        record[_SSE_C] = sse_md5
    await bucket.put(
        record_name(upload_id),
        b"",
        description="S3 multipart upload in progress (Orlop gateway)",
        metadata=record,
        create_only=True,
    )
    return upload_id


async def load_upload(bucket: Bucket, upload_id: str, key: str | None = None) -> Upload:
    """The upload ``upload_id`` (of ``key``, when given); NoSuchUpload when there is none."""
    if not _ID.fullmatch(upload_id):
        raise _no_such_upload()
    try:
        info = await bucket.info(record_name(upload_id))
    except ObjectNotFound:
        raise _no_such_upload() from None
    upload = upload_from_info(info)
    if upload is None or (key is not None and upload.key != key):
        raise _no_such_upload()
    return upload


async def upload_names(bucket: Bucket) -> list[str]:
    """Every upload record's name in ``bucket``, sorted (from the subject index, no meta read)."""
    names = listing.names_under(await listing.object_names(bucket), HIDDEN_PREFIX)
    return [n for n in names if "/" not in n[len(HIDDEN_PREFIX) :]]


async def stored_parts(bucket: Bucket, upload_id: str) -> list[ObjectInfo]:
    """The parts stored for an upload, by part number (names from the subject index)."""
    names = listing.names_under(await listing.object_names(bucket), record_name(upload_id) + "/")
    return [i for i in await listing.infos(bucket, names) if i is not None and part_number_of(i.name)]


async def remove_upload(bucket: Bucket, upload_id: str) -> None:
    """Remove an upload's record, then every part stored for it (all revisions, purged)."""
    await _purge(bucket, record_name(upload_id))
    names = listing.names_under(await listing.object_names(bucket), record_name(upload_id) + "/")
    gate = asyncio.Semaphore(_REMOVE_CONCURRENCY)

    async def one(name: str) -> None:
        async with gate:
            await _purge(bucket, name)

    await asyncio.gather(*(one(n) for n in names))


async def _purge(bucket: Bucket, name: str) -> None:
    with contextlib.suppress(ObjectNotFound):  # removed meanwhile (another Abort or Complete)
        await bucket.delete(name, purge=True)

"""S3 versioning on the object store's revisions: Get/PutBucketVersioning, ListObjectVersions,
and the ``versionId`` of GetObject, HeadObject and DeleteObject(s).

A version is one meta message of the name, and its **version id is the meta's revision**
(its stream sequence, in decimal): stable, unique in the bucket, and what
``Bucket.info(revision=)``, ``Bucket.get(revision=)`` and ``Bucket.versions()`` take.
Delete markers are the object store's tombstones. The bucket's versioning status is its
history depth: ``Enabled`` = history > 1 (PutBucketVersioning sets 64, the most the object
store keeps, unless the bucket already keeps more than one), ``Suspended`` = history 1,
remembered in the stream's metadata as ``s3.versioning`` so a bucket that was never
versioned still answers an empty configuration. A bucket without history has one version
per key, answered as S3 answers an unversioned bucket's: version id ``null``, no delete
markers.

DeleteObject with a version id removes that revision (``Bucket.delete_revision``: its meta
message, and its chunks unless another retained revision shares them). Removing the newest
revision makes the one before it current again, as in S3.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from urllib.parse import quote
from xml.etree.ElementTree import Element

from starlette.responses import Response

from orlop.errors import ObjectNotFound
from orlop.gateway.s3 import listing
from orlop.gateway.s3.bucket_ops import OWNER_ID, open_s3_bucket, read_small_body, xml_response
from orlop.gateway.s3.context import S3Request
from orlop.gateway.s3.errors import S3Error
from orlop.gateway.s3.etags import etag_of
from orlop.gateway.s3.xmlio import document, iso8601, parse, sub
from orlop.gateway.state import forget_bucket
from orlop.objects import Bucket, ObjectInfo

__all__ = [
    "MAX_HISTORY",
    "STATUS_KEY",
    "delete_version",
    "get_versioning",
    "list_versions",
    "parse_version",
    "put_versioning",
    "version_headers",
    "versioned",
]

MAX_HISTORY = 64  # the most revisions orlop.objects keeps per name
STATUS_KEY = "s3.versioning"  # stream metadata: "Suspended" once versioning was turned off
_FETCH_BATCH = 32  # names whose revisions are read concurrently by a listing


def parse_version(text: str | None) -> int | None:
    """The revision a ``versionId`` names: None for absent or ``null``; InvalidArgument otherwise."""
    if text is None or text == "null":
        return None
    if not text.isdigit() or int(text) < 1:
        raise S3Error("InvalidArgument", "Invalid version id specified")
    return int(text)


def versioned(bucket: Bucket) -> bool:
    return bucket.history > 1


def version_headers(bucket: Bucket, info: ObjectInfo) -> dict[str, str]:
    """``x-amz-version-id`` (and ``x-amz-delete-marker``) for a versioned bucket's object."""
    if not versioned(bucket):
        return {}
    out = {"x-amz-version-id": str(info.revision)}
    if info.deleted:
        out["x-amz-delete-marker"] = "true"
    return out


async def lookup_version(bucket: Bucket, key: str, revision: int) -> ObjectInfo:
    """The meta of one version: NoSuchVersion when there is none; a delete marker is
    MethodNotAllowed (with ``x-amz-delete-marker``), as S3 answers a GET of one."""
    try:
        info = await bucket.info(key, revision=revision, show_deleted=True)
    except ObjectNotFound:
        raise S3Error("NoSuchVersion", "The specified version does not exist.") from None
    if info.deleted:
        raise S3Error(
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            headers={"x-amz-delete-marker": "true", "x-amz-version-id": str(revision), "Allow": "DELETE"},
        )
    return info


async def missing_key(bucket: Bucket, key: str) -> S3Error:
    """NoSuchKey, saying so when the newest version is a delete marker (versioned buckets)."""
    headers: dict[str, str] = {}
    if versioned(bucket):
        try:
            latest = await bucket.info(key, show_deleted=True)
        except ObjectNotFound:
            latest = None
        if latest is not None and latest.deleted:
            headers = version_headers(bucket, latest)
    return S3Error("NoSuchKey", "The specified key does not exist.", headers=headers)


# -- the bucket's status --------------------------------------------------------------


async def get_versioning(ctx: S3Request) -> Response:
    bucket = await open_s3_bucket(ctx)
    root = document("VersioningConfiguration")
    if versioned(bucket):
        sub(root, "Status", "Enabled")
    elif (bucket.config.get("metadata") or {}).get(STATUS_KEY) == "Suspended":
        sub(root, "Status", "Suspended")
    return xml_response(root)


async def put_versioning(ctx: S3Request) -> Response:
    bucket = await open_s3_bucket(ctx)
    request = parse(await read_small_body(ctx), "VersioningConfiguration")
    status = (request.findtext("Status") or "").strip()
    if status not in ("Enabled", "Suspended"):
        raise S3Error("MalformedXML", "Status must be Enabled or Suspended")
    if (request.findtext("MfaDelete") or "Disabled").strip() != "Disabled":
        raise S3Error("NotImplemented", "MFA delete is not implemented by the Orlop gateway")
    history = (bucket.history if versioned(bucket) else MAX_HISTORY) if status == "Enabled" else 1
    kept = {
        k: v
        for k, v in (bucket.config.get("metadata") or {}).items()
        if not k.startswith(("orlop.", "_nats.")) and k != STATUS_KEY
    }
    metadata = {**kept, STATUS_KEY: status}
    await ctx.client.update_bucket(bucket.name, history=history, metadata=metadata)
    forget_bucket(ctx.client, bucket.name)
    return Response(status_code=200)


# -- deleting one version -----------------------------------------------------------------


async def delete_version(bucket: Bucket, key: str, revision: int) -> dict[str, str]:
    """Remove one version (a delete marker too) and its chunks unless shared; the answer's
    headers. A version that does not exist is no error (S3's 204)."""
    target = await bucket.delete_revision(key, revision)
    headers = {"x-amz-version-id": str(revision)}
    if target is not None and target.deleted:
        headers["x-amz-delete-marker"] = "true"
    return headers


# -- ListObjectVersions ------------------------------------------------------------------


@dataclass
class _Entry:
    key: str
    info: ObjectInfo | None = None  # None: a common prefix (in ``key``)
    latest: bool = False


async def _revisions(bucket: Bucket, name: str) -> list[ObjectInfo]:
    """Newest first; a bucket without history answers only its live object."""
    if not versioned(bucket):
        try:
            return [await bucket.info(name)]
        except ObjectNotFound:
            return []
    try:
        return list(reversed(await bucket.versions(name)))
    except ObjectNotFound:
        return []


async def _entries(
    bucket: Bucket, prefix: str, delimiter: str, key_marker: str, version_marker: int | None
) -> AsyncGenerator[_Entry, None]:
    """Every version and common prefix after the markers, in S3's order (key, newest first)."""
    names = await listing.object_names(bucket)
    if key_marker and version_marker is not None and key_marker.startswith(prefix):
        revs = await _revisions(bucket, key_marker)
        for n, info in enumerate(revs):
            if info.revision < version_marker:
                yield _Entry(key_marker, info, latest=n == 0)
    walk = listing.walk(names, prefix, delimiter, key_marker)
    done = False
    while not done:
        batch: list[tuple[str, str]] = []
        for entry in walk:
            batch.append(entry)
            if len(batch) >= _FETCH_BATCH:
                break
        else:
            done = True
        keys = [name for kind, name in batch if kind == "key"]
        found = dict(zip(keys, await asyncio.gather(*(_revisions(bucket, k) for k in keys)), strict=True))
        for kind, value in batch:
            if kind == "prefix":
                yield _Entry(value)
                continue
            for n, info in enumerate(found[value]):
                yield _Entry(value, info, latest=n == 0)


def _int_arg(ctx: S3Request, name: str, default: int) -> int:
    text = ctx.query.get(name, "")
    if text == "":
        return default
    if not text.isdigit():
        raise S3Error("InvalidArgument", f"{name} must be a non-negative integer")
    return int(text)


async def list_versions(ctx: S3Request) -> Response:
    """ListObjectVersions: ``prefix``, ``delimiter``, ``key-marker`` / ``version-id-marker``,
    ``max-keys`` (≤ 1,000; a version, a delete marker and a common prefix count one each)."""
    bucket = await open_s3_bucket(ctx)
    prefix, delimiter = ctx.query.get("prefix", ""), ctx.query.get("delimiter", "")
    key_marker, version_text = ctx.query.get("key-marker", ""), ctx.query.get("version-id-marker")
    if version_text and not key_marker:
        raise S3Error("InvalidArgument", "A version-id marker cannot be specified without a key marker.")
    version_marker = parse_version(version_text) if version_text else None
    if version_text == "null":
        version_marker = 1  # the only version of an unversioned key: start after it
    max_keys = min(_int_arg(ctx, "max-keys", 1000), 1000)
    encoding = ctx.query.get("encoding-type")
    if encoding not in (None, "url"):
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request")

    def enc(text: str) -> str:
        return quote(text, safe="/") if encoding == "url" else text

    page, truncated = await _page(_entries(bucket, prefix, delimiter, key_marker, version_marker), max_keys)
    root = document("ListVersionsResult")
    sub(root, "Name", ctx.bucket)
    sub(root, "Prefix", enc(prefix))
    sub(root, "KeyMarker", enc(key_marker))
    sub(root, "VersionIdMarker", version_text or "")
    if truncated and page:
        last = page[-1]
        sub(root, "NextKeyMarker", enc(last.key))
        if last.info is not None:
            sub(root, "NextVersionIdMarker", _version_id(bucket, last.info))
    sub(root, "MaxKeys", max_keys)
    if delimiter:
        sub(root, "Delimiter", enc(delimiter))
    if encoding:
        sub(root, "EncodingType", encoding)
    sub(root, "IsTruncated", truncated)
    for entry in page:
        _render(root, bucket, entry, enc)
    return xml_response(root)


async def _page(entries: AsyncGenerator[_Entry, None], max_keys: int) -> tuple[list[_Entry], bool]:
    """The first ``max_keys`` entries, and whether more follow (at most one more is read)."""
    page: list[_Entry] = []
    try:
        async for entry in entries:
            if len(page) >= max_keys:
                return page, True
            page.append(entry)
    finally:
        await entries.aclose()
    return page, False


def _version_id(bucket: Bucket, info: ObjectInfo) -> str:
    return str(info.revision) if versioned(bucket) else "null"


def _render(root: Element, bucket: Bucket, entry: _Entry, enc: Callable[[str], str]) -> None:
    if entry.info is None:
        sub(sub(root, "CommonPrefixes"), "Prefix", enc(entry.key))
        return
    info = entry.info
    item = sub(root, "DeleteMarker" if info.deleted else "Version")
    sub(item, "Key", enc(entry.key))
    sub(item, "VersionId", _version_id(bucket, info))
    sub(item, "IsLatest", entry.latest)
    sub(item, "LastModified", iso8601(info.modified_ns))
    if not info.deleted:
        sub(item, "ETag", etag_of(info))
        sub(item, "Size", info.original_size)
        sub(item, "StorageClass", "STANDARD")
    owner = sub(item, "Owner")
    sub(owner, "ID", OWNER_ID)
    sub(owner, "DisplayName", OWNER_ID)

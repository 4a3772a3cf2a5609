"""ListParts (``GET ?uploadId``) and ListMultipartUploads (``GET /bucket?uploads``).

Both read names from the bucket's subject index (:func:`~orlop.gateway.s3.listing.object_names`,
cached while the stream is unchanged) and only the metas they answer: a page of parts
reads its parts' metas in batches; the uploads listing reads every upload record's meta
(in-progress uploads are few; their keys live in the records, not in their names).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import quote

from starlette.responses import Response

from orlop.gateway.s3 import uploads
from orlop.gateway.s3.bucket_ops import OWNER_ID, open_s3_bucket, xml_response
from orlop.gateway.s3.context import S3Request
from orlop.gateway.s3.errors import S3Error
from orlop.gateway.s3.etags import etag_of
from orlop.gateway.s3.listing import infos
from orlop.gateway.s3.object_ops import object_key
from orlop.gateway.s3.xmlio import document, iso8601, sub

__all__ = ["list_parts", "list_uploads", "select_uploads"]

_MAX = 1000


def _count(ctx: S3Request, name: str) -> int:
    text = ctx.query.get(name, "")
    if text == "":
        return _MAX
    if not text.isdigit():
        raise S3Error("InvalidArgument", f"{name} must be a non-negative integer")
    return min(int(text), _MAX)


def _people(parent: ET.Element) -> None:
    for tag in ("Initiator", "Owner"):
        who = sub(parent, tag)
        sub(who, "ID", OWNER_ID)
        sub(who, "DisplayName", OWNER_ID)


async def list_parts(ctx: S3Request) -> Response:
    """ListParts: the parts stored so far, by number, after ``part-number-marker``."""
    bucket = await open_s3_bucket(ctx)
    key = object_key(ctx)
    upload = await uploads.load_upload(bucket, ctx.query.get("uploadId", ""), key)
    limit = _count(ctx, "max-parts")
    marker_text = ctx.query.get("part-number-marker", "") or "0"
    if not marker_text.isdigit():
        raise S3Error("InvalidArgument", "part-number-marker must be an integer")
    marker = int(marker_text)
    parts = [
        p
        for p in await uploads.stored_parts(bucket, upload.upload_id)
        if uploads.part_number_of(p.name) > marker
    ]
    page = parts[:limit]
    root = document("ListPartsResult")
    sub(root, "Bucket", ctx.bucket)
    sub(root, "Key", key)
    sub(root, "UploadId", upload.upload_id)
    sub(root, "PartNumberMarker", marker)
    if page:
        sub(root, "NextPartNumberMarker", uploads.part_number_of(page[-1].name))
    sub(root, "MaxParts", limit)
    sub(root, "IsTruncated", len(parts) > len(page))
    for part in page:
        item = sub(root, "Part")
        sub(item, "PartNumber", uploads.part_number_of(part.name))
        sub(item, "LastModified", iso8601(part.modified_ns))
        sub(item, "ETag", etag_of(part))
        sub(item, "Size", part.original_size)
    _people(root)
    sub(root, "StorageClass", "STANDARD")
    return xml_response(root)


Entry = tuple[str, uploads.Upload | None]  # (key, its upload) or (common prefix, None)


def select_uploads(
    found: list[uploads.Upload], *, prefix: str, delimiter: str, key_marker: str, id_marker: str, limit: int
) -> tuple[list[Entry], bool]:
    """One page of uploads (sorted by key, then id) and common prefixes after the markers;
    and whether more follow."""
    entries: list[Entry] = []
    for upload in found:
        if not upload.key.startswith(prefix):
            continue
        if key_marker and not (
            upload.key > key_marker
            or (id_marker and upload.key == key_marker and upload.upload_id > id_marker)
        ):
            continue
        cut = upload.key.find(delimiter, len(prefix)) if delimiter else -1
        entry: Entry = (upload.key, upload)
        if cut >= 0:
            entry = (upload.key[: cut + len(delimiter)], None)
            if entry in entries[-1:] or entry[0] <= key_marker:
                continue  # rolled up already (names with one prefix sort together)
        if len(entries) >= limit:
            return entries, True
        entries.append(entry)
    return entries, False


async def list_uploads(ctx: S3Request) -> Response:
    """ListMultipartUploads: by key, then by creation; ``prefix``, ``delimiter``, key/upload-id markers."""
    bucket = await open_s3_bucket(ctx)
    prefix, delimiter = ctx.query.get("prefix", ""), ctx.query.get("delimiter", "")
    key_marker, id_marker = ctx.query.get("key-marker", ""), ctx.query.get("upload-id-marker", "")
    encoding = ctx.query.get("encoding-type")
    if encoding not in (None, "url"):
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request")
    limit = _count(ctx, "max-uploads")
    records = await infos(bucket, await uploads.upload_names(bucket))
    found = sorted(
        (u for i in records if i is not None and (u := uploads.upload_from_info(i)) is not None),
        key=lambda u: (u.key, u.upload_id),
    )
    entries, truncated = select_uploads(
        found, prefix=prefix, delimiter=delimiter, key_marker=key_marker, id_marker=id_marker, limit=limit
    )

    def enc(text: str) -> str:
        return quote(text, safe="/") if encoding == "url" else text

    root = document("ListMultipartUploadsResult")
    sub(root, "Bucket", ctx.bucket)
    sub(root, "KeyMarker", enc(key_marker))
    sub(root, "UploadIdMarker", id_marker)
    if truncated and entries:
        last_name, last_upload = entries[-1]
        sub(root, "NextKeyMarker", enc(last_name))
        sub(root, "NextUploadIdMarker", last_upload.upload_id if last_upload else "")
    sub(root, "Prefix", enc(prefix))
    if delimiter:
        sub(root, "Delimiter", enc(delimiter))
    if encoding:
        sub(root, "EncodingType", encoding)
    sub(root, "MaxUploads", limit)
    sub(root, "IsTruncated", truncated)
    for name, upload in entries:
        if upload is None:
            sub(sub(root, "CommonPrefixes"), "Prefix", enc(name))
            continue
        item = sub(root, "Upload")
        sub(item, "Key", enc(upload.key))
        sub(item, "UploadId", upload.upload_id)
        _people(item)
        sub(item, "StorageClass", "STANDARD")
        sub(item, "Initiated", iso8601(upload.initiated_ns))
    return xml_response(root)

"""ETags as S3 clients expect them, and what objects written by other clients get.

An object put through the S3 API carries the MD5 of its bytes, computed while they
streamed in, in its ``Orlop-S3-ETag`` header (an ``Orlop-`` header, so metadata updates
keep it): its ETag is ``"<md5 hex>"``, as S3's for a single-part upload (a completed
multipart upload keeps S3's ``"<md5 of the parts' MD5s>-<N>"`` there). An object put
by another client (nats-py, nats.go, the JSON gateway) has no MD5, and reading it
whole to compute one would make HEAD and listings cost the object's size. Its ETag is
then the hex of the SHA-256 digest the object store already keeps: stable, changes
with the bytes, and 64 hex digits, so no client mistakes it for an MD5 (rclone and the
AWS CLI compare 32-hex ETags with their own MD5s).
"""

from __future__ import annotations

import re

from orlop.objects import ObjectInfo
from orlop.objects.meta import digest_bytes

__all__ = ["ETAG_HEADER", "etag_matches", "etag_of"]

ETAG_HEADER = "Orlop-S3-ETag"
_MD5 = re.compile(r"[0-9a-f]{32}(-[0-9]{1,5})?")  # a multipart upload's: "<md5 of part md5s>-N"


def etag_of(info: ObjectInfo) -> str:
    """The quoted ETag of an object (see the module docstring)."""
    stored = info.header(ETAG_HEADER)
    if stored and _MD5.fullmatch(stored):
        return f'"{stored}"'
    raw = digest_bytes(info.digest) if info.digest else None
    return f'"{raw.hex()}"' if raw else '"' + "0" * 64 + '"'


def etag_matches(info: ObjectInfo, header: str) -> bool:
    """Whether an ``If-Match`` / ``If-None-Match`` list names this object (``*`` names any)."""
    mine = etag_of(info).strip('"')
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == "*" or tag.strip('"') == mine:
            return True
    return False

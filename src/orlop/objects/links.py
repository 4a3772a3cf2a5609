"""Links: meta entries that point at another object or at a whole bucket (ADR-20).

We write links the way nats.go does (a rolled-up meta with a fresh ``nuid``,
zero size and chunks, ``options.link``), so Go and nats.py can follow them,
and we follow links written by nats.js (no ``nuid``, target bucket in
``bucket``). Rules: a link target must be a live, non-link object; a name
held by a live object cannot become a link (ObjectAlreadyExists); reading a
bucket link, a link whose target is deleted or missing, or a link to a link
raises LinkError; links are never followed more than one hop.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from nats.nuid import NUID

from orlop.errors import BadRequest, BucketNotFound, LinkError, ObjectAlreadyExists
from orlop.jsapi.timefmt import format_ts
from orlop.objects.core import BucketCore
from orlop.objects.meta import ObjectInfo, ObjectLink, validate_bucket_name, validate_object_name

__all__ = ["BucketOpener", "add_link", "object_link", "resolve"]

BucketOpener = Callable[[str], Awaitable[BucketCore]]
"""Opens another bucket by name (BucketNotFound when there is none): how a link reaches its target."""

_nuid = NUID()


async def add_link(core: BucketCore, name: str, link: ObjectLink) -> ObjectInfo:
    """Publish a link meta under ``name``; see :meth:`orlop.objects.Bucket.add_link`."""
    validate_object_name(name)
    existing = await core.latest(name)
    if existing is not None and not existing.deleted and not existing.is_link:
        raise ObjectAlreadyExists(f"object {name!r} exists and is not a link")
    info = ObjectInfo(
        name=name, bucket=core.name, nuid=_nuid.next().decode(), link=link, mtime=format_ts(time.time_ns())
    )
    seq, _ = await core.publish_meta(info, expected=existing.revision if existing else 0)
    info.revision, info.modified_ns = seq, time.time_ns()
    await core.after_write(info, existing)
    return info


def object_link(target: Any) -> ObjectLink:
    """The link to a target ObjectInfo; LinkError for deleted objects and links."""
    if not isinstance(target, ObjectInfo):
        raise BadRequest("add_link needs the ObjectInfo of the target (from bucket.info())")
    if target.deleted:
        raise LinkError(f"cannot link to the deleted object {target.name!r}")
    if target.is_link:
        raise LinkError(f"cannot link to the link {target.name!r}")
    return ObjectLink(validate_bucket_name(target.bucket), target.name)


async def resolve(
    core: BucketCore, info: ObjectInfo, open_bucket: BucketOpener
) -> tuple[BucketCore, ObjectInfo]:
    """The bucket and live object a link points to (``info`` itself when it is no link)."""
    link = info.link
    if link is None:
        return core, info
    if link.is_bucket_link:
        raise LinkError(f"{info.name!r} is a link to the bucket {link.bucket!r}, not to an object")
    target_bucket = core
    if link.bucket != core.name:
        try:
            target_bucket = await open_bucket(link.bucket)
        except BucketNotFound as e:
            raise LinkError(f"link {info.name!r} points to the missing bucket {link.bucket!r}") from e
    assert link.name is not None
    target = await target_bucket.latest(link.name)
    if target is None or target.deleted:
        raise LinkError(f"link {info.name!r} points to the missing object {link.name!r}")
    if target.is_link:
        raise LinkError(f"link {info.name!r} points to another link")
    return target_bucket, target

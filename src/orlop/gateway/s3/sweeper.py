"""Abandoned multipart uploads are removed after a while (``upload_expiry``, default 24 h).

An upload whose client went away leaves its record and parts in the bucket (see
:mod:`.uploads`) until someone aborts it. The gateway sweeps every bucket when it starts
and then every ``upload_sweep_interval``: an upload initiated longer than ``upload_expiry``
ago is removed, record and parts, as AbortMultipartUpload would (S3's lifecycle rule
``AbortIncompleteMultipartUpload`` does the same, in days). Nothing is read but names: an
upload id starts with its creation time (nanoseconds, hex), so the age of a record *and*
of each part is in its name, and parts left behind without a record (a part that landed
as its upload was aborted) go too. The sweep runs as the gateway's own NATS identity; a
bucket it may not read or write is skipped (logged), as is one deleted meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from orlop.errors import BucketNotFound, ObjectStoreError
from orlop.gateway.s3 import listing, uploads
from orlop.gateway.s3.listing import HIDDEN_PREFIX
from orlop.objects import Bucket, ObjectStoreClient

__all__ = ["DEFAULT_EXPIRY", "expired_uploads", "run_sweeper", "sweep", "sweep_bucket"]

log = logging.getLogger("orlop.gateway.s3")
DEFAULT_EXPIRY = 24 * 3600.0
_ID_TIME_DIGITS = 16  # an upload id: 16 hex digits of time.time_ns(), then 16 random ones


def expired_uploads(names: list[str], cutoff_ns: int) -> list[str]:
    """The upload ids named (records or parts) whose creation time is before ``cutoff_ns``."""
    found: set[str] = set()
    for name in listing.names_under(names, HIDDEN_PREFIX):
        upload_id = name[len(HIDDEN_PREFIX) :].partition("/")[0]
        if len(upload_id) != 32:
            continue
        try:
            created = int(upload_id[:_ID_TIME_DIGITS], 16)
        except ValueError:
            continue
        if created < cutoff_ns:
            found.add(upload_id)
    return sorted(found)


async def sweep_bucket(bucket: Bucket, expiry: float, now_ns: int | None = None) -> int:
    """Remove the uploads of ``bucket`` older than ``expiry`` seconds; how many went."""
    cutoff = (now_ns if now_ns is not None else time.time_ns()) - int(expiry * 1e9)
    stale = expired_uploads(await listing.object_names(bucket), cutoff)
    for upload_id in stale:
        await uploads.remove_upload(bucket, upload_id)
    if stale:
        log.info("removed %d abandoned multipart upload(s) from bucket %s", len(stale), bucket.name)
    return len(stale)


async def sweep(client: ObjectStoreClient, expiry: float, now_ns: int | None = None) -> int:
    """:func:`sweep_bucket` over every bucket ``client`` sees; uploads removed in all."""
    removed = 0
    for name in await client.buckets():
        try:
            removed += await sweep_bucket(await client.bucket(name), expiry, now_ns)
        except BucketNotFound:
            continue
        except ObjectStoreError as exc:  # a permission the gateway's identity lacks, a sealed bucket…
            log.warning("abandoned uploads in bucket %s not swept: %s", name, exc)
    return removed


async def run_sweeper(
    client: Callable[[], Awaitable[ObjectStoreClient]], expiry: float, interval: float
) -> None:
    """Sweep now and then every ``interval`` seconds, until cancelled; failures are logged."""
    while True:
        try:
            await sweep(await client(), expiry)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # NATS unreachable for now: try again next time
            log.warning("sweeping abandoned multipart uploads failed: %s", exc)
        await asyncio.sleep(interval)

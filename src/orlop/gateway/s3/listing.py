"""ListObjects (v1 and v2) without reading every object's metadata per page.

An S3 page of 1,000 keys out of 100,000 must cost about 1,000 keys, so the names come
from the stream's subject index, not from the metas: STREAM.INFO with
``subjects_filter: $O.<bucket>.M.>`` answers every meta subject, and a meta subject is
``base64url(name)``, so the names are known without reading a single meta. They are
sorted (code point order, which is UTF-8 byte order: S3's order), and a page is cut
from them with bisect (prefix, marker / start-after / continuation token) and rolled
up by the delimiter (CommonPrefixes need no meta at all). Only the page's keys' metas
are then fetched: in DIRECT.GET ``multi_last`` batches (one request answers 256 metas;
nats-server 2.11+ and Orlop), else one last-by-subject get each; tombstones are skipped
and the page refilled.

The sorted names are cached per bucket and connection, valid while the stream's
first/last sequence and message count are unchanged (one cheap STREAM.INFO per page
checks it): paging through a bucket nobody writes to decodes the names once. nats-server
answers at most 100,000 subjects per STREAM.INFO, so the index is read in pages
(``offset``); Orlop answers them all at once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field

from nats.aio.msg import Msg

from orlop.errors import ObjectNotFound
from orlop.objects import Bucket, ObjectInfo
from orlop.objects.core import BucketCore
from orlop.objects.meta import encode_name
from orlop.objects.orphans import subject_counts
from orlop.objects.wire import StoredMsg

__all__ = ["HIDDEN_PREFIX", "Page", "infos", "list_page", "names_under", "object_names", "walk"]

log = logging.getLogger("orlop.gateway.s3")
_FETCH_CONCURRENCY = 64
_BATCH = 256  # subjects per multi_last request
# What a batched direct get adds to each stored message (the stored ones, Nats-TTL, stay).
_REPLY_HEADERS = frozenset(
    (
        "nats-stream",
        "nats-subject",
        "nats-sequence",
        "nats-time-stamp",
        "nats-num-pending",
        "nats-last-sequence",
    )
)
_CACHE_BUCKETS = 64
# Names the gateway keeps for itself (multipart uploads in progress, :mod:`.uploads`):
# never listed, never addressable as S3 keys.
HIDDEN_PREFIX = ".orlop-s3-mpu/"
_cache: dict[tuple[int, str], tuple[tuple[int, int, int], list[str]]] = {}


def _name_of(subject: str, prefix: str) -> str | None:
    if not subject.startswith(prefix):
        return None
    token = subject[len(prefix) :]
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        return None  # not a meta nuid could have written: ignored


async def object_names(bucket: Bucket) -> list[str]:
    """Every name with a meta in ``bucket`` (tombstones included), sorted."""
    api = f"STREAM.INFO.{bucket.stream}"
    state = (await bucket.wire.request(api)).get("state", {})
    version = (int(state.get("first_seq", 0)), int(state.get("last_seq", 0)), int(state.get("messages", 0)))
    key = (id(bucket.wire), bucket.name)
    cached = _cache.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    prefix = f"$O.{bucket.name}.M."
    subjects = await subject_counts(bucket.core, prefix + ">")
    names = sorted(n for s in subjects if (n := _name_of(s, prefix)) is not None)
    if len(_cache) >= _CACHE_BUCKETS:
        _cache.pop(next(iter(_cache)))
    _cache[key] = (version, names)
    return names


def _after(text: str) -> str:
    """The smallest string greater than every string that starts with ``text``."""
    return text[:-1] + chr(min(ord(text[-1]) + 1, 0x10FFFF)) if text else text


def names_under(names: list[str], prefix: str) -> list[str]:
    """The slice of sorted ``names`` that start with ``prefix`` (two bisects)."""
    return names[bisect_left(names, prefix) : bisect_left(names, _after(prefix))] if prefix else names


def walk(names: list[str], prefix: str, delimiter: str, marker: str) -> Iterator[tuple[str, str]]:
    """``("key", name)`` and ``("prefix", common prefix)`` entries after ``marker``, in order
    (the gateway's own :data:`HIDDEN_PREFIX` names skipped with one bisect)."""
    i = max(bisect_left(names, prefix), bisect_right(names, marker) if marker else 0)
    while i < len(names):
        name = names[i]
        if not name.startswith(prefix):
            return
        if name.startswith(HIDDEN_PREFIX):
            i = bisect_left(names, _after(HIDDEN_PREFIX), i)
            continue
        cut = name.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            common = name[: cut + len(delimiter)]
            if not marker or common > marker:  # a prefix at or before the marker was answered already
                yield "prefix", common
            i = bisect_left(names, _after(common), i)
            continue
        yield "key", name
        i += 1


@dataclass
class Page:
    keys: list[ObjectInfo] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last: str = ""  # the last key or prefix answered (the next page's marker)


async def _multi_last(bucket: Bucket, names: list[str]) -> dict[str, ObjectInfo]:
    """The newest meta of each name in one DIRECT.GET batch (``multi_last``): one request,
    one reply message per meta, then an end-of-batch status. Raises on anything unexpected
    (the caller falls back to one get per name)."""
    nc, prefix = bucket.wire.nc, f"$O.{bucket.name}.M."
    replies: list[Msg] = []
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def collect(msg: Msg) -> None:  # a callback, not next_msg(): a task per message costs more
        replies.append(msg)
        status = (msg.headers or {}).get("Status")
        if status and not done.done():
            done.set_result(None)

    sub = await nc.subscribe(nc.new_inbox(), cb=collect)
    try:
        body = {"multi_last": [prefix + encode_name(n) for n in names], "batch": len(names)}
        subject = f"{bucket.wire.api_prefix}.DIRECT.GET.{bucket.stream}"
        await nc.publish(subject, json.dumps(body).encode(), reply=sub.subject)
        await asyncio.wait_for(done, bucket.wire.timeout)
    finally:
        await sub.unsubscribe()
    found: dict[str, ObjectInfo] = {}
    for msg in replies:
        headers = msg.headers or {}
        status = headers.get("Status")
        if status in ("204", "404"):  # end of batch / none of them exists
            return found
        if status:
            raise RuntimeError(f"DIRECT.GET multi_last answered {status} {headers.get('Description', '')}")
        low = {k.lower(): v for k, v in headers.items()}
        stored = StoredMsg(
            low.get("nats-subject", ""),
            int(low.get("nats-sequence", "0")),
            {k: v for k, v in headers.items() if k.lower() not in _REPLY_HEADERS},
            msg.data,
            low.get("nats-time-stamp", ""),
        )
        info = BucketCore.info_from_msg(stored)
        found[info.name] = info
    raise RuntimeError("DIRECT.GET multi_last: no end-of-batch")


async def infos(bucket: Bucket, names: list[str]) -> list[ObjectInfo | None]:
    """The live meta of each name (None: deleted or gone), batched when the stream allows direct gets."""
    if bucket.allow_direct and not bucket.core.replicated and names:
        try:
            batches = [names[i : i + _BATCH] for i in range(0, len(names), _BATCH)]
            found: dict[str, ObjectInfo] = {}
            for part in await asyncio.gather(*(_multi_last(bucket, b) for b in batches)):
                found.update(part)
            return [i if (i := found.get(n)) is not None and not i.deleted else None for n in names]
        except Exception:  # an older server without multi_last: one get per name below
            log.debug("multi_last batch failed; one get per name", exc_info=True)
    gate = asyncio.Semaphore(_FETCH_CONCURRENCY)

    async def one(name: str) -> ObjectInfo | None:
        async with gate:
            try:
                return await bucket.info(name)
            except ObjectNotFound:
                return None  # deleted (a tombstone) or gone since the index was read

    return list(await asyncio.gather(*(one(n) for n in names)))


async def list_page(bucket: Bucket, *, prefix: str, delimiter: str, marker: str, max_keys: int) -> Page:
    """One page of at most ``max_keys`` keys and common prefixes after ``marker``."""
    page = Page()
    if max_keys <= 0:
        return page
    entries = walk(await object_names(bucket), prefix, delimiter, marker)
    pending: list[tuple[str, str]] = []
    exhausted = False
    while len(page.keys) + len(page.prefixes) < max_keys and not exhausted:
        pending.clear()
        room = max_keys - len(page.keys) - len(page.prefixes)
        for entry in entries:
            pending.append(entry)
            if len(pending) >= room:
                break
        else:
            exhausted = True
        found = iter(await infos(bucket, [n for kind, n in pending if kind == "key"]))
        for kind, value in pending:
            if kind == "prefix":
                page.prefixes.append(value)
            elif (info := next(found)) is not None:
                page.keys.append(info)
            page.last = value
    if not exhausted:
        page.truncated = next(entries, None) is not None
    return page

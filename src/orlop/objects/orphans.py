"""Chunks that no meta names: what a put cut off leaves behind, and the sweep that frees them.

A put publishes its chunks to ``$O.<bucket>.C.<nuid>`` first and its meta last (ADR-20),
and purges what it sent when it fails. A put whose process is killed, or whose
connection or server dies under it, cannot: its chunks stay, invisible (no meta names
their nuid) and holding their space. :func:`find_orphans` lists them and
:func:`sweep_orphans` purges them.

A chunk subject is an orphan when no retained meta (a current revision, one kept in
history, a tombstone) names its nuid and its newest chunk is older than ``older_than``
(at least :data:`SAFE_AGE`). The age keeps puts in flight safe: they publish their meta
right after their last chunk, and a put fed so slowly that its newest chunk can reach
that age runs longer than :data:`SAFE_AGE` and so counts its chunks before its meta
(``put._write``): a sweep that took them fails that put instead of leaving a meta without
its chunks. The metas are read after the chunk subjects, so a put that finishes meanwhile
is seen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from orlop.errors import BadRequest, ObjectStoreUnavailable
from orlop.jsapi.timefmt import parse_ts
from orlop.objects.consumer import PushStream
from orlop.objects.core import BucketCore
from orlop.objects.meta import meta_filter
from orlop.objects.watch import info_from_delivery

__all__ = ["MIN_AGE", "SAFE_AGE", "Orphan", "chunks_kept", "find_orphans", "subject_counts", "sweep_orphans"]

MIN_AGE = 60.0  # seconds: the default age below which chunks are left alone
SAFE_AGE = 1.0  # seconds: the least age allowed; a put that runs longer checks its chunks


@dataclass(frozen=True)
class Orphan:
    """The chunks of one nuid that no meta names."""

    nuid: str
    subject: str
    chunks: int  # messages on the subject
    age: float  # seconds since its newest chunk was stored


async def subject_counts(core: BucketCore, subjects_filter: str) -> dict[str, int]:
    """Every subject of the bucket's stream matching ``subjects_filter``, with its message
    count (STREAM.INFO ``subjects_filter``, page by page)."""
    api = f"STREAM.INFO.{core.stream}"
    counts: dict[str, int] = {}
    while True:
        answer = await core.wire.request(api, {"subjects_filter": subjects_filter, "offset": len(counts)})
        got: dict[str, Any] = answer.get("state", {}).get("subjects") or {}
        counts.update({s: int(n) for s, n in got.items()})
        if not got or len(counts) >= int(answer.get("total", 0) or 0):
            return counts


async def _named_nuids(core: BucketCore) -> set[str]:
    """The nuid of every retained meta of the bucket (all revisions, tombstones too)."""
    stream = PushStream(core.wire, core.stream, meta_filter(core.name), deliver_policy="all")
    named: set[str] = set()
    try:
        await stream.open()
        while (d := await stream.next()) is not None:
            info = info_from_delivery(d)
            if info is not None and info.nuid:
                named.add(info.nuid)
    finally:
        await stream.close()
    return named


async def find_orphans(core: BucketCore, older_than: float = MIN_AGE) -> list[Orphan]:
    """The bucket's orphaned chunk subjects whose newest chunk is older than ``older_than`` s
    (BadRequest below :data:`SAFE_AGE`)."""
    if not older_than >= SAFE_AGE:
        raise BadRequest(f"older_than must be at least {SAFE_AGE:g} s: younger chunks may be a running put's")
    prefix = f"$O.{core.name}.C."
    chunk_subjects = await subject_counts(core, prefix + ">")  # first: see the module docstring
    if not chunk_subjects:
        return []
    named = await _named_nuids(core)
    now = time.time()
    out = []
    for subject, count in sorted(chunk_subjects.items()):
        nuid = subject[len(prefix) :]
        if nuid in named:
            continue
        newest = await core.get_msg({"last_by_subj": subject})
        if newest is None:
            continue  # purged meanwhile
        age = now - parse_ts(newest.time) / 1e9
        if age >= older_than:
            out.append(Orphan(nuid, subject, count, age))
    return out


async def sweep_orphans(core: BucketCore, older_than: float = MIN_AGE) -> list[Orphan]:
    """Purge the orphans :func:`find_orphans` finds; returns them."""
    found = await find_orphans(core, older_than)
    for orphan in found:
        await core.purge({"filter": orphan.subject})
    return found


async def chunks_kept(core: BucketCore, subject: str, count: int) -> None:
    """Before a long put's meta: are its ``count`` chunks all still there? A sweep that
    took them (they looked orphaned while the put stalled) fails the put, which then
    publishes no meta and removes what is left, instead of naming missing chunks."""
    stored = (await subject_counts(core, subject)).get(subject, 0)
    if stored != count:
        await core.purge_subject_quietly(subject)
        raise ObjectStoreUnavailable(
            f"{count - stored} of this put's {count} chunks were removed while it ran"
            " (a sweep of orphaned chunks, 'orlop object gc'?): nothing was stored"
        )

"""How a put ends when it fails or is cancelled: learn the meta's fate, then keep or purge.

A put publishes its chunks, then one meta. A failure before the meta leaves
only chunks (purged); a failure after a *refused* meta too. The hard case is a
meta whose outcome is unknown: published, PubAck not seen (cancelled while
waiting, PubAck timed out). Purging then could leave a stored meta pointing at
nothing, and on overwrite (``Nats-Rollup: sub``) the previous version is
already gone. So the outcome is learned first (:func:`meta_landed`: the PubAck,
else the stream) and a stored meta counts as a successful put
(:func:`recover`). Cleanups must not stop half-way when the caller is
cancelled again: :func:`finish`. Kept apart from :mod:`.put` so the write path
stays readable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import TypeVar

from orlop.errors import JetStreamError
from orlop.objects.core import BucketCore, MetaFlight
from orlop.objects.meta import ObjectInfo, chunk_subject

__all__ = ["finish", "meta_landed", "recover"]

T = TypeVar("T")


async def finish(aw: Awaitable[T]) -> T:
    """Run ``aw`` to its end even when the caller is cancelled meanwhile.

    A cancellation that arrives while waiting is held back and raised
    (CancelledError) once ``aw`` is done: cleanups never stop half-way.
    """
    task = asyncio.ensure_future(aw)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                cancelled = True
        except BaseException:
            break
    result = task.result()
    if cancelled:
        raise asyncio.CancelledError()
    return result


async def meta_landed(core: BucketCore, name: str, nuid: str, fut: asyncio.Future[int] | None) -> int | None:
    """The sequence of a put's meta publish if it was stored, else None; never raises.

    The PubAck decides (a refusal means nothing was stored). Without one in
    time the stream is asked: is the last meta of ``name`` the one carrying
    ``nuid`` (in a history bucket: is any retained revision)? A meta that a
    later writer already replaced in a bucket without history had its chunks
    reclaimed by that writer, so None is right for it too.
    """
    if fut is None:
        return None
    try:
        return await core.wire.ack(fut)
    except JetStreamError:
        return None
    except BaseException:
        pass
    try:
        if core.history > 1:
            ours = [r.revision for r in await core.revisions(name) if r.nuid == nuid]
            return ours[0] if ours else None
        latest = await core.latest(name)
    except Exception:
        return None
    return latest.revision if latest is not None and latest.nuid == nuid else None


async def recover(
    core: BucketCore, name: str, nuid: str, flight: MetaFlight, current: ObjectInfo | None
) -> ObjectInfo | None:
    """After a failed or cancelled put: the stored ObjectInfo when its meta landed, else None.

    A stored meta makes the put a success (what it replaced is reclaimed as
    after any put); otherwise the new chunks are purged, so nothing is left.
    """
    seq = await meta_landed(core, name, nuid, flight.fut)
    if seq is None or flight.info is None:
        await core.purge_subject_quietly(chunk_subject(core.name, nuid))
        return None
    core.note_existing(name)
    info = flight.info
    info.revision, info.modified_ns = seq, time.time_ns()
    with contextlib.suppress(Exception):
        await core.after_write(info, flight.replaces or current)
    return info

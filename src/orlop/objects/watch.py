"""Watching and listing a bucket's meta subjects with one ordered push consumer.

``list`` is a ``last_per_subject`` consumer over ``$O.<bucket>.M.>`` read
until the pending count reaches 0 (an empty bucket gives ``[]``, never an
error); names are filtered with :func:`fnmatch.fnmatchcase` and returned
sorted. ``watch`` keeps the consumer open: by default it yields the current
value of every object and then every change; ``include_history`` starts at
the first retained meta, ``updates_only`` only yields changes made after it
started; ``ignore_deletes`` skips tombstones. ``watcher.initial_done`` is set
once the initial values have all been yielded (at once for ``updates_only``).
"""

from __future__ import annotations

import asyncio
import fnmatch

from orlop.errors import ObjectStoreError
from orlop.objects.consumer import Delivery, PushStream
from orlop.objects.core import BucketCore
from orlop.objects.errors import translated
from orlop.objects.meta import ObjectInfo, meta_filter

__all__ = ["ObjectWatcher", "list_objects"]


def info_from_delivery(d: Delivery) -> ObjectInfo | None:
    """The ObjectInfo a meta delivery carries, None when it is not a readable meta."""
    ttl = (d.headers or {}).get("Nats-TTL")
    try:
        return ObjectInfo.from_json(
            d.data,
            revision=d.stream_seq,
            modified_ns=d.timestamp_ns,
            ttl=int(ttl) if ttl and ttl.isdigit() else None,
        )
    except ObjectStoreError:
        return None


async def list_objects(core: BucketCore, pattern: str | None, include_deleted: bool) -> list[ObjectInfo]:
    """Current revision of every object (sorted by name); see :meth:`Bucket.list`."""
    ps = PushStream(core.wire, core.stream, meta_filter(core.name), deliver_policy="last_per_subject")
    out: list[ObjectInfo] = []
    try:
        await ps.open()
        while (d := await ps.next()) is not None:
            info = info_from_delivery(d)
            if info is None or (info.deleted and not include_deleted):
                continue
            if pattern is None or fnmatch.fnmatchcase(info.name, pattern):
                out.append(info)
    finally:
        await ps.close()
    out.sort(key=lambda i: i.name)
    return out


class ObjectWatcher:
    """An async iterator of ObjectInfo changes; also an async context manager.

    Iterating starts the watch if :meth:`start` was not awaited; :meth:`stop`
    (or leaving the ``async with``) deletes the consumer.
    """

    def __init__(
        self,
        core: BucketCore,
        *,
        include_history: bool = False,
        updates_only: bool = False,
        ignore_deletes: bool = False,
        heartbeat: float = 5.0,
    ) -> None:
        self.ignore_deletes = ignore_deletes
        self.updates_only = updates_only
        self.initial_done = asyncio.Event()
        policy = "new" if updates_only else ("all" if include_history else "last_per_subject")
        self._ps = PushStream(
            core.wire,
            core.stream,
            meta_filter(core.name),
            deliver_policy=policy,
            heartbeat=heartbeat,
            stop_at_end=False,
        )
        self._started = False

    @translated
    async def start(self) -> ObjectWatcher:
        if not self._started:
            self._started = True
            pending = await self._ps.open()
            if pending == 0 or self.updates_only:
                self.initial_done.set()
        return self

    async def stop(self) -> None:
        await self._ps.close()

    aclose = stop

    async def __aenter__(self) -> ObjectWatcher:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __aiter__(self) -> ObjectWatcher:
        return self

    @translated
    async def __anext__(self) -> ObjectInfo:
        await self.start()
        while True:
            d = await self._ps.next()
            if d is None:
                raise StopAsyncIteration
            if d.pending == 0:
                self.initial_done.set()
            info = info_from_delivery(d)
            if info is None or (info.deleted and self.ignore_deletes):
                continue
            return info

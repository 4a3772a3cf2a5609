"""BucketCore: one bucket's stream as the mechanics modules use it; knows nothing of :class:`Bucket`.

Every operation that more than one mechanics module needs lives here, below
them all: reading a meta (``latest``, ``get_msg``, ``revisions``), writing one
(``publish_meta`` with its retry rule), removing (``purge``, ``prune``), what a
write leaves to reclaim (``reclaims``, ``after_write``) and the record of a
meta publish in flight (:class:`MetaFlight`). :mod:`.put`, :mod:`.settle`,
:mod:`.versions`, :mod:`.links` and :mod:`.watch` call down into it, and
:class:`orlop.objects.Bucket` is a facade over them: no module here calls
back up, so a put reads top to bottom.

Bucket settings no NATS server knows (``orlop.history``,
``orlop.max_object_size``) are read from the stream's metadata in :meth:`load`,
so every Orlop client enforces the same rules.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orlop.errors import BadRequest, JetStreamError, ObjectNotFound, RevisionMismatch
from orlop.jsapi.timefmt import parse_ts
from orlop.objects.errors import WRONG_LAST_SEQUENCE
from orlop.objects.meta import ObjectInfo, chunk_subject, meta_subject, validate_object_name
from orlop.objects.wire import StoredMsg, Wire

__all__ = ["BucketCore", "MetaFlight"]

_KNOWN_NAMES = 1024
_META_RETRIES = 8


@dataclass
class MetaFlight:
    """A put's meta publish, for the failure path: did the meta land, and what did it replace?

    ``fut`` is the latest meta publish (its PubAck future or a task running the
    publish, never cancelled by the put's own cancellation); ``replaces`` the
    revision that publish expected to replace; ``info`` the ObjectInfo it carries.
    """

    fut: asyncio.Future[int] | None = None
    replaces: ObjectInfo | None = None
    info: ObjectInfo | None = None


class BucketCore:
    """The ``OBJ_<name>`` stream of one bucket: its settings and the operations shared below Bucket."""

    def __init__(self, wire: Wire, name: str, stream_info: dict[str, Any]) -> None:
        self.wire = wire
        self.name = name
        self.stream = f"OBJ_{name}"
        # Names this object saw exist lately: a hint for put's fast path, never for correctness.
        self.known_names: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.load(stream_info)

    def load(self, stream_info: dict[str, Any]) -> None:
        """Take the bucket's settings from a STREAM.INFO (or CREATE/UPDATE) response."""
        self.stream_info = stream_info
        cfg = stream_info.get("config", {})
        self.config: dict[str, Any] = cfg
        meta = cfg.get("metadata") or {}
        # Read defensively: metadata is editable by any client, and a bucket must always open.
        self.history = min(64, max(1, _int_or(meta.get("orlop.history"), 1)))
        self.max_object_size = max(0, _int_or(meta.get("orlop.max_object_size"), 0))
        self.allow_msg_ttl = bool(cfg.get("allow_msg_ttl"))
        self.sealed = bool(cfg.get("sealed"))
        self.allow_direct = bool(cfg.get("allow_direct"))
        self.allow_batched = bool(cfg.get("allow_batched"))  # fast ingest (see .fast_ingest)
        self.replicated = int(cfg.get("num_replicas") or 1) > 1  # direct-get misses asked of the leader

    @property
    def max_payload(self) -> int:
        return int(self.wire.nc.max_payload)

    def note_existing(self, name: str) -> None:
        """Remember that ``name`` has a meta (at most _KNOWN_NAMES names, least recent dropped)."""
        self.known_names[name] = None
        self.known_names.move_to_end(name)
        if len(self.known_names) > _KNOWN_NAMES:
            self.known_names.popitem(last=False)

    # -- reading metas ------------------------------------------------------------
    @staticmethod
    def info_from_msg(msg: StoredMsg) -> ObjectInfo:
        """The ObjectInfo carried by a stored meta message (revision, time and TTL from the message)."""
        ttl = msg.header("Nats-TTL")
        try:
            modified = parse_ts(msg.time) if msg.time else 0
        except ValueError:
            modified = 0
        return ObjectInfo.from_json(
            msg.data, revision=msg.seq, modified_ns=modified, ttl=int(ttl) if ttl and ttl.isdigit() else None
        )

    async def get_msg(self, body: dict[str, Any]) -> StoredMsg | None:
        """One stored message of the bucket's stream (DIRECT.GET when the stream allows it)."""
        return await self.wire.get_msg(
            self.stream, body, direct=self.allow_direct, replicated=self.replicated
        )

    async def latest(self, name: str) -> ObjectInfo | None:
        """The newest meta of ``name`` (tombstones included), None when there is none."""
        msg = await self.get_msg({"last_by_subj": meta_subject(self.name, name)})
        if msg is None:
            return None
        self.note_existing(name)
        return self.info_from_msg(msg)

    async def lookup(
        self, name: str, *, show_deleted: bool = False, revision: int | None = None
    ) -> ObjectInfo:
        """The current (or ``revision``) meta of ``name``; see :meth:`orlop.objects.Bucket.info`."""
        validate_object_name(name)
        if revision is None:
            found = await self.latest(name)
        else:
            if not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
                raise BadRequest("revision must be a positive integer")
            msg = await self.get_msg({"seq": revision})
            is_meta = msg is not None and msg.subject == meta_subject(self.name, name)
            found = self.info_from_msg(msg) if msg is not None and is_meta else None
            if found is not None and found.name != name:
                found = None
        if found is None or (found.deleted and not show_deleted):
            at = f" at revision {revision}" if revision else ""
            raise ObjectNotFound(f"object {name!r} not found{at}")
        return found

    async def revisions(self, name: str) -> list[ObjectInfo]:
        """Every retained revision of ``name``, oldest first (tombstones included)."""
        subject = meta_subject(self.name, name)
        out: list[ObjectInfo] = []
        seq = 1
        while True:
            msg = await self.get_msg({"next_by_subj": subject, "seq": seq})
            if msg is None:
                return out
            info = self.info_from_msg(msg)
            out.append(info)
            seq = info.revision + 1

    # -- writing metas --------------------------------------------------------------
    def meta_headers(self, expected: int, ttl: int | None) -> dict[str, str]:
        """Headers of a meta publish: rollup (no history), the expected revision, a TTL."""
        headers: dict[str, str] = {}
        if self.history <= 1:
            headers["Nats-Rollup"] = "sub"
        headers["Nats-Expected-Last-Subject-Sequence"] = str(expected)
        if ttl:
            headers["Nats-TTL"] = str(ttl)
        return headers

    async def publish_meta(
        self,
        info: ObjectInfo,
        *,
        expected: int | None,
        ttl: int | None = None,
        lookup: asyncio.Future[ObjectInfo | None] | None = None,
        flight: MetaFlight | None = None,
    ) -> tuple[int, ObjectInfo | None]:
        """Publish a meta revision; returns ``(revision, replaced info or None)``.

        ``expected`` None = unconditional: the current revision is read and the
        publish retried until it lands on exactly the revision it replaces.
        Otherwise the publish fails with RevisionMismatch when the current revision
        is not ``expected`` (0 = no message on the subject). ``lookup`` is an
        already running read of the current revision, used by the first attempt.
        With ``flight`` each publish runs as its own task recorded there, so a
        cancelled caller can still learn whether the meta was stored.
        """
        subject = meta_subject(self.name, info.name)
        old = None
        want = expected
        for attempt in range(_META_RETRIES):
            if expected is None:
                old = await lookup if lookup is not None and attempt == 0 else await self.latest(info.name)
                want = old.revision if old else 0
            assert want is not None
            try:
                publishing = self.wire.publish(subject, info.to_json(), self.meta_headers(want, ttl))
                if flight is None:
                    return await publishing, old
                if expected is None:
                    flight.replaces = old
                flight.info, flight.fut = info, asyncio.ensure_future(publishing)
                return await asyncio.shield(flight.fut), old
            except JetStreamError as e:
                if e.err_code not in WRONG_LAST_SEQUENCE or expected is not None:
                    raise
        raise RevisionMismatch("the object kept changing while it was being written")

    # -- removing ---------------------------------------------------------------------
    async def purge(self, body: dict[str, Any]) -> int:
        """STREAM.PURGE of the bucket's stream with ``body``; returns how many messages went."""
        resp = await self.wire.request(f"STREAM.PURGE.{self.stream}", body)
        return int(resp.get("purged", 0))

    async def purge_subject_quietly(self, subject: str) -> None:
        """Best-effort purge used on failure paths (the original error matters more)."""
        with contextlib.suppress(Exception):
            await self.purge({"filter": subject})

    async def prune(self, name: str) -> None:
        """Drop revisions beyond the bucket's history depth, with their unshared chunks.

        The meta purge is bounded by sequence (everything on the subject before the
        oldest revision kept), not by ``keep``: it removes exactly the revisions read
        here, whose chunks are then known, even while other writers add revisions
        (a newer revision is pruned by its own writer's prune). Chunks shared with a
        revision still retained after the purge (``restore``) stay.
        """
        revs = await self.revisions(name)
        keep = self.history
        if len(revs) <= keep:
            return
        await self.purge({"filter": meta_subject(self.name, name), "seq": revs[-keep].revision})
        await self.purge_unshared(name, revs[:-keep])

    async def purge_unshared(self, name: str, dropped: Iterable[ObjectInfo]) -> None:
        """Purge the chunks of ``dropped`` revisions (their metas already gone) that no revision
        of ``name`` still retained shares (``restore`` re-publishes a meta with its chunks'
        nuid; a tombstone carries its object's). Read after the metas went, so a revision
        written meanwhile keeps its chunks."""
        retained = {r.nuid for r in await self.revisions(name)}
        for nuid in sorted({r.nuid for r in dropped if r.nuid and not r.is_link} - retained):
            await self.purge({"filter": chunk_subject(self.name, nuid)})

    def reclaims(self, info: ObjectInfo, old: ObjectInfo | None) -> bool:
        """Whether :meth:`after_write` has work: old revisions to prune, or replaced chunks to purge."""
        if self.history > 1:
            return True
        if old is None or old.deleted or old.is_link:
            return False
        return bool(old.nuid) and old.nuid != info.nuid

    async def after_write(self, info: ObjectInfo, old: ObjectInfo | None) -> None:
        """Reclaim what the new revision replaced (no history) or prune old revisions (history)."""
        if self.history > 1:
            await self.prune(info.name)
            return
        if old is not None and self.reclaims(info, old):
            await self.purge({"filter": chunk_subject(self.name, old.nuid)})


def _int_or(text: Any, default: int) -> int:
    """``text`` as an integer, or ``default`` when it is missing or not one."""
    try:
        return int(text)
    except (TypeError, ValueError):
        return default

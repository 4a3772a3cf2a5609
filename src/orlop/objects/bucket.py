"""Bucket: the Object Store operations on one ``OBJ_<bucket>`` stream.

The class is the public face; the mechanics live beside it (:mod:`.put`,
:mod:`.reader`, :mod:`.watch`, :mod:`.links`, :mod:`.versions`). Every public
coroutine translates JetStream errors into :mod:`orlop.errors` through
:func:`orlop.objects.errors.translated`, so callers only ever see the Object Store tree.
Bucket settings that no NATS server knows (``orlop.history``,
``orlop.max_object_size``) are read from the stream's metadata when the bucket
is opened, so every Orlop client enforces the same rules.
"""

from __future__ import annotations

import builtins
import collections
import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orlop.errors import (
    BadRequest,
    BucketSealed,
    ObjectAlreadyExists,
    ObjectNotFound,
)
from orlop.jsapi.timefmt import parse_ts
from orlop.objects import links, versions
from orlop.objects.direct_sink import open_download
from orlop.objects.errors import translated
from orlop.objects.meta import (
    ObjectInfo,
    ObjectLink,
    chunk_subject,
    meta_subject,
    normalize_headers,
    normalize_metadata,
    validate_bucket_name,
    validate_object_name,
)
from orlop.objects.put import publish_meta, put_object
from orlop.objects.reader import ObjectReader
from orlop.objects.watch import ObjectWatcher, list_objects
from orlop.objects.wire import StoredMsg, Wire

if TYPE_CHECKING:
    from orlop.objects.client import ObjectStoreClient

__all__ = ["Bucket", "BucketStatus"]

_KNOWN_NAMES = 1024


async def _download_to_path(reader: ObjectReader, path: str) -> None:
    """All of ``reader`` into ``path.orlop-part``, renamed to ``path``; no temp file left on failure."""
    tmp = f"{path}.orlop-part"
    fd, sink = open_download(tmp)
    try:
        async for piece in reader:
            await sink.write(piece)
        await sink.flush()
    except BaseException:
        sink.abandon()
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)


@dataclass
class BucketStatus:
    """Bucket configuration, stream state and object metrics (``to_dict()`` for JSON)."""

    bucket: str
    description: str
    ttl: float
    storage: str
    replicas: int
    sealed: bool
    size: int
    compression: str
    history: int
    max_object_size: int
    max_bytes: int
    metadata: dict[str, str]
    backing_store: str
    object_count: int
    total_bytes: int
    stored_bytes: int
    average_object_size: float
    chunk_count: int
    compression_ratio: float | None
    messages: int
    stream_info: dict[str, Any] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out.pop("stream_info")
        return out


class Bucket:
    """One object store bucket. Obtain it from ``client.create_bucket()`` or ``client.bucket()``."""

    def __init__(self, client: ObjectStoreClient, name: str, stream_info: dict[str, Any]) -> None:
        self.client = client
        self.wire: Wire = client.wire
        self.name = validate_bucket_name(name)
        self.stream = f"OBJ_{name}"
        # Names this object saw exist lately: a hint for put's fast path, never for correctness.
        self.known_names: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._load(stream_info)

    def note_existing(self, name: str) -> None:
        """Remember that ``name`` has a meta (at most _KNOWN_NAMES names, least recent dropped)."""
        self.known_names[name] = None
        self.known_names.move_to_end(name)
        if len(self.known_names) > _KNOWN_NAMES:
            self.known_names.popitem(last=False)

    def _load(self, stream_info: dict[str, Any]) -> None:
        self.stream_info = stream_info
        cfg = stream_info.get("config", {})
        self.config: dict[str, Any] = cfg
        meta = cfg.get("metadata") or {}
        self.history = max(1, int(meta.get("orlop.history", "1") or 1))
        self.max_object_size = int(meta.get("orlop.max_object_size", "0") or 0)
        self.allow_msg_ttl = bool(cfg.get("allow_msg_ttl"))
        self.sealed = bool(cfg.get("sealed"))
        self.allow_direct = bool(cfg.get("allow_direct"))
        self.replicated = int(cfg.get("num_replicas") or 1) > 1  # direct-get misses asked of the leader

    @property
    def max_payload(self) -> int:
        return int(self.wire.nc.max_payload)

    def __repr__(self) -> str:
        return f"Bucket({self.name!r})"

    # -- helpers shared by the mechanics modules -----------------------------
    def info_from_msg(self, msg: StoredMsg) -> ObjectInfo:
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
        wire = self.wire
        return await wire.get_msg(self.stream, body, direct=self.allow_direct, replicated=self.replicated)

    async def latest(self, name: str) -> ObjectInfo | None:
        """The newest meta of ``name`` (tombstones included), None when there is none."""
        msg = await self.get_msg({"last_by_subj": meta_subject(self.name, name)})
        if msg is None:
            return None
        self.note_existing(name)
        return self.info_from_msg(msg)

    async def purge(self, body: dict[str, Any]) -> int:
        resp = await self.wire.request(f"STREAM.PURGE.{self.stream}", body)
        return int(resp.get("purged", 0))

    async def purge_subject_quietly(self, subject: str) -> None:
        """Best-effort purge used on failure paths (the original error matters more)."""
        with contextlib.suppress(Exception):
            await self.purge({"filter": subject})

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
            await versions.prune(self, info.name)
            return
        if old is not None and self.reclaims(info, old):
            await self.purge({"filter": chunk_subject(self.name, old.nuid)})

    # -- write ------------------------------------------------------------------
    @translated
    async def put(self, name: str, data: Any = b"", **options: Any) -> ObjectInfo:
        """Store an object; returns its ObjectInfo (with ``revision``).

        ``data``: bytes/bytearray/memoryview, str (UTF-8), an ``os.PathLike`` path,
        a binary file object (sync or async ``read``), or a (async) iterator of bytes.
        Options: ``description``, ``headers`` ({key: str | [str]}), ``metadata``
        ({str: str}), ``chunk_size``, ``compression`` ("s2"), ``ttl`` (seconds),
        ``if_revision`` (int), ``create_only`` (bool).
        Raises BadRequest, ObjectTooLarge, ObjectAlreadyExists, RevisionMismatch,
        StorageLimitExceeded, BucketSealed, LinkError; a failure leaves no chunks behind.
        """
        unknown = set(options) - {
            "description",
            "headers",
            "metadata",
            "chunk_size",
            "compression",
            "ttl",
            "if_revision",
            "create_only",
        }
        if unknown:
            raise BadRequest(f"unknown put option(s): {', '.join(sorted(unknown))}")
        if self.sealed:
            raise BucketSealed()
        return await put_object(self, name, data, **options)

    @translated
    async def update_meta(
        self,
        object_name: str,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        headers: Any = None,
        metadata: Any = None,
    ) -> ObjectInfo:
        """Change the name (``name=``: a rename), description, headers or metadata of an object.

        Orlop's own ``Orlop-*`` headers are kept whatever ``headers`` says.
        Raises ObjectNotFound (missing or deleted), ObjectAlreadyExists (rename onto
        a live object), RevisionMismatch (changed concurrently), BadRequest.
        """
        new_name, name = name, object_name
        current = await self.info(name)
        target = validate_object_name(new_name) if new_name is not None else name
        changes: dict[str, Any] = {"name": target}
        if description is not None:
            changes["description"] = description
        if headers is not None:
            keep = {k: v for k, v in current.headers.items() if k.lower().startswith("orlop-")}
            changes["headers"] = {**normalize_headers(headers), **keep}
        if metadata is not None:
            changes["metadata"] = normalize_metadata(metadata)
        info = current.evolve(**changes)
        if target == name:
            seq, _ = await publish_meta(self, info, expected=current.revision, ttl=current.ttl)
        else:
            seq = await self._rename(current, info)
        info.revision, info.modified_ns = seq, time.time_ns()
        if self.history > 1:
            await versions.prune(self, target)
        return info

    async def _rename(self, current: ObjectInfo, info: ObjectInfo) -> int:
        """Publish ``info`` under its new name, then drop the old name (all its revisions)."""
        existing = await self.latest(info.name)
        if existing is not None and not existing.deleted:
            raise ObjectAlreadyExists(f"cannot rename onto the existing object {info.name!r}")
        old_revs = await versions.revisions(self, current.name) if self.history > 1 else []
        seq, _ = await publish_meta(
            self, info, expected=existing.revision if existing else 0, ttl=current.ttl
        )
        await self.purge({"filter": meta_subject(self.name, current.name)})
        # Older revisions of the old name go with it, and so do the chunks only they used.
        for nuid in sorted({r.nuid for r in old_revs if r.nuid and not r.is_link} - {info.nuid}):
            await self.purge({"filter": chunk_subject(self.name, nuid)})
        return seq

    @translated
    async def delete(self, name: str, *, purge: bool = False) -> ObjectInfo | None:
        """Soft delete: publish a tombstone and purge the chunks (kept in history buckets).

        ``purge=True`` removes every trace: all revisions' chunks and the meta subject
        (returns None). Raises ObjectNotFound when there is nothing under that name.
        """
        validate_object_name(name)
        current = await self.latest(name)
        if current is None:
            raise ObjectNotFound(f"object {name!r} not found")
        if purge:
            revs = await versions.revisions(self, name)
            await self.purge({"filter": meta_subject(self.name, name)})
            for nuid in sorted({r.nuid for r in revs if r.nuid and not r.is_link}):
                await self.purge({"filter": chunk_subject(self.name, nuid)})
            return None
        tomb = current.evolve(size=0, chunks=0, digest="", deleted=True)
        seq, _ = await publish_meta(self, tomb, expected=current.revision)
        tomb.revision, tomb.modified_ns = seq, time.time_ns()
        if self.history > 1:
            await versions.prune(self, name)
        elif current.nuid and not current.is_link and not current.deleted:
            await self.purge({"filter": chunk_subject(self.name, current.nuid)})
        return tomb

    # -- read -------------------------------------------------------------------
    @translated
    async def info(self, name: str, *, show_deleted: bool = False, revision: int | None = None) -> ObjectInfo:
        """The current (or ``revision``) meta of ``name``; ObjectNotFound when missing/deleted.

        A ``revision`` must be the sequence of one of ``name``'s metas (anything
        else, a chunk's sequence included, is ObjectNotFound); BadRequest unless
        it is a positive integer.
        """
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
            raise ObjectNotFound(
                f"object {name!r} not found" + (f" at revision {revision}" if revision else "")
            )
        return found

    @translated
    async def get(self, name: str, *, revision: int | None = None) -> ObjectReader:
        """A seekable async reader (links followed); ObjectNotFound / LinkError."""
        info = await self.info(name, revision=revision)
        owner, target = await links.resolve(self, info)
        return ObjectReader(
            owner.wire, owner.stream, target, direct=owner.allow_direct, replicated=owner.replicated
        )

    @translated
    async def get_bytes(self, name: str, *, revision: int | None = None) -> bytes:
        """The whole object, digest verified (DigestMismatch)."""
        async with await self.get(name, revision=revision) as reader:
            return await reader.read()

    @translated
    async def read_range(self, name: str, offset: int, length: int, *, revision: int | None = None) -> bytes:
        """``length`` bytes from ``offset`` (fewer at the end), fetching only the chunks needed."""
        if offset < 0 or length < 0:
            raise BadRequest("offset and length must not be negative")
        async with await self.get(name, revision=revision) as reader:
            await reader.seek(offset)
            return await reader.read(length)

    @translated
    async def download(self, name: str, dest: Any, *, revision: int | None = None) -> ObjectInfo:
        """Write the object to a path (atomically: temp file then rename) or a binary writer.

        File writes run on a helper thread (:mod:`.sink`) while the next chunks arrive.
        """
        reader = await self.get(name, revision=revision)
        try:
            if hasattr(dest, "write"):
                async for piece in reader:
                    result = dest.write(piece)
                    if hasattr(result, "__await__"):
                        await result
                return reader.info
            await _download_to_path(reader, os.fspath(dest))
            return reader.info
        finally:
            await reader.aclose()

    @translated
    async def list(
        self, filter: str | None = None, *, include_deleted: bool = False
    ) -> builtins.list[ObjectInfo]:
        """Current objects sorted by name, optionally matching a glob (``*.json``); [] when empty."""
        return await list_objects(self, filter, include_deleted)

    def watch(
        self, *, include_history: bool = False, updates_only: bool = False, ignore_deletes: bool = False
    ) -> ObjectWatcher:
        """An async iterator of ObjectInfo changes (see :class:`ObjectWatcher`)."""
        return ObjectWatcher(
            self, include_history=include_history, updates_only=updates_only, ignore_deletes=ignore_deletes
        )

    # -- links and versions -------------------------------------------------------
    @translated
    async def add_link(self, name: str, target: ObjectInfo) -> ObjectInfo:
        """Make ``name`` a link to ``target`` (an ObjectInfo, possibly of another bucket)."""
        return await links.add_link(self, name, links.object_link(target))

    @translated
    async def add_bucket_link(self, name: str, bucket: Bucket | str) -> ObjectInfo:
        """Make ``name`` a link to a whole bucket (reading it raises LinkError)."""
        other = bucket.name if isinstance(bucket, Bucket) else validate_bucket_name(bucket)
        return await links.add_link(self, name, ObjectLink(other))

    @translated
    async def versions(self, name: str) -> builtins.list[ObjectInfo]:
        """Every retained revision of ``name``, oldest first; ObjectNotFound when none."""
        validate_object_name(name)
        revs = await versions.revisions(self, name)
        if not revs:
            raise ObjectNotFound(f"object {name!r} not found")
        return revs

    @translated
    async def restore(self, name: str, revision: int) -> ObjectInfo:
        """Make an old revision current again; see :func:`orlop.objects.versions.restore`."""
        return await versions.restore(self, name, revision)

    # -- bucket -------------------------------------------------------------------
    @translated
    async def seal(self) -> None:
        """Make the bucket read-only for good (STREAM.UPDATE with ``sealed``)."""
        info = await self.wire.request(f"STREAM.INFO.{self.stream}")
        cfg = dict(info["config"])
        cfg["sealed"] = True
        self._load(await self.wire.request(f"STREAM.UPDATE.{self.stream}", cfg))

    @translated
    async def status(self) -> BucketStatus:
        """Configuration, stream state and metrics of live objects."""
        self._load(await self.wire.request(f"STREAM.INFO.{self.stream}", patient=True))
        cfg, state = self.config, self.stream_info.get("state", {})
        objects = [i for i in await self.list() if not i.is_link]
        stored = sum(i.size for i in objects)
        total = sum(i.original_size for i in objects)
        packed = [i for i in objects if i.compression]
        packed_stored = sum(i.size for i in packed)
        return BucketStatus(
            bucket=self.name,
            description=cfg.get("description", ""),
            ttl=cfg.get("max_age", 0) / 1e9,
            storage=cfg.get("storage", "file"),
            replicas=int(cfg.get("num_replicas", 1)),
            sealed=bool(cfg.get("sealed")),
            size=int(state.get("bytes", 0)),
            compression=cfg.get("compression", "none"),
            history=self.history,
            max_object_size=self.max_object_size,
            max_bytes=int(cfg.get("max_bytes", -1)),
            metadata={k: v for k, v in (cfg.get("metadata") or {}).items() if not k.startswith("_nats")},
            backing_store="JetStream",
            object_count=len(objects),
            total_bytes=total,
            stored_bytes=stored,
            average_object_size=total / len(objects) if objects else 0.0,
            chunk_count=sum(i.chunks for i in objects),
            compression_ratio=(sum(i.original_size for i in packed) / packed_stored)
            if packed_stored
            else None,
            messages=int(state.get("messages", 0)),
            stream_info=self.stream_info,
        )

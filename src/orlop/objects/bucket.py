"""Bucket: the Object Store operations on one ``OBJ_<bucket>`` stream.

The class is the public face and only calls down: the mechanics live below
it (:mod:`.put`, :mod:`.reader`, :mod:`.watch`, :mod:`.links`, :mod:`.versions`),
and what they share (the stream's settings, reading, publishing and purging
metas) in :class:`orlop.objects.core.BucketCore`, which none of them can call
back out of. Every public coroutine translates JetStream errors into
:mod:`orlop.errors` through :func:`orlop.objects.errors.translated`, so callers
only ever see the Object Store tree.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import time
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Never, Protocol

from orlop.errors import (
    BadRequest,
    BucketSealed,
    ObjectAlreadyExists,
    ObjectNotFound,
)
from orlop.objects import links, versions
from orlop.objects.compression import COMPRESSION_HEADER, ORIGINAL_SIZE_HEADER
from orlop.objects.core import BucketCore
from orlop.objects.direct_sink import open_download
from orlop.objects.encryption import HEADERS as ENCRYPTION_HEADERS
from orlop.objects.encryption import Key, Keyring, as_keyring, rewrap
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
from orlop.objects.orphans import MIN_AGE, Orphan, find_orphans
from orlop.objects.orphans import sweep_orphans as sweep
from orlop.objects.put import PutOptions, put_object
from orlop.objects.reader import ObjectReader
from orlop.objects.watch import ObjectWatcher, list_objects
from orlop.objects.wire import Wire

__all__ = ["Bucket", "BucketStatus", "Progress"]

# A transfer's progress callback: called with the bytes moved so far.
Progress = Callable[[int], None]
# The ``encryption=`` argument: a Key, a Keyring (first key encrypts, any decrypts by id), or None.
Encryption = Key | Keyring | None


class BucketSource(Protocol):
    """What a Bucket needs of its client (:class:`orlop.objects.ObjectStoreClient`): the wire,
    and a way to open the other buckets that links point to."""

    wire: Wire

    async def bucket(self, bucket: str) -> Bucket: ...


async def _download_to_path(reader: ObjectReader, path: str, progress: Progress | None) -> None:
    """All of ``reader`` into ``path.orlop-part``, renamed to ``path``; no temp file left on failure."""
    tmp = f"{path}.orlop-part"
    fd, sink = open_download(tmp)
    done = 0
    try:
        async for piece in reader:
            await sink.write(piece)
            if progress is not None:
                done += len(piece)
                progress(done)
        await sink.flush()
    except BaseException:
        sink.abandon()
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# Headers a put writes itself from its options: a copy must not carry the source's.
_PUT_MANAGED_HEADERS = frozenset({COMPRESSION_HEADER, ORIGINAL_SIZE_HEADER, *ENCRYPTION_HEADERS})


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

    def __init__(self, client: BucketSource, name: str, stream_info: dict[str, Any]) -> None:
        self.client = client
        self.name = validate_bucket_name(name)
        self.core = BucketCore(client.wire, name, stream_info)

    # The bucket's settings, as the stream last reported them (read-only views of the core).
    @property
    def wire(self) -> Wire:
        return self.core.wire

    @property
    def stream(self) -> str:
        return self.core.stream

    @property
    def stream_info(self) -> dict[str, Any]:
        return self.core.stream_info

    @property
    def config(self) -> dict[str, Any]:
        return self.core.config

    @property
    def history(self) -> int:
        return self.core.history

    @property
    def max_object_size(self) -> int:
        return self.core.max_object_size

    @property
    def allow_msg_ttl(self) -> bool:
        return self.core.allow_msg_ttl

    @property
    def allow_direct(self) -> bool:
        return self.core.allow_direct

    @property
    def sealed(self) -> bool:
        """Sealed as last seen; a put checks it first, and the server refuses writes either way."""
        return self.core.sealed

    @sealed.setter
    def sealed(self, value: bool) -> None:
        self.core.sealed = value

    @property
    def max_payload(self) -> int:
        return self.core.max_payload

    @property
    def known_names(self) -> Container[str]:
        """Names this handle saw exist lately (a hint for put's one-round-trip path)."""
        return self.core.known_names

    def __repr__(self) -> str:
        return f"Bucket({self.name!r})"

    async def purge(self, body: dict[str, Any]) -> int:
        """STREAM.PURGE of the bucket's stream (a low-level tool: it can break objects)."""
        return await self.core.purge(body)

    async def _open_core(self, name: str) -> BucketCore:
        return (await self.client.bucket(name)).core

    # -- write ------------------------------------------------------------------
    @translated
    async def put(
        self,
        name: str,
        data: Any = b"",
        *,
        description: str | None = None,
        headers: Mapping[str, str | Sequence[str]] | None = None,
        metadata: Mapping[str, str] | None = None,
        chunk_size: int | None = None,
        compression: str | bool | None = None,
        ttl: float | timedelta | None = None,
        if_revision: int | None = None,
        create_only: bool = False,
        progress: Callable[[int], None] | None = None,
        encryption: Encryption = None,
        final_headers: Callable[[], Mapping[str, str | Sequence[str]]] | None = None,
        expect_sha256: str | bytes | None = None,
        **unknown: Never,
    ) -> ObjectInfo:
        """Store an object; returns its ObjectInfo (with ``revision``).

        ``data``: bytes/bytearray/memoryview, str (UTF-8), an ``os.PathLike`` path,
        a binary file object (sync or async ``read``), or a (async) iterator of bytes.
        ``headers``: {key: str | [str]}; ``compression``: "s2"; ``ttl``: seconds (or a
        timedelta, the bucket needs ``allow_msg_ttl``); ``if_revision``: write only over
        that revision; ``create_only``: write only when no live object has the name;
        ``progress``: called with the bytes sent so far after each chunk (on the event loop);
        ``encryption``: a Key or Keyring (its first key): every chunk encrypted client-side
        (see :mod:`orlop.objects.encryption`); ``final_headers``: called once the data was
        read, its headers added to the meta (a checksum computed while streaming; Orlop's layers
        may use the reserved ``Orlop-`` space there, the put's own headers still win);
        ``expect_sha256``: the SHA-256 the data must have (64 hex digits or 32 bytes), checked
        on the bytes as they stream, before the meta is published (without compression or
        encryption it is the object's own digest: no second pass).
        Raises BadRequest, ObjectTooLarge, ObjectAlreadyExists, RevisionMismatch,
        StorageLimitExceeded, BucketSealed, LinkError, DigestMismatch (``expect_sha256``);
        a failure leaves no chunks behind.
        """
        if unknown:  # typed out (mypy rejects them), refused at run time too
            raise BadRequest(f"unknown put option(s): {', '.join(sorted(unknown))}")
        if self.core.sealed:
            raise BucketSealed()
        opts = PutOptions(
            description=description,
            headers=headers,
            metadata=metadata,
            chunk_size=chunk_size,
            compression=compression,
            ttl=ttl,
            if_revision=if_revision,
            create_only=create_only,
            progress=progress,
            encryption=as_keyring(encryption),
            final_headers=final_headers,
            expect_sha256=expect_sha256,
        )
        return await put_object(self.core, name, data, opts)

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
        replace: bool = False,
    ) -> ObjectInfo:
        """Change the name (``name=``: a rename), description, headers or metadata of an object.

        Orlop's own ``Orlop-*`` headers are kept whatever ``headers`` says.
        Raises ObjectNotFound (missing or deleted), ObjectAlreadyExists (rename onto
        a live object, unless ``replace``: then it is replaced in one conditional
        write), RevisionMismatch (changed concurrently), BadRequest.
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
            seq, _ = await self.core.publish_meta(info, expected=current.revision, ttl=current.ttl)
        else:
            seq = await self._rename(current, info, replace)
        info.revision, info.modified_ns = seq, time.time_ns()
        if self.core.history > 1:
            await self.core.prune(target)
        return info

    async def _rename(self, current: ObjectInfo, info: ObjectInfo, replace: bool) -> int:
        """Publish ``info`` under its new name, then drop the old name (all its revisions)."""
        core = self.core
        existing = await core.latest(info.name)
        live = existing is not None and not existing.deleted
        if live and not replace:
            raise ObjectAlreadyExists(f"cannot rename onto the existing object {info.name!r}")
        old_revs = await core.revisions(current.name) if core.history > 1 else []
        seq, _ = await core.publish_meta(info, expected=existing.revision if existing else 0, ttl=current.ttl)
        await core.purge({"filter": meta_subject(self.name, current.name)})
        # Older revisions of the old name go with it, and so do the chunks only they used.
        for nuid in sorted({r.nuid for r in old_revs if r.nuid and not r.is_link} - {info.nuid}):
            await core.purge({"filter": chunk_subject(self.name, nuid)})
        if live and existing is not None:  # the object renamed over: kept as history, or its chunks go
            if core.history > 1:
                await core.prune(info.name)
            elif existing.nuid and not existing.is_link and existing.nuid != info.nuid:
                await core.purge({"filter": chunk_subject(self.name, existing.nuid)})
        return seq

    @translated
    async def rekey(self, name: str, *, old: Key | Keyring, new: Key | Keyring) -> ObjectInfo:
        """Wrap the current revision's data key under ``new`` (its first key); the chunks are not touched.

        ``old`` must hold the key the object names (by id). One meta write,
        conditional on the revision read (RevisionMismatch when it changed).
        Older revisions of a history bucket keep their old wrapping.
        Raises ObjectNotFound, DecryptionFailed (not encrypted, or ``old`` cannot
        unwrap it), RevisionMismatch, BadRequest.
        """
        old_ring, new_ring = as_keyring(old), as_keyring(new)
        if old_ring is None or new_ring is None:
            raise BadRequest("rekey needs old= and new= keys")
        current = await self.info(name)
        if current.is_link:
            raise BadRequest(f"{name!r} is a link: rekey its target")
        info = current.evolve(headers=rewrap(current, old_ring, new_ring))
        seq, _ = await self.core.publish_meta(info, expected=current.revision, ttl=current.ttl)
        info.revision, info.modified_ns = seq, time.time_ns()
        if self.core.history > 1:
            await self.core.prune(name)
        return info

    @translated
    async def delete(self, name: str, *, purge: bool = False) -> ObjectInfo | None:
        """Soft delete: publish a tombstone and purge the chunks (kept in history buckets).

        ``purge=True`` removes every trace: all revisions' chunks and the meta subject
        (returns None). Raises ObjectNotFound when there is nothing under that name.
        """
        validate_object_name(name)
        core = self.core
        current = await core.latest(name)
        if current is None:
            raise ObjectNotFound(f"object {name!r} not found")
        if purge:
            revs = await core.revisions(name)
            await core.purge({"filter": meta_subject(self.name, name)})
            for nuid in sorted({r.nuid for r in revs if r.nuid and not r.is_link}):
                await core.purge({"filter": chunk_subject(self.name, nuid)})
            return None
        tomb = current.evolve(size=0, chunks=0, digest="", deleted=True)
        seq, _ = await core.publish_meta(tomb, expected=current.revision)
        tomb.revision, tomb.modified_ns = seq, time.time_ns()
        if core.history > 1:
            await core.prune(name)
        elif current.nuid and not current.is_link and not current.deleted:
            await core.purge({"filter": chunk_subject(self.name, current.nuid)})
        return tomb

    # -- read -------------------------------------------------------------------
    @translated
    async def info(self, name: str, *, show_deleted: bool = False, revision: int | None = None) -> ObjectInfo:
        """The current (or ``revision``) meta of ``name``; ObjectNotFound when missing/deleted.

        A ``revision`` must be the sequence of one of ``name``'s metas (anything
        else, a chunk's sequence included, is ObjectNotFound); BadRequest unless
        it is a positive integer.
        """
        return await self.core.lookup(name, show_deleted=show_deleted, revision=revision)

    @translated
    async def get(
        self, name: str, *, revision: int | None = None, encryption: Encryption = None
    ) -> ObjectReader:
        """A seekable async reader (links followed); ObjectNotFound / LinkError.

        ``encryption``: the Key or Keyring of an encrypted object (chosen by key id).
        DecryptionFailed when the object is encrypted and no given key opens it, or
        when a key is given for an object that is not encrypted.
        """
        keyring = as_keyring(encryption)
        info = await self.info(name, revision=revision)
        owner, target = await links.resolve(self.core, info, self._open_core)
        return ObjectReader(
            owner.wire,
            owner.stream,
            target,
            direct=owner.allow_direct,
            replicated=owner.replicated,
            keyring=keyring,
        )

    @translated
    async def get_bytes(
        self, name: str, *, revision: int | None = None, encryption: Encryption = None
    ) -> bytes:
        """The whole object, digest verified (DigestMismatch), decrypted (DecryptionFailed)."""
        async with await self.get(name, revision=revision, encryption=encryption) as reader:
            return await reader.read()

    @translated
    async def read_range(
        self,
        name: str,
        offset: int,
        length: int,
        *,
        revision: int | None = None,
        encryption: Encryption = None,
    ) -> bytes:
        """``length`` bytes from ``offset`` (fewer at the end); fetches and decrypts only chunks needed."""
        if offset < 0 or length < 0:
            raise BadRequest("offset and length must not be negative")
        async with await self.get(name, revision=revision, encryption=encryption) as reader:
            await reader.seek(offset)
            return await reader.read(length)

    @translated
    async def download(
        self,
        name: str,
        dest: Any,
        *,
        revision: int | None = None,
        progress: Progress | None = None,
        encryption: Encryption = None,
    ) -> ObjectInfo:
        """Write the object to a path (atomically: temp file then rename) or a binary writer.

        File writes run on a helper thread (:mod:`.sink`) while the next chunks arrive.
        ``progress`` is called with the bytes received so far after each piece (on the event loop).
        ``encryption`` as for :meth:`get`; a download that fails authentication leaves no file.
        """
        reader = await self.get(name, revision=revision, encryption=encryption)
        try:
            if hasattr(dest, "write"):
                done = 0
                async for piece in reader:
                    result = dest.write(piece)
                    if hasattr(result, "__await__"):
                        await result
                    if progress is not None:
                        done += len(piece)
                        progress(done)
                return reader.info
            await _download_to_path(reader, os.fspath(dest), progress)
            return reader.info
        finally:
            await reader.aclose()

    @translated
    async def list(
        self, filter: str | None = None, *, include_deleted: bool = False
    ) -> builtins.list[ObjectInfo]:
        """Current objects sorted by name, optionally matching a glob (``*.json``); [] when empty."""
        return await list_objects(self.core, filter, include_deleted)

    def watch(
        self, *, include_history: bool = False, updates_only: bool = False, ignore_deletes: bool = False
    ) -> ObjectWatcher:
        """An async iterator of ObjectInfo changes (see :class:`ObjectWatcher`)."""
        return ObjectWatcher(
            self.core,
            include_history=include_history,
            updates_only=updates_only,
            ignore_deletes=ignore_deletes,
        )

    # -- links and versions -------------------------------------------------------
    @translated
    async def add_link(self, name: str, target: ObjectInfo) -> ObjectInfo:
        """Make ``name`` a link to ``target`` (an ObjectInfo, possibly of another bucket)."""
        return await links.add_link(self.core, name, links.object_link(target))

    @translated
    async def add_bucket_link(self, name: str, bucket: Bucket | str) -> ObjectInfo:
        """Make ``name`` a link to a whole bucket (reading it raises LinkError)."""
        other = bucket.name if isinstance(bucket, Bucket) else validate_bucket_name(bucket)
        return await links.add_link(self.core, name, ObjectLink(other))

    @translated
    async def versions(self, name: str) -> builtins.list[ObjectInfo]:
        """Every retained revision of ``name``, oldest first; ObjectNotFound when none."""
        validate_object_name(name)
        revs = await self.core.revisions(name)
        if not revs:
            raise ObjectNotFound(f"object {name!r} not found")
        return revs

    @translated
    async def delete_revision(self, name: str, revision: int) -> ObjectInfo | None:
        """Remove one retained revision (a tombstone too) with its unshared chunks.

        Not a soft delete: the revision is gone from ``versions()``, and removing the
        newest makes the one before it current. Returns the removed revision, None when
        ``revision`` is not a retained revision of ``name``. See
        :func:`orlop.objects.versions.delete_revision`.
        """
        validate_object_name(name)
        return await versions.delete_revision(self.core, name, revision)

    @translated
    async def restore(self, name: str, revision: int) -> ObjectInfo:
        """Make an old revision current again; see :func:`orlop.objects.versions.restore`."""
        return await versions.restore(self.core, name, revision)

    @translated
    async def copy(
        self,
        name: str,
        to_name: str | None = None,
        *,
        to_bucket: Bucket | None = None,
        revision: int | None = None,
        encryption: Encryption = None,
        **put_options: Any,
    ) -> ObjectInfo:
        """Copy an object (a link's target, when it is one) to ``to_name`` here or in ``to_bucket``.

        Streaming: the data passes through this client a chunk at a time, never whole.
        The copy keeps the source's description, headers, metadata and compression
        unless ``put_options`` (those of :meth:`put`) say otherwise; it gets its own
        nuid and revision. ``encryption`` opens an encrypted source, and the copy is
        encrypted with it too (a fresh data key) unless ``put_options`` give another
        ``to_encryption`` (None: store the copy in plaintext).
        Raises ObjectNotFound, DecryptionFailed, and what :meth:`put` raises.
        """
        dest = to_bucket or self
        async with await self.get(name, revision=revision, encryption=encryption) as reader:
            source = reader.info
            kept = {k: v for k, v in source.headers.items() if k not in _PUT_MANAGED_HEADERS}
            options: dict[str, Any] = {
                "description": source.description,
                "headers": kept,
                "metadata": source.metadata,
                "compression": source.compression,
                "ttl": source.ttl,  # a copy expires as its source does (ttl=None: never)
                "encryption": encryption,
            }
            if "to_encryption" in put_options:
                options["encryption"] = put_options.pop("to_encryption")
            options.update(put_options)
            return await dest.put(to_name or name, reader, **options)

    # -- bucket -------------------------------------------------------------------
    @translated
    async def seal(self) -> None:
        """Make the bucket read-only for good (STREAM.UPDATE with ``sealed``)."""
        info = await self.wire.request(f"STREAM.INFO.{self.stream}")
        cfg = dict(info["config"])
        cfg["sealed"] = True
        self.core.load(await self.wire.request(f"STREAM.UPDATE.{self.stream}", cfg))

    @translated
    async def orphans(self, older_than: float = MIN_AGE) -> builtins.list[Orphan]:
        """Chunks no meta names whose newest is older than ``older_than`` seconds: what a
        put cut off (process killed, connection or server lost) left (see orlop.objects.orphans)."""
        return await find_orphans(self.core, older_than)

    @translated
    async def sweep_orphans(self, older_than: float = MIN_AGE) -> builtins.list[Orphan]:
        """Purge :meth:`orphans` and return them: their space comes back."""
        return await sweep(self.core, older_than)

    @translated
    async def status(self) -> BucketStatus:
        """Configuration, stream state and metrics of live objects."""
        self.core.load(await self.wire.request(f"STREAM.INFO.{self.stream}", patient=True))
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

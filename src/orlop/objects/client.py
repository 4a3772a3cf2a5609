"""ObjectStoreClient: buckets on one nats-py connection, and ``connect()``.

Buckets are created with exactly the stream configuration nats.go sends
(ADR-20: ``OBJ_<bucket>``, subjects ``$O.<bucket>.C.>`` / ``$O.<bucket>.M.>``,
discard new, rollup headers and direct get allowed), so the official clients
see an ordinary bucket. Orlop-only settings go into the stream's metadata
(``orlop.history``, ``orlop.max_object_size``) where every Orlop client
reads them. ``allow_msg_ttl`` is set when the server is 2.11 or later, which
is what per-object TTLs need.

``connect(url, **nats_options)`` is both awaitable and an async context
manager; a client made from an existing connection (``ObjectStoreClient(nc)``)
never closes that connection.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import nats
from nats.aio.client import Client as NATS

from orlop.errors import BadRequest, BucketExists, BucketNotFound, JetStreamError
from orlop.jsapi.errors import Err
from orlop.objects.bucket import Bucket
from orlop.objects.errors import translated
from orlop.objects.meta import validate_bucket_name
from orlop.objects.wire import Wire

__all__ = ["ObjectStoreClient", "connect", "edited_config", "stream_config"]

log = logging.getLogger("nats.aio.client")  # where nats-py logs what it hands to error_cb

_BUCKET_OPTIONS = {
    "description",
    "max_object_size",
    "storage",
    "num_replicas",
    "ttl",
    "max_bytes",
    "compression",
    "placement",
    "metadata",
    "history",
    "fast_ingest",
}
FAST_INGEST_LEVEL = 4  # JetStream API level of nats-server 2.14: allow_batched streams


def _ns(seconds: Any, what: str) -> int:
    if seconds is None:
        return 0
    value = seconds.total_seconds() if hasattr(seconds, "total_seconds") else seconds
    if not isinstance(value, int | float) or value < 0:
        raise BadRequest(f"{what} must be a non-negative number of seconds")
    return int(value * 1_000_000_000)


def _int_opt(value: Any, what: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise BadRequest(f"{what} must be an integer >= {minimum}")
    return value


def _stream_metadata(opts: dict[str, Any]) -> dict[str, str]:
    """User metadata plus Orlop's own settings (``orlop.history``, ``orlop.max_object_size``)."""
    history = _int_opt(opts.get("history", 1) or 1, "history", 1)
    if history > 64:
        raise BadRequest("history must be at most 64")
    max_object_size = _int_opt(opts.get("max_object_size") or 0, "max_object_size", 0)
    metadata = opts.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise BadRequest("metadata must be a dict of str -> str")
    reserved = sorted(k for k in metadata if k.startswith("orlop."))
    if reserved:
        raise BadRequest(f"metadata keys starting with 'orlop.' are Orlop's own: {', '.join(reserved)}")
    metadata = dict(metadata)
    if history > 1:
        metadata["orlop.history"] = str(history)
    if max_object_size:
        metadata["orlop.max_object_size"] = str(max_object_size)
    return metadata


def _placement(placement: Any) -> dict[str, Any] | None:
    if not placement:
        return None
    if not isinstance(placement, dict) or set(placement) - {"cluster", "tags"}:
        raise BadRequest("placement must be {'cluster': str, 'tags': [str]}")
    return {k: v for k, v in placement.items() if v}


def stream_config(
    bucket: str, *, allow_msg_ttl: bool = False, allow_batched: bool = False, **opts: Any
) -> dict[str, Any]:
    """The STREAM.CREATE body for a bucket, in nats.go's key order; BadRequest on invalid options."""
    validate_bucket_name(bucket)
    storage = opts.get("storage") or "file"
    if storage not in ("file", "memory"):
        raise BadRequest("storage must be 'file' or 'memory'")
    max_bytes = opts.get("max_bytes")
    metadata = _stream_metadata(opts)
    placement = _placement(opts.get("placement"))
    cfg: dict[str, Any] = {"name": f"OBJ_{bucket}"}
    if opts.get("description"):
        cfg["description"] = str(opts["description"])
    cfg.update(
        subjects=[f"$O.{bucket}.C.>", f"$O.{bucket}.M.>"],
        retention="limits",
        max_consumers=0,
        max_msgs=0,
        max_bytes=-1 if max_bytes in (None, 0, -1) else _int_opt(max_bytes, "max_bytes", 1),
        discard="new",
        max_age=_ns(opts.get("ttl"), "ttl"),
        max_msgs_per_subject=0,
        storage=storage,
        num_replicas=_int_opt(opts.get("num_replicas") or 1, "num_replicas", 1),
    )
    if placement:
        cfg["placement"] = placement
    cfg.update(
        allow_rollup_hdrs=True,
        compression="s2" if opts.get("compression") in (True, "s2") else "none",
        allow_direct=True,
        mirror_direct=False,
        consumer_limits={},
    )
    if metadata:
        cfg["metadata"] = metadata
    if allow_msg_ttl:
        cfg["allow_msg_ttl"] = True
    if allow_batched:
        cfg["allow_batched"] = True
    return cfg


# What ``update_bucket`` may change; the storage type of a stream is fixed at creation.
_EDITABLE = _BUCKET_OPTIONS - {"storage"}


def edited_config(bucket: str, current: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The STREAM.UPDATE body: ``current`` with only the given bucket options changed.

    Options as :meth:`ObjectStoreClient.create_bucket` takes them (``storage`` cannot change).
    The bucket's Orlop settings live in the stream metadata, so ``history`` and
    ``max_object_size`` keep their values unless given; ``metadata`` replaces the
    user's metadata only. Server-set ``_nats.*`` keys are left for the server to fill.
    """
    unknown = set(changes) - _EDITABLE
    if unknown:
        what = "the storage type cannot change" if "storage" in unknown else "unknown bucket option(s)"
        raise BadRequest(f"{what}: {', '.join(sorted(unknown))}")
    old_meta = {k: v for k, v in (current.get("metadata") or {}).items() if not k.startswith("_nats.")}
    settings = {
        "history": int(old_meta.get("orlop.history", 1)),
        "max_object_size": int(old_meta.get("orlop.max_object_size", 0)),
        "metadata": {k: v for k, v in old_meta.items() if not k.startswith("orlop.")},
    }
    settings.update({k: changes[k] for k in ("history", "max_object_size", "metadata") if k in changes})
    cfg = dict(current)
    cfg["metadata"] = _stream_metadata(settings)
    if not cfg["metadata"]:
        cfg.pop("metadata")
    # The rest validated by the same rules as a new bucket's.
    if "fast_ingest" in changes:  # allow_batched may be turned on and off by an update
        if changes.pop("fast_ingest"):
            cfg["allow_batched"] = True
        else:
            cfg.pop("allow_batched", None)
    fresh = stream_config(bucket, storage=current.get("storage", "file"), **changes)
    if "ttl" in changes:
        # The duplicate window may not outlast the TTL: let the server derive it again.
        cfg.pop("duplicate_window", None)
    for option, key in (
        ("description", "description"),
        ("ttl", "max_age"),
        ("max_bytes", "max_bytes"),
        ("num_replicas", "num_replicas"),
        ("compression", "compression"),
        ("placement", "placement"),
    ):
        if option in changes:
            if key in fresh:
                cfg[key] = fresh[key]
            else:
                cfg.pop(key, None)
    return cfg


class ObjectStoreClient:
    """Object Store buckets over a connected nats-py client.

    ``timeout`` bounds each JetStream request and each PubAck wait.
    """

    def __init__(
        self, nc: NATS, *, timeout: float = 5.0, api_prefix: str = "$JS.API", owns_connection: bool = False
    ) -> None:
        self.nc = nc
        self.wire = Wire(nc, api_prefix=api_prefix, timeout=timeout)
        self._owns = owns_connection

    def _server_has_ttl(self) -> bool:
        try:
            version = self.nc.connected_server_version
            return (int(version.major), int(version.minor)) >= (2, 11)
        except Exception:
            return False

    @translated
    async def create_bucket(self, bucket: str, *, exist_ok: bool = False, **options: Any) -> Bucket:
        """Create a bucket. Options: description, max_object_size, storage ("file"/"memory"),
        num_replicas, ttl (seconds), max_bytes, compression (bool/"s2"), placement, metadata, history,
        fast_ingest (default True: puts through fast ingest where the server has API level 4).

        Raises BucketExists (unless ``exist_ok``: then the existing bucket is opened), BadRequest.
        """
        unknown = set(options) - _BUCKET_OPTIONS
        if unknown:
            raise BadRequest(f"unknown bucket option(s): {', '.join(sorted(unknown))}")
        ttl_ok = self._server_has_ttl()
        # Fast ingest (puts paced by flow acks, see orlop.objects.fast_ingest) needs API level 4.
        wants_fast = options.pop("fast_ingest", True)
        batched = bool(wants_fast) and await self.wire.api_level() >= FAST_INGEST_LEVEL
        cfg = stream_config(bucket, allow_msg_ttl=ttl_ok, allow_batched=batched, **options)
        # nats-server answers an identical re-create with success (and omits did_create), so look first.
        try:
            existing = await self.wire.request(f"STREAM.INFO.{cfg['name']}", patient=True)
        except JetStreamError as e:
            if e.err_code != Err.STREAM_NOT_FOUND.err_code:
                raise
        else:
            if exist_ok:
                return Bucket(self, bucket, existing)
            raise BucketExists(f"bucket {bucket!r} already exists")
        resp = await self._create_stream(cfg, exist_ok)
        if resp is None:
            return await self.bucket(bucket)
        return Bucket(self, bucket, resp)

    async def _create_stream(self, cfg: dict[str, Any], exist_ok: bool) -> dict[str, Any] | None:
        """STREAM.CREATE; None when it raced with another creator and ``exist_ok``."""
        try:
            return await self.wire.request(f"STREAM.CREATE.{cfg['name']}", cfg)
        except JetStreamError as e:
            if e.err_code == Err.STREAM_NAME_EXIST.err_code:
                if exist_ok:
                    return None
                raise BucketExists(f"bucket {cfg['name'][4:]!r} already exists") from e
            if "allow_msg_ttl" not in cfg or e.err_code == Err.STREAM_REPLICAS_NOT_SUPPORTED.err_code:
                raise
        cfg.pop("allow_msg_ttl", None)  # a server that does not know the field
        return await self.wire.request(f"STREAM.CREATE.{cfg['name']}", cfg)

    @translated
    async def bucket(self, bucket: str) -> Bucket:
        """Open an existing bucket; BucketNotFound."""
        validate_bucket_name(bucket)
        try:
            info = await self.wire.request(f"STREAM.INFO.OBJ_{bucket}", patient=True)
            return Bucket(self, bucket, info)
        except JetStreamError as e:
            if e.err_code == Err.STREAM_NOT_FOUND.err_code:
                raise BucketNotFound(f"bucket {bucket!r} not found") from e
            raise

    @translated
    async def update_bucket(self, bucket: str, **changes: Any) -> Bucket:
        """Change some of a bucket's options (those of :meth:`create_bucket` but ``storage``).

        Only the options given change. Raises BucketNotFound, BadRequest.
        """
        current = await self.bucket(bucket)
        cfg = edited_config(bucket, current.config, **changes)
        updated = Bucket(self, bucket, await self.wire.request(f"STREAM.UPDATE.{cfg['name']}", cfg))
        if updated.history < current.history:
            # Fewer revisions kept from now on: trim every object now, chunks included (a
            # later put only reclaims what it replaces).
            for info in await updated.list(include_deleted=True):
                await updated.core.prune(info.name)
        return updated

    @translated
    async def delete_bucket(self, bucket: str) -> None:
        """Delete a bucket and every object in it; BucketNotFound."""
        validate_bucket_name(bucket)
        await self.wire.request(f"STREAM.DELETE.OBJ_{bucket}")

    @translated
    async def buckets(self) -> list[str]:
        """Names of all object store buckets, sorted."""
        names: list[str] = []
        offset = 0
        while True:
            body = {"offset": offset, "subject": "$O.*.C.>"}
            resp = await self.wire.request("STREAM.NAMES", body, patient=True)
            batch = resp.get("streams") or []
            names += [n[4:] for n in batch if n.startswith("OBJ_")]
            offset += len(batch)
            if not batch or offset >= int(resp.get("total", 0)):
                return sorted(names)

    def note_server_error(self, exc: BaseException) -> None:
        """Tell the client about an asynchronous server error (call it from your ``error_cb``).

        A client made by :func:`connect` does this itself. With it, an operation whose
        subject the server refuses (``Permissions Violation``) fails at once with
        PermissionDenied instead of waiting for its timeout.
        """
        self.wire.server_error(exc)

    async def close(self) -> None:
        """Finish background cleanups; close the connection if this client opened it."""
        await self.wire.drain_background()
        if self._owns and not self.nc.is_closed:
            await self.nc.close()

    async def __aenter__(self) -> ObjectStoreClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class _Connect:
    """What :func:`connect` returns: ``await`` it or use it with ``async with``."""

    def __init__(
        self, url: str | list[str], timeout: float, api_prefix: str, options: dict[str, Any]
    ) -> None:
        self._url, self._timeout, self._options = url, timeout, options
        self._api_prefix = api_prefix
        self._client: ObjectStoreClient | None = None

    async def open(self) -> ObjectStoreClient:
        """Connect now (what ``await connect(...)`` does)."""
        # A larger outbound buffer than nats-py's 2 MiB default: fewer forced flushes mid-put.
        options = {"pending_size": 32 * 1024 * 1024, **self._options}
        made: list[ObjectStoreClient] = []
        user_cb = options.get("error_cb")

        async def on_error(exc: Exception) -> None:
            # Permission errors end the waits they concern (see Wire.server_error);
            # everything goes on to the caller's error_cb, or is logged as nats-py would.
            if made:
                made[0].note_server_error(exc)
            if user_cb is not None:
                await user_cb(exc)
            else:
                log.error("nats: encountered error", exc_info=exc)

        user_closed_cb = options.get("closed_cb")

        async def on_closed() -> None:
            if made:
                made[0].wire.connection_closed()  # puts waiting for PubAcks fail now
            if user_closed_cb is not None:
                await user_closed_cb()

        options["error_cb"] = on_error
        options["closed_cb"] = on_closed
        nc = await nats.connect(self._url, **options)
        client = ObjectStoreClient(
            nc, timeout=self._timeout, api_prefix=self._api_prefix, owns_connection=True
        )
        made.append(client)
        return client

    def __await__(self) -> Generator[Any, None, ObjectStoreClient]:
        return self.open().__await__()

    async def __aenter__(self) -> ObjectStoreClient:
        self._client = await self.open()
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.close()


def connect(
    url: str | list[str] = "nats://127.0.0.1:4222",
    *,
    request_timeout: float = 5.0,
    api_prefix: str = "$JS.API",
    **nats_options: Any,
) -> _Connect:
    """Connect to a NATS server (options go to ``nats.connect``); await it or ``async with`` it.

    ``api_prefix`` reaches JetStream in another domain (``$JS.<domain>.API``) or through an import.
    """
    return _Connect(url, request_timeout, api_prefix, nats_options)

"""A stream: config, store, consumers, and the glue between them.

The stream owns its store and its consumers. It is the only place that fans
store events out to consumers: after each stored message it calls
``consumer.on_stored(msg)``; the store's single remove callback becomes
``consumer.on_removed(seq, subject)`` for each consumer; stop/delete call
``consumer.stop(delete_state)``. Consumers see the stream through the
attributes listed in docs/internals.md (``name``, ``config``, ``store``,
``account``, ``js``, ``dir``, ``consumers``).

What a stream does beyond storing (taking publishes, direct gets, retention
by acks, durable consumers) comes in as :class:`StreamFeature` s, handed over
by the account that creates the stream (``AccountJetStream.FEATURES``, in
order). The stream wires them in one place: :meth:`Stream.open` (after create
or recovery, before any message is taken), :meth:`Stream.reconfigure` (after
an update) and :meth:`Stream.close` / :meth:`Stream.delete`. A feature keeps
its state in the stream's typed attributes and hooks into the message path
through ``store_watchers`` and ``consumer_watchers``; a new feature (batches,
schedules, encryption) is one more module with one more StreamFeature.

Expiry (max_age, per-message TTL) runs on a loop timer armed from
``store.next_expiry()`` against the injected clock; :meth:`Stream.expire`
runs it on demand, and places ADR-43 subject delete markers when expiry
empties a subject. ``consumers`` is a dict that reports removals, so interest
retention (:mod:`.retention`) can drop what no remaining consumer needs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from orlop.errors import StoreError
from orlop.jsapi.subject_transform import SubjectTransform
from orlop.jsapi.timefmt import format_ts
from orlop.protocol import headers
from orlop.server.account import InternalSub
from orlop.server.jetstream.atrest import write_sealed
from orlop.server.jetstream.ttl import format_ttl
from orlop.server.jetstream.types import AccountView
from orlop.store.base import StoredMsg, StoreLimits, StreamStore
from orlop.store.cipher import StoreCipher
from orlop.store.file import FileStore
from orlop.store.memory import MemoryStore

__all__ = [
    "ConsumerLike",
    "Dedup",
    "Stream",
    "StreamFeature",
    "info_dict",
    "open_store",
    "state_dict",
    "store_limits",
]


class ConsumerLike(Protocol):
    """What a stream needs from a consumer."""

    def on_stored(self, msg: StoredMsg) -> None: ...

    def on_removed(self, seq: int, subject: str) -> None: ...

    def stop(self, delete_state: bool) -> None: ...


log = logging.getLogger("orlop.jetstream")


@dataclass(frozen=True)
class StreamFeature:
    """One part of what a stream does, wired in by :meth:`Stream.open` and undone by its close.

    ``attach`` subscribes and compiles what the feature needs from ``stream.config``;
    ``detach`` undoes it (both are called again on an update unless ``reconfigure``
    says otherwise: ``reconfigure(stream, old_config)``); ``recover`` runs once for a
    stream recovered from disk, before any feature is attached.
    """

    name: str
    attach: Callable[[Stream], None]
    detach: Callable[[Stream], None]
    recover: Callable[[Stream], None] | None = None
    reconfigure: Callable[[Stream, dict[str, Any]], None] | None = None


class Dedup:
    """Msg-ids seen within the duplicate window: id -> (seq, ts), oldest first."""

    __slots__ = ("ids",)

    def __init__(self) -> None:
        self.ids: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def prune(self, cutoff: int) -> None:
        ids = self.ids
        while ids:
            _, (_, ts) = next(iter(ids.items()))
            if ts >= cutoff:
                break
            ids.popitem(last=False)

    def add(self, msg_id: str, seq: int, ts: int) -> None:
        self.ids[msg_id] = (seq, ts)
        self.ids.move_to_end(msg_id)


def store_limits(config: dict[str, Any]) -> StoreLimits:
    """The store limits a normalised stream config asks for."""
    return StoreLimits(
        max_msgs=config["max_msgs"],
        max_bytes=config["max_bytes"],
        max_age_ns=config["max_age"],
        max_msgs_per_subject=config["max_msgs_per_subject"],
        max_msg_size=config["max_msg_size"],
        discard=config["discard"],
        discard_new_per_subject=bool(config.get("discard_new_per_subject", False)),
        compression=config.get("compression", "none"),
    )


def open_store(
    config: dict[str, Any], sdir: Path | None, js: AccountView, cipher: StoreCipher | None = None
) -> StreamStore:
    """Open (or create) a stream's store: memory, or files under ``<sdir>/msgs`` sealed with ``cipher``."""
    limits = store_limits(config)
    if config["storage"] == "memory" or sdir is None:
        return MemoryStore(limits, clock=js.clock)
    sync_always = bool(js.service.options.sync_always)
    return FileStore(sdir / "msgs", limits, clock=js.clock, sync_always=sync_always, cipher=cipher)


class ConsumerMap(dict[str, Any]):
    """The stream's consumers by name; removing one tells the stream (interest retention cares)."""

    def __init__(self, on_remove: Callable[[], None]) -> None:
        super().__init__()
        self._on_remove = on_remove

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._on_remove()

    def pop(self, key: str, *default: Any) -> Any:
        had = key in self
        value = super().pop(key, *default)
        if had:
            self._on_remove()
        return value


class Stream:
    """One stream of one account.

    ``config`` is the normalised config dict (as STREAM.INFO echoes it); ``created``
    Unix ns; ``dir`` the stream directory (memory streams keep only ``meta.json`` there).
    """

    def __init__(
        self,
        js: AccountView,
        config: dict[str, Any],
        store: StreamStore,
        *,
        created: int,
        dir: Path | None,
        features: Sequence[StreamFeature] = (),
        cipher: StoreCipher | None = None,
    ) -> None:
        self.js = js
        self.cipher = cipher  # seals meta.json and the consumers' files (encryption at rest)
        self.features = tuple(features)
        self.account = js.account
        self.name: str = config["name"]
        self.config = config
        self.store = store
        self.created = created
        self.dir = dir
        self.consumers: dict[str, Any] = ConsumerMap(self._consumer_gone)
        self.closed = False
        # Message path hooks of the features: after every stored message; after a consumer went.
        self.store_watchers: list[Callable[[Stream, StoredMsg], None]] = []
        self.consumer_watchers: list[Callable[[Stream], None]] = []
        # State the features keep on the stream (each says which feature sets it).
        self.subs: list[InternalSub] = []  # subject subscriptions (publish)
        self.direct_subs: list[InternalSub] = []  # direct-get subscriptions (direct)
        self.retention_sub: InternalSub | None = None  # ack listener of workqueue/interest streams
        self.dedup: Dedup | None = None  # created on the first Nats-Msg-Id (publish)
        self.last_msg_id = ""  # Nats-Expected-Last-Msg-Id compares with this (publish)
        self.puback_prefix = b""  # (publish)
        self.republisher: SubjectTransform | None = None  # config["republish"] (publish)
        self.input_transform: SubjectTransform | None = None  # config["subject_transform"] (publish)
        self.counters = False  # config["allow_msg_counter"] (publish)
        # Stores a message the server itself publishes (a fired schedule), bypassing the client
        # checks: (subject, header, payload) -> stored message or error (set by publish).
        self.ingest: Callable[[str, bytes, bytes], object] | None = None
        self.schedules: Any = None  # schedules.Schedules of allow_msg_schedules streams (schedules)
        self.atomic_batches: dict[str, Any] = {}  # batch id -> AtomicBatch (batch_atomic)
        self.fast_batches: dict[str, Any] = {}  # batch id -> FastBatch (batch_fast)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0
        self._expired: set[str] | None = None  # subjects removed by the running expire()
        self._markers: set[int] = set()  # sequences of delete markers (their expiry leaves no marker)
        store.set_remove_callback(self._removed)

    # --- fan-out to consumers ----------------------------------------------------------------

    def stored(self, msg: StoredMsg) -> None:
        """Tell every consumer about a newly stored message and arm expiry if needed."""
        for c in list(self.consumers.values()):
            try:
                c.on_stored(msg)
            except Exception:  # one broken consumer must not stop the stream or the others
                log.exception("stream %s: consumer %s failed on a new message", self.name, c)
        for watch in self.store_watchers:
            watch(self, msg)
        # A max_age expiry of this message is later than any armed timer: only TTLs can be earlier.
        if msg.ttl_ns > 0 or (self._timer is None and self.config["max_age"]):
            self.arm_expiry()

    def _removed(self, seq: int, subject: str) -> None:
        self.js.service.usage.note_freed()
        if self._expired is not None and seq not in self._markers:
            self._expired.add(subject)
        self._markers.discard(seq)
        for c in list(self.consumers.values()):
            try:
                c.on_removed(seq, subject)
            except Exception:  # see stored()
                log.exception("stream %s: consumer %s failed on a removal", self.name, c)

    def _consumer_gone(self) -> None:
        if not self.closed:
            for watch in self.consumer_watchers:
                watch(self)

    def stop_consumers(self, delete_state: bool) -> None:
        """Stop every consumer (deleting their state when the stream is deleted)."""
        for c in list(self.consumers.values()):
            c.stop(delete_state)
        if delete_state:
            self.consumers.clear()

    # --- expiry ----------------------------------------------------------------------------

    def expire(self) -> int:
        """Remove what has expired at the clock's now; re-arm the timer. Returns removals."""
        if self.closed:
            return 0
        self._expired = set()
        try:
            n = self.store.expire(self.js.clock())
            expired, self._expired = self._expired, None
            self._place_markers(expired)
        finally:
            self._expired = None
            self._timer = None
            self._timer_at = 0
        self.arm_expiry()
        return n

    def recover_markers(self) -> None:
        """After a restart, find the live delete markers again (so their expiry leaves none).

        Markers live at most ``subject_delete_marker_ttl``, so only messages that recent are read.
        """
        ttl = self.config.get("subject_delete_marker_ttl", 0)
        if ttl <= 0:
            return
        state = self.store.fast_state()
        cutoff = self.js.clock() - ttl
        seq = state.last_seq
        while seq >= max(state.first_seq, 1):
            m = self.store.load(seq)
            seq -= 1
            if m is None:
                continue
            if m.ts < cutoff:
                break
            if m.hdr and headers.get(m.hdr, "Nats-Marker-Reason"):
                self._markers.add(m.seq)

    def _place_markers(self, subjects: set[str]) -> None:
        """ADR-43 subject delete markers for subjects that expiry left empty."""
        ttl = self.config.get("subject_delete_marker_ttl", 0)
        if ttl <= 0:
            return
        hdr = (
            f"NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: {format_ttl(ttl)}\r\n"
            "Nats-Rollup: sub\r\n\r\n"
        ).encode()
        for subject in sorted(subjects):
            if self.store.last_seq_for_subject(subject):
                continue
            try:
                msg = self.store.store_msg(subject, hdr, b"", ttl_ns=ttl)
            except StoreError:
                continue
            self._markers.add(msg.seq)
            self.stored(msg)

    def arm_expiry(self) -> None:
        """Schedule :meth:`expire` at the store's next expiry (earlier timers win)."""
        if self.closed:
            return
        nxt = self.store.next_expiry()
        if nxt is None or (self._timer is not None and self._timer_at <= nxt):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._timer is not None:
            self._timer.cancel()
        delay = max(0.0, (nxt - self.js.clock()) / 1e9)
        self._timer_at = nxt
        self._timer = loop.call_later(delay, self.expire)

    # --- wiring ----------------------------------------------------------------------------

    def open(self, *, recovered: bool) -> None:
        """Wire the features in (recovering their state first for a stream read back from disk).

        Until this returns the stream takes no messages (no subject is subscribed).
        """
        if recovered:
            self.recover_markers()
            for f in self.features:
                if f.recover is not None:
                    f.recover(self)
        for f in self.features:
            f.attach(self)
        self.arm_expiry()

    def reconfigure(self, old: dict[str, Any]) -> None:
        """Apply ``self.config`` (already persisted) after an update from ``old``."""
        self.store.update_limits(store_limits(self.config))
        for f in self.features:
            if f.reconfigure is not None:
                f.reconfigure(self, old)
            else:
                f.detach(self)
                f.attach(self)
        self.arm_expiry()

    # --- persistence -------------------------------------------------------------------------

    def write_meta(self) -> None:
        """Persist config + created time to ``<dir>/meta.json`` atomically (write, fsync, rename)."""
        if self.dir is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"config": self.config, "created": self.created}, separators=(",", ":")).encode()
        write_sealed(self.dir / "meta.json", "stream meta", self.cipher, data)

    def close(self) -> None:
        """Stop consumers, unsubscribe, cancel timers and close the store (data stays)."""
        self._shutdown(delete=False)

    def delete(self) -> None:
        """Stop and delete consumers, unsubscribe, and destroy the store and directory."""
        self._shutdown(delete=True)

    def _shutdown(self, delete: bool) -> None:
        if self.closed:
            return
        for f in reversed(self.features):
            f.detach(self)
        self.stop_consumers(delete)
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if delete:
            self.store.destroy()
            if self.dir is not None:
                _rmtree(self.dir)
        else:
            self.store.close()


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def state_dict(st: Stream, *, subjects_filter: str = "", deleted_details: bool = False) -> dict[str, Any]:
    """The ``state`` object of STREAM.INFO (nats-server's StreamState, omitempty keys dropped)."""
    s = st.store.state() if deleted_details else st.store.fast_state()
    first_seq = s.first_seq if (s.msgs or s.last_seq) else 0
    out: dict[str, Any] = {
        "messages": s.msgs,
        "bytes": s.bytes,
        "first_seq": first_seq,
        "first_ts": format_ts(s.first_ts if s.msgs else 0),
        "last_seq": s.last_seq,
        "last_ts": format_ts(s.last_ts),
    }
    if s.num_subjects:
        out["num_subjects"] = s.num_subjects
    if subjects_filter:
        subjects = st.store.subjects(subjects_filter)
        if subjects:
            out["subjects"] = dict(sorted(subjects.items()))
    if s.num_deleted:
        out["num_deleted"] = s.num_deleted
        if deleted_details:
            out["deleted"] = list(s.deleted)
    out["consumer_count"] = len(st.consumers)
    return out


def info_dict(st: Stream, **state_args: Any) -> dict[str, Any]:
    """``config``, ``created``, ``state`` and ``ts`` as STREAM.INFO/CREATE/LIST write them."""
    return {
        "config": st.config,
        "created": format_ts(st.created),
        "state": state_dict(st, **state_args),
        "ts": format_ts(st.js.clock()),
    }

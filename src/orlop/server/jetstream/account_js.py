"""One account's JetStream namespace: its streams, API subscriptions, counters and limits.

Each account has its own streams (names may repeat across accounts) and its
own API subscriptions, so every handler receives the :class:`AccountJetStream`
of the account the request came from and never looks at another account.
Limits are per account (``-1`` = unlimited), as nats-server's
``JetStreamAccountLimits``.

Stream lifecycle lives here because it touches the account-wide view (subject
overlap with the other streams, limits, the on-disk directory of the account);
what a stream does with its messages lives in :mod:`.stream` and :mod:`.publish`.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orlop.jsapi.errors import Err, js_error
from orlop.server.account import Account, InternalSub
from orlop.server.jetstream import (
    batch_atomic,
    batch_fast,
    consumer_state,
    direct,
    publish,
    retention,
    schedules,
)
from orlop.server.jetstream.atrest import new_stream_cipher, open_stream_cipher, read_sealed
from orlop.server.jetstream.stream import Stream, StreamFeature, open_store
from orlop.server.jetstream.types import ServiceView
from orlop.store.base import Clock
from orlop.subjects import collide

__all__ = ["FEATURES", "AccountJetStream", "AccountLimits"]

log = logging.getLogger("orlop.jetstream")

FEATURES: tuple[StreamFeature, ...] = (
    consumer_state.FEATURE,  # first: durable consumers are back before any message is taken
    batch_atomic.FEATURE,  # before publish: a commit cut short by a crash is removed first
    batch_fast.FEATURE,
    publish.FEATURE,
    direct.FEATURE,
    retention.FEATURE,
    schedules.FEATURE,
)
"""What every stream does besides storing, wired in this order by :meth:`Stream.open`."""


@dataclass(slots=True)
class AccountLimits:
    """JetStream limits of one account; ``-1`` means unlimited."""

    max_memory: int = -1
    max_storage: int = -1
    max_streams: int = -1
    max_consumers: int = -1
    max_ack_pending: int = -1
    memory_max_stream_bytes: int = -1
    storage_max_stream_bytes: int = -1
    max_bytes_required: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_memory": self.max_memory,
            "max_storage": self.max_storage,
            "max_streams": self.max_streams,
            "max_consumers": self.max_consumers,
            "max_ack_pending": self.max_ack_pending,
            "memory_max_stream_bytes": self.memory_max_stream_bytes,
            "storage_max_stream_bytes": self.storage_max_stream_bytes,
            "max_bytes_required": self.max_bytes_required,
        }


class AccountJetStream:
    """JetStream state of one account.

    ``streams`` maps stream name to :class:`~orlop.server.jetstream.stream.Stream`;
    ``account`` is the server's Account (``subscribe_internal``, ``publish``,
    ``has_interest``); ``service`` the owning JetStreamService; ``clock`` returns
    Unix ns; ``dir`` is ``<store_dir>/jetstream/<account>``.
    """

    def __init__(self, service: ServiceView, account: Account, limits: AccountLimits | None = None) -> None:
        self.service = service
        self.account = account
        self.name: str = account.name
        self.clock: Clock = service.clock
        self.limits = limits or AccountLimits()
        self.streams: dict[str, Stream] = {}
        self.dir: Path = service.store_root / self.name
        self.api_total = 0
        self.api_errors = 0
        self.enabled = True
        self.api_subs: list[InternalSub] = []  # the $JS.API subscriptions (.api.subscribe)

    @property
    def streams_dir(self) -> Path:
        return self.dir / "streams"

    # --- streams ----------------------------------------------------------------------------

    def check_overlap(self, subjects: list[str], exclude: str = "") -> None:
        """Raise 10065 when any subject collides with another stream's subjects."""
        for st in self.streams.values():
            if st.name == exclude:
                continue
            for mine in subjects:
                for theirs in st.config["subjects"]:
                    if collide(mine, theirs):
                        raise js_error(Err.STREAM_SUBJECT_OVERLAP)

    def check_limits(self, config: dict[str, Any]) -> None:
        """Account limits on a new stream: stream count, max_bytes required / per-stream cap."""
        lim = self.limits
        if lim.max_streams >= 0 and len(self.streams) >= lim.max_streams:
            raise js_error(Err.MAXIMUM_STREAMS_LIMIT)
        if lim.max_bytes_required and config["max_bytes"] <= 0:
            raise js_error(Err.STREAM_MAX_BYTES_REQUIRED)
        cap = lim.memory_max_stream_bytes if config["storage"] == "memory" else lim.storage_max_stream_bytes
        if cap > 0 and config["max_bytes"] > cap:
            raise js_error(Err.STREAM_MAX_STREAM_BYTES_EXCEEDED)

    def check_reservation(self, config: dict[str, Any], replacing: Stream | None = None) -> None:
        """Raise 10028/10047 when ``config``'s max_bytes does not fit the account's memory/storage total.

        As nats-server's checkBytesLimits: the ``max_bytes`` of the account's other streams of
        that storage type, plus this one's (1 byte when it has none), within the total.
        """
        storage = config["storage"]
        total = self.limits.max_memory if storage == "memory" else self.limits.max_storage
        if total < 0:
            return
        reserved = sum(
            max(0, st.config["max_bytes"])
            for st in self.streams.values()
            if st is not replacing and st.config.get("storage", "file") == storage
        )
        wanted = config["max_bytes"] if config["max_bytes"] > 0 else 1
        if reserved > total or wanted > total - reserved:
            memory = storage == "memory"
            raise js_error(Err.MEMORY_RESOURCES_EXCEEDED if memory else Err.STORAGE_RESOURCES_EXCEEDED)

    def admits(self, storage: str, nbytes: int) -> bool:
        """Whether the account's memory/storage total has room for ``nbytes`` more (publishes)."""
        total = self.limits.max_memory if storage == "memory" else self.limits.max_storage
        if total < 0:
            return True
        used = sum(
            st.store.fast_state().bytes
            for st in self.streams.values()
            if st.config.get("storage", "file") == storage
        )
        return used + nbytes <= total

    def add_stream(self, config: dict[str, Any], created: int) -> Stream:
        """Create a stream from a normalised config: store, meta.json, subscriptions, hooks.

        Raises JetStreamError 10065 on overlap, 10047/10028 when its max_bytes does not fit the
        server's storage limits; store errors as 10049 (stream create).
        """
        self.check_overlap(config["subjects"])
        self.check_limits(config)
        self.check_reservation(config)
        self.service.check_reservation(config)
        sdir = None if config["storage"] == "memory" else self.streams_dir / config["name"]
        keys = self.service.at_rest
        cipher = None
        try:
            cipher = None if sdir is None or keys is None else new_stream_cipher(keys, sdir)
            store = open_store(config, sdir, self, cipher)
        except OSError as exc:
            if cipher is not None and sdir is not None:
                shutil.rmtree(sdir, ignore_errors=True)  # e.g. a key file written, then the disk was full
            raise js_error(Err.STREAM_CREATE, err=str(exc)) from exc
        first_seq = int(config.get("first_seq") or 0)
        if first_seq > 1:
            store.skip_msgs(first_seq)  # the stream's first message gets first_seq
        st = Stream(self, config, store, created=created, dir=sdir, features=FEATURES, cipher=cipher)
        try:
            st.write_meta()
        except OSError as exc:  # e.g. a full disk: no half-made stream is left behind
            st.delete()
            raise js_error(Err.STREAM_CREATE, err=str(exc)) from exc
        self.streams[st.name] = st
        st.open(recovered=False)
        return st

    def update_stream(self, st: Stream, config: dict[str, Any]) -> None:
        """Apply an already-checked config: meta.json first, then limits and subscriptions.

        Raises JetStreamError 10065 on overlap, 10047/10028 for max_bytes beyond the server's limits,
        10069 when meta.json cannot be written (nothing is applied then).
        """
        self.check_overlap(config["subjects"], exclude=st.name)
        self.check_reservation(config, replacing=st)
        self.service.check_reservation(config, replacing=st)
        old = st.config
        st.config = config
        try:
            st.write_meta()  # first: a config that cannot be kept is not applied either
        except OSError as exc:
            st.config = old
            raise js_error(Err.STREAM_UPDATE, err=str(exc)) from exc
        st.reconfigure(old)

    def delete_stream(self, st: Stream) -> None:
        """Delete a stream with its consumers and data."""
        self.streams.pop(st.name, None)
        st.delete()

    def recover(self) -> None:
        """Reopen every stream found under ``streams_dir`` (errors are logged, the rest recover)."""
        if not self.streams_dir.is_dir():
            return
        for sdir in sorted(self.streams_dir.iterdir()):
            meta = sdir / "meta.json"
            if not meta.is_file():
                # As nats-server: say so and leave the files alone (docs/reliability.md: how to recover).
                log.warning('  Missing stream metafile for "%s"', meta)
                continue
            try:
                cipher = open_stream_cipher(self.service.at_rest, sdir)
                data = json.loads(read_sealed(meta, "stream meta", cipher))
                config, created = data["config"], int(data["created"])
                store = open_store(config, sdir, self, cipher)
            except Exception:  # one broken stream must not keep the others down
                log.exception("could not recover stream in %s", sdir)
                continue
            st = Stream(self, config, store, created=created, dir=sdir, features=FEATURES, cipher=cipher)
            self.streams[st.name] = st
            st.open(recovered=True)
            note = getattr(store, "recovery_note", "")
            log.info(
                "recovered stream %s > %s: %d messages%s",
                self.name,
                st.name,
                store.fast_state().msgs,
                f" ({note})" if note else "",
            )

    def close(self) -> None:
        """Close every stream (data stays on disk) and drop the API subscriptions."""
        for sub in self.api_subs:
            self.account.unsubscribe_internal(sub)
        self.api_subs.clear()
        for st in list(self.streams.values()):
            st.close()
        self.streams.clear()

    # --- accounting ---------------------------------------------------------------------------

    def usage(self) -> tuple[int, int]:
        """(memory bytes, file bytes) used by this account's streams."""
        mem = fil = 0
        for st in self.streams.values():
            b = st.store.fast_state().bytes
            if st.config.get("storage") == "memory":
                mem += b
            else:
                fil += b
        return mem, fil

    def reserved(self) -> tuple[int, int]:
        """(memory, file) bytes reserved by streams' ``max_bytes``."""
        mem = fil = 0
        for st in self.streams.values():
            b = max(0, st.config["max_bytes"])
            if st.config.get("storage") == "memory":
                mem += b
            else:
                fil += b
        return mem, fil

    def consumer_count(self) -> int:
        return sum(len(st.consumers) for st in self.streams.values())

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orlop.jsapi.errors import Err, js_error
from orlop.server.jetstream import direct, publish, resources, retention
from orlop.server.jetstream.api import API_PREFIX, ApiHandler, dispatch, handlers
from orlop.server.jetstream.stream import STREAM_OPEN_HOOKS, Stream, open_store, store_limits
from orlop.store.base import Clock
from orlop.subjects import collide

if TYPE_CHECKING:
    from orlop.server.jetstream.api import ApiRequest
    from orlop.server.jetstream.service import JetStreamService

__all__ = ["AccountJetStream", "AccountLimits"]

log = logging.getLogger("orlop.jetstream")


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

    def __init__(self, service: JetStreamService, account: Any, limits: AccountLimits | None = None) -> None:
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
        self._api_subs: list[Any] = []

    @property
    def streams_dir(self) -> Path:
        return self.dir / "streams"

    # --- API subscriptions -------------------------------------------------------------------

    def subscribe_api(self) -> None:
        """One internal subscription per registered endpoint (see :mod:`.api`)."""
        for handler in handlers():
            for pattern in handler.patterns():
                self._api_subs.append(self.account.subscribe_internal(pattern, self._api_callback(handler)))

    def _api_callback(self, handler: ApiHandler) -> Any:
        def on_request(subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
            dispatch(self, handler, subject, reply, hdr, payload)

        return on_request

    def after_api(self, req: ApiRequest, handler: ApiHandler, body: dict[str, Any], out: bytes) -> None:
        """Hook run after every answered API request (audit advisory when someone listens)."""
        self.service.advisories.api_audit(self, req, out)

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

    def add_stream(self, config: dict[str, Any], created: int) -> Stream:
        """Create a stream from a normalised config: store, meta.json, subscriptions, hooks.

        Raises JetStreamError 10065 on overlap, 10047/10028 when its max_bytes does not fit the
        server's storage limits; store errors as 10049 (stream create).
        """
        self.check_overlap(config["subjects"])
        self.check_limits(config)
        resources.check_reservation(self.service, config)
        sdir = None if config["storage"] == "memory" else self.streams_dir / config["name"]
        try:
            store = open_store(config, sdir, self)
        except OSError as exc:
            raise js_error(Err.STREAM_CREATE, err=str(exc)) from exc
        first_seq = int(config.get("first_seq") or 0)
        if first_seq > 1:
            store.skip_msgs(first_seq)  # the stream's first message gets first_seq
        st = Stream(self, config, store, created=created, dir=sdir)
        try:
            st.write_meta()
        except OSError as exc:  # e.g. a full disk: no half-made stream is left behind
            st.delete()
            raise js_error(Err.STREAM_CREATE, err=str(exc)) from exc
        self._activate(st, recovered=False)
        return st

    def _activate(self, st: Stream, recovered: bool) -> None:
        self.streams[st.name] = st
        if recovered:
            st.recover_markers()
        for hook in STREAM_OPEN_HOOKS:
            hook(st, recovered)
        publish.attach(st)
        direct.attach(st)
        retention.attach(st)
        st.arm_expiry()

    def update_stream(self, st: Stream, config: dict[str, Any]) -> None:
        """Apply an already-checked config: meta.json first, then limits and subscriptions.

        Raises JetStreamError 10065 on overlap, 10047/10028 for max_bytes beyond the server's limits,
        10069 when meta.json cannot be written (nothing is applied then).
        """
        self.check_overlap(config["subjects"], exclude=st.name)
        resources.check_reservation(self.service, config, replacing=st)
        old = st.config
        st.config = config
        try:
            st.write_meta()  # first: a config that cannot be kept is not applied either
        except OSError as exc:
            st.config = old
            raise js_error(Err.STREAM_UPDATE, err=str(exc)) from exc
        st.store.update_limits(store_limits(config))
        publish.detach(st)  # subjects and republish may have changed
        publish.attach(st)
        if old.get("allow_direct") != config.get("allow_direct"):
            direct.detach(st)
            direct.attach(st)
        retention.detach(st)
        retention.attach(st)
        st.arm_expiry()

    def delete_stream(self, st: Stream) -> None:
        """Delete a stream with its consumers and data."""
        self.streams.pop(st.name, None)
        publish.detach(st)
        direct.detach(st)
        retention.detach(st)
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
                data = json.loads(meta.read_bytes())
                config, created = data["config"], int(data["created"])
                store = open_store(config, sdir, self)
            except Exception:  # one broken stream must not keep the others down
                log.exception("could not recover stream in %s", sdir)
                continue
            st = Stream(self, config, store, created=created, dir=sdir)
            self._activate(st, recovered=True)
            note = getattr(store, "recovery_note", "")
            log.info(
                "recovered stream %s > %s: %d messages%s",
                self.name,
                st.name,
                store.fast_state().msgs,
                f" ({note})" if note else "",
            )

    def silence_api(self) -> None:
        """Take every API request and answer none (JetStream shut down; :meth:`close` drops it)."""

        def ignore(subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
            return None

        self._api_subs.append(self.account.subscribe_internal(f"{API_PREFIX}>", ignore))

    def close(self) -> None:
        """Close every stream (data stays on disk) and drop the API subscriptions."""
        for sub in self._api_subs:
            self.account.unsubscribe_internal(sub)
        self._api_subs.clear()
        for st in list(self.streams.values()):
            publish.detach(st)
            direct.detach(st)
            retention.detach(st)
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

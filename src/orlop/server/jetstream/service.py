"""The JetStream service: accounts, recovery, background sync, /jsz.

The server creates one :class:`JetStreamService` when JetStream is enabled.
``start`` enables JetStream on every account (subscribing ``$JS.API.>`` and
recovering the account's streams from ``<store_dir>/jetstream/<account>``),
then runs one background task that fsyncs file stores every
``options.sync_interval`` seconds. Everything else happens in response to
messages, synchronously, inside the publisher's dispatch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from orlop.server.jetstream import atrest, resources, schedules
from orlop.server.jetstream.account_js import AccountJetStream, AccountLimits
from orlop.server.jetstream.advisories import Advisories, new_id
from orlop.server.jetstream.api import load_handlers, silence, subscribe
from orlop.server.jetstream.batching import BatchCounts, BatchLimits
from orlop.server.jetstream.jsz import build_jsz
from orlop.server.jetstream.resources import ServerLimits, UsageMeter, stored_bytes
from orlop.store.base import Clock, wall_clock

__all__ = ["API_LEVEL", "JetStreamService"]

log = logging.getLogger("orlop.jetstream")

API_LEVEL = 4
"""JetStream API level of nats-server 2.14 (ADR-50 batches and fast ingest, counters, schedules,
priority groups), which we claim; the server's INFO says the same (``orlop.server.server.API_LEVEL``)."""
DEFAULT_VERSION = "2.14.0"


class JetStreamService:
    """JetStream for a whole server. ``clock`` returns Unix ns and drives every expiry.

    ``strict`` refuses unknown request fields as nats-server 2.12+ does by default.
    """

    def __init__(self, server: Any, clock: Clock = wall_clock, *, strict: bool = True) -> None:
        self.server = server
        self.options = server.options
        self.clock = clock
        self.store_root = Path(self.options.store_dir) / "jetstream"
        self.accounts: dict[str, AccountJetStream] = {}
        name = getattr(server, "name", "") or self.options.server_name or "orlop"
        self.server_id: str = getattr(server, "server_id", "") or new_id(56).upper()
        self.server_name: str = name
        self.advisories = Advisories(name, self.server_id)
        self.version: str = getattr(server, "version", "") or DEFAULT_VERSION
        self.api_level = API_LEVEL
        self.strict = strict
        self.limits = self._server_limits()
        self.usage = UsageMeter(self)
        self.batches = BatchCounts(BatchLimits.from_options(self.options))  # ADR-50, see .batching
        self._sync_task: asyncio.Task[None] | None = None
        self.started = False
        o = self.options
        self.at_rest: atrest.AtRestKeys | None = None
        if o.jetstream_key:
            self.at_rest = atrest.AtRestKeys(o.jetstream_cipher, o.jetstream_key, o.jetstream_prev_key)

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Enable every existing account and recover its streams; start background sync."""
        load_handlers()
        self.store_root.mkdir(parents=True, exist_ok=True)
        self.limits = self._server_limits()  # the free space of the store disk, now that it exists
        # Every stream's key is checked before any stream opens (StartupError, nothing written),
        # then rotated to the new key or converted from plaintext (see .atrest).
        atrest.prepare(self.at_rest, self.store_root)
        # Accounts with streams on disk come back even before any client of theirs connects.
        for entry in sorted(self.store_root.iterdir()):
            if entry.is_dir():
                self.server.lookup_account(entry.name)
        started = time.monotonic()
        for account in list(self.server.accounts.values()):
            if self.server.jetstream_allowed(account.name):
                self.enable_account(account)
        streams = sum(len(js.streams) for js in self.accounts.values())
        if streams:
            log.info("JetStream state of %d streams recovered in %.2fs", streams, time.monotonic() - started)
        # Derived limits count what the recovered streams occupy as free space (see .resources).
        self.limits = self._server_limits(used_store=stored_bytes(self, "file"))
        self.started = True
        if self.options.sync_interval > 0:
            self._sync_task = asyncio.get_running_loop().create_task(self._sync_loop())

    def _server_limits(self, used_store: int = 0) -> ServerLimits:
        o = self.options
        return ServerLimits(
            o.max_memory_store,
            o.max_file_store,
            self.store_root,
            reserve=o.store_reserve,
            used_store=used_store,
        )

    def enable_account(self, account: Any) -> AccountJetStream:
        """JetStream for ``account`` (idempotent): API subscription plus recovered streams."""
        js = self.accounts.get(account.name)
        if js is not None:
            return js
        load_handlers()
        configured = self.server.account_js_limits(account.name)
        limits = AccountLimits(**configured) if configured else None
        js = AccountJetStream(self, account, limits)
        self.accounts[account.name] = js
        js.recover()
        js.api_subs = subscribe(js)
        return js

    def update_account_limits(self, account: Any, limits: dict[str, Any] | None) -> None:
        """New JetStream limits for an account (its JWT changed); None takes JetStream away.

        An account that loses JetStream keeps its streams on disk but may create nothing and
        store nothing more (all limits 0), which is as far as taking it away can safely go.
        """
        js = self.accounts.get(account.name)
        if js is None:
            if limits is not None:
                self.enable_account(account)
            return
        if limits is None:
            js.limits = AccountLimits(0, 0, 0, 0, -1, -1, -1, False)
        else:
            js.limits = AccountLimits(**limits)

    def check_reservation(self, config: dict[str, Any], replacing: object | None = None) -> None:
        """Raise 10047/10028 when ``config``'s max_bytes does not fit (see :mod:`.resources`)."""
        resources.check_reservation(self, config, replacing)

    async def shutdown(self, *, silence_api: bool = False) -> None:
        """Stop background work, then flush and close every store.

        ``silence_api`` (lame duck mode): API requests are then received and left
        unanswered, as nats-server leaves them, instead of finding no responders.
        """
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
            self._sync_task = None
        for js in self.accounts.values():
            js.close()
            if silence_api:
                js.api_subs.append(silence(js))
        self.started = False

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.sync_interval)
            self.sync_all()

    def sync_all(self) -> None:
        """fsync every file store (errors are logged, never raised: the loop must go on)."""
        for js in self.accounts.values():
            for st in list(js.streams.values()):
                try:
                    st.store.sync()
                except Exception:  # a failing disk must not stop the other streams
                    log.exception("sync of stream %s failed", st.name)

    def expire_all(self) -> int:
        """Run expiry on every stream now (tests with a fake clock call this); returns removals."""
        return sum(st.expire() for js in self.accounts.values() for st in list(js.streams.values()))

    def fire_schedules(self) -> int:
        """Fire every message schedule due at the clock's now (as ``expire_all``); returns messages stored."""
        streams = [st for js in self.accounts.values() for st in list(js.streams.values())]
        return sum(schedules.fire_due(st) for st in streams)

    # --- monitoring -----------------------------------------------------------------------

    @property
    def api_total(self) -> int:
        return sum(js.api_total for js in self.accounts.values())

    @property
    def api_errors(self) -> int:
        return sum(js.api_errors for js in self.accounts.values())

    def jsz(self, query: dict[str, Any]) -> dict[str, Any]:
        """The /jsz body (nats-server's JSInfo shape)."""
        return build_jsz(self, query)

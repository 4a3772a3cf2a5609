"""What the parts of JetStream see of the ones above them: small read-only Protocols.

A stream and its features (:mod:`.stream`, :mod:`.publish`, :mod:`.direct`,
:mod:`.retention`, the consumers) sit below the account's namespace
(:class:`.account_js.AccountJetStream`) and the server-wide service
(:class:`.service.JetStreamService`), which create and own them. When a lower
module needs something of its owner (the clock, the account to subscribe on,
the usage gate of a publish), it names it through these Protocols, never by
importing the owner's module: imports in this package point down only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from orlop.server.account import Account
from orlop.server.jetstream.atrest import AtRestKeys
from orlop.server.jetstream.batching import BatchCounts
from orlop.server.options import ServerOptions
from orlop.store.base import Clock

__all__ = ["AccountView", "AdvisorySink", "RequestView", "ServiceView", "UsageGate"]


class UsageGate(Protocol):
    """The server-wide storage check a publish passes (:class:`.resources.UsageMeter`)."""

    def admit(self, storage: str, nbytes: int) -> bool: ...

    def note_freed(self) -> None: ...


class RequestView(Protocol):
    """An API request as an advisory reports it."""

    @property
    def subject(self) -> str: ...

    @property
    def body(self) -> bytes: ...


class AdvisorySink(Protocol):
    """Where JetStream events go (:class:`.advisories.Advisories`)."""

    def api_audit(self, js: AccountView, req: RequestView, response: bytes) -> None: ...

    def stream_action(self, js: AccountView, action: str, stream: str) -> None: ...


class ServiceView(Protocol):
    """The JetStream service as the parts below it see it."""

    @property
    def options(self) -> ServerOptions: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def store_root(self) -> Path: ...

    @property
    def api_level(self) -> int: ...

    @property
    def strict(self) -> bool: ...

    @property
    def server_name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def usage(self) -> UsageGate: ...

    @property
    def batches(self) -> BatchCounts: ...

    @property
    def advisories(self) -> AdvisorySink: ...

    @property
    def at_rest(self) -> AtRestKeys | None:
        """The server's encryption at rest keys (None: streams are written in plaintext)."""

    def check_reservation(self, config: dict[str, Any], replacing: object | None = None) -> None:
        """Raise 10047/10028 when ``config``'s max_bytes does not fit the server's limits."""


class AccountView(Protocol):
    """An account's JetStream namespace as its streams, consumers and advisories see it."""

    @property
    def name(self) -> str: ...

    @property
    def account(self) -> Account: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def service(self) -> ServiceView: ...

    def admits(self, storage: str, nbytes: int) -> bool:
        """Whether the account's memory/storage total has room for ``nbytes`` more."""

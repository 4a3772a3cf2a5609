"""Stream and service imports: messages and requests that cross from one account into another.

Accounts are sealed subject spaces (:mod:`orlop.server.account`); an import opens one
door, as the ``exports``/``imports`` of the configuration say (checked when read, see
orlop.server.config.exports). What crosses follows nats-server (accounts.go, client.go
processServiceImport):

* **Stream import**: a message published in the exporter on the exported subject is also
  delivered in the importer: under ``<prefix>.<subject>``, under ``to``, or under its own
  subject. Only that way round; the reply subject and headers pass unchanged. An internal
  subscription in the exporter forwards each such message.
* **Service import**: a request published in the importer on the local subject (``to``, or
  the exporter's subject) is published in the exporter on the exported subject, with its
  reply subject replaced by ``_R_.<6>.<6>`` and a ``Nats-Request-Info: {"acc": ...}``
  header. An answer to that reply is carried back to the original reply subject in the
  importer: the first one only for ``singleton`` services, all of them for ``stream`` and
  ``chunked`` ones until an empty message, a response nobody received, or ``threshold``
  seconds without one (default two minutes). Nobody serving in the exporter means no
  delivery, so a requester that asked for it gets the 503 "no responders" status.

Messages that came in through a service import are not passed on by stream imports, and
messages that came in through a stream import do not trigger service imports, so an
import never feeds another.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orlop.jsapi.subject_transform import SubjectTransform
from orlop.server.account import Account, InternalSub
from orlop.server.options import Export, Import, ServerOptions
from orlop.subjects import has_wildcard, is_subset

__all__ = ["ImportRouter"]

log = logging.getLogger("orlop.server")

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
REQUEST_INFO = b"Nats-Request-Info"


def _token6() -> str:
    return "".join(_BASE62[secrets.randbelow(62)] for _ in range(6))


@dataclass(slots=True)
class _Pending:
    """A request waiting for its answer: where in the importer the answer goes."""

    importer: Account
    reply: str
    response: str  # "singleton", "stream" or "chunked"
    threshold: float
    touched: float


class _Replies:
    """The ``_R_.<prefix>.<token>`` reply subjects of one exporting account's served requests."""

    def __init__(self, exporter: Account, schedule: Callable[[float, Callable[[], None]], Any]) -> None:
        self.exporter = exporter
        self.prefix = f"_R_.{_token6()}."
        self.pending: dict[str, _Pending] = {}
        self._schedule = schedule
        self._sweeping = False
        exporter.subscribe_internal(self.prefix + ">", self._answer)

    def track(self, importer: Account, reply: str, export: Export) -> str:
        subject = self.prefix + _token6()
        while subject in self.pending:
            subject = self.prefix + _token6()
        self.pending[subject] = _Pending(importer, reply, export.response, export.threshold, time.monotonic())
        if not self._sweeping:
            self._sweeping = True
            self._schedule(min(export.threshold, 5.0), self._sweep)
        return subject

    def drop(self, subject: str) -> None:
        self.pending.pop(subject, None)

    def _answer(self, subject: str, reply: str, hdr: bytes, payload: bytes) -> int:
        waiting = self.pending.get(subject)
        if waiting is None:
            return 0  # answered already, or expired: dropped, as nats-server drops it
        n = waiting.importer.route(waiting.reply, "", hdr, payload, None)
        if waiting.response == "singleton" or n == 0 or not (hdr or payload):
            del self.pending[subject]  # singleton answered, nobody listening, or end of stream
        else:
            waiting.touched = time.monotonic()
        return n

    def _sweep(self) -> None:
        now = time.monotonic()
        for subject, waiting in list(self.pending.items()):
            if now - waiting.touched >= waiting.threshold:
                del self.pending[subject]
        if self.pending:
            self._schedule(min(min(w.threshold for w in self.pending.values()), 5.0), self._sweep)
        else:
            self._sweeping = False


class ImportRouter:
    """Wires the configured imports between a server's accounts (see the module docstring)."""

    def __init__(
        self,
        lookup: Callable[[str], Account],
        schedule: Callable[[float, Callable[[], None]], Any],
    ) -> None:
        self._lookup = lookup
        self._schedule = schedule
        self._replies: dict[str, _Replies] = {}
        # Set while a message crosses, so the other kind of import leaves it alone.
        self._in_service = 0
        self._in_stream = 0
        # Per importing account, the subscriptions its imports made (to undo them).
        self._wired: dict[str, list[tuple[Account, InternalSub]]] = {}

    def wire(self, options: ServerOptions) -> None:
        for name, imports in options.imports.items():
            pairs = [(imp, _export_for(options.exports.get(imp.account, ()), imp)) for imp in imports]
            self.wire_account(name, pairs)

    def wire_account(self, name: str, imports: list[tuple[Import, Export]]) -> None:
        """Wire account ``name``'s imports (each with the export it takes), replacing earlier ones."""
        self.unwire_account(name)
        importer = self._lookup(name)
        made = self._wired.setdefault(name, [])
        for imp, export in imports:
            exporter = self._lookup(imp.account)
            if imp.kind == "stream":
                made.append((exporter, self._stream(exporter, importer, imp)))
            else:
                made.append((importer, self._service(exporter, importer, imp, export)))

    def unwire_account(self, name: str) -> None:
        """Undo account ``name``'s imports (its JWT changed, or lost them)."""
        for account, sub in self._wired.pop(name, []):
            account.unsubscribe_internal(sub)

    def pending_responses(self, account: str) -> int:
        """Requests served by ``account`` still waiting for (more) answers."""
        replies = self._replies.get(account)
        return len(replies.pending) if replies is not None else 0

    def _stream(self, exporter: Account, importer: Account, imp: Import) -> InternalSub:
        mapped = _stream_mapping(imp)

        def forward(subject: str, reply: str, hdr: bytes, payload: bytes) -> int:
            if self._in_service:
                return 0
            self._in_stream += 1
            try:
                return importer.route(mapped(subject), reply, hdr, payload, None)
            finally:
                self._in_stream -= 1

        return exporter.subscribe_internal(imp.subject, forward)

    def _service(self, exporter: Account, importer: Account, imp: Import, export: Export) -> InternalSub:
        local = imp.to or imp.subject
        if not has_wildcard(imp.subject):
            target: Callable[[str], str] = lambda subject: imp.subject  # noqa: E731 - one literal
        elif local == imp.subject:
            target = lambda subject: subject  # noqa: E731 - the published subject itself
        else:
            transform = SubjectTransform(local, imp.subject)
            target = lambda subject: transform.apply(subject) or imp.subject  # noqa: E731
        info = b"%s: %s" % (REQUEST_INFO, json.dumps({"acc": importer.name}, separators=(",", ":")).encode())

        def request(subject: str, reply: str, hdr: bytes, payload: bytes) -> int:
            if self._in_stream:
                return 0
            answer = reply
            if reply and not reply.startswith("$JS.ACK."):
                answer = self._replies_of(exporter).track(importer, reply, export)
            self._in_service += 1
            try:
                n = exporter.route(target(subject), answer, _add_header(hdr, info), payload, None)
            finally:
                self._in_service -= 1
            if n == 0 and answer != reply:
                self._replies_of(exporter).drop(answer)
            return n

        return importer.subscribe_internal(local, request)

    def _replies_of(self, exporter: Account) -> _Replies:
        replies = self._replies.get(exporter.name)
        if replies is None:
            replies = self._replies[exporter.name] = _Replies(exporter, self._schedule)
        return replies


def _export_for(exports: tuple[Export, ...], imp: Import) -> Export:
    for e in exports:
        if e.kind == imp.kind and (e.subject == imp.subject or is_subset(imp.subject, e.subject)):
            return e
    return Export(imp.kind, imp.subject)  # unreachable after the configuration check


def _stream_mapping(imp: Import) -> Callable[[str], str]:
    if imp.prefix:
        joint = imp.prefix if imp.prefix.endswith(".") else imp.prefix + "."
        return lambda subject: joint + subject
    if imp.to and imp.to != imp.subject:
        if not has_wildcard(imp.subject):
            return lambda subject: imp.to
        transform = SubjectTransform(imp.subject, imp.to)
        return lambda subject: transform.apply(subject) or subject
    return lambda subject: subject


def _add_header(hdr: bytes, line: bytes) -> bytes:
    """``hdr`` with one more header line (a header block made when there was none)."""
    if not hdr:
        return b"NATS/1.0\r\n" + line + b"\r\n\r\n"
    return hdr[:-2] + line + b"\r\n\r\n"

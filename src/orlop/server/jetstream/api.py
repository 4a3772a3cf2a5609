"""JetStream API dispatch: one preamble, a registry of small handlers.

Every request on ``$JS.API.*`` enters :func:`dispatch`, which does the work
nats-server repeats in each of its handlers exactly once: count the call, run
the handler, turn a raised :class:`~orlop.errors.JetStreamError` into an error
response, stamp the response ``type`` and encode compact JSON (with Go's
``<``/``>``/``&`` escapes) to the reply subject.

Each registered endpoint gets its own internal subscription per account
(``$JS.API.STREAM.INFO.*``, ...), like nats-server's, so a subject no endpoint
serves is answered by the core's "no responders" instead of a timeout;
:func:`lookup` still finds a handler by the longest token prefix for callers
holding a subject.

Handlers are plain synchronous functions registered with :func:`api`; they
run inside the publisher's dispatch (see docs/internals.md), so they never
block on the network. A handler returns the response dict (without ``type``)
or ``None`` when it answers later or never (e.g. a direct get answering with
raw messages). Handler modules are the modules of this package whose names
end in ``_api`` (``stream_api``, ``consumer_api``, ...); :func:`load_handlers`
imports them all, so a new module registers itself just by existing.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orlop.errors import JetStreamError
from orlop.jsapi.errors import Err, js_error
from orlop.jsapi.schema import Schema, check
from orlop.server.account import InternalCallback, InternalSub
from orlop.server.jetstream.account_js import AccountJetStream
from orlop.server.jetstream.encoding import (
    GoNumber,
    decode_body,
    encode,
    go_json_text,
    required_level_too_high,
)
from orlop.server.jetstream.stream import Stream

__all__ = [
    "API_PREFIX",
    "ApiHandler",
    "ApiRequest",
    "GoNumber",
    "api",
    "decode_body",
    "dispatch",
    "encode",
    "go_json_text",
    "handlers",
    "load_handlers",
    "lookup",
    "silence",
    "subscribe",
]

log = logging.getLogger("orlop.jetstream")

API_PREFIX = "$JS.API."
_PREFIX_LEN = len(API_PREFIX)

Handler = Callable[["ApiRequest"], "dict[str, Any] | None"]


@dataclass(frozen=True, slots=True)
class ApiHandler:
    """A registered endpoint: its token prefix, response type, function and argument tokens.

    ``nargs`` is the number of tokens after the prefix: ``n >= 0`` exactly, ``-1`` one or
    more, ``None`` any number including none. ``error_fields`` follow ``error`` in an error
    response (nats-server's response structs have non-omitempty fields, e.g. ``"purged":0``).
    """

    prefix: tuple[str, ...]
    response_type: str
    fn: Handler
    nargs: int | None = None
    error_fields: tuple[tuple[str, Any], ...] = ()

    def patterns(self) -> list[str]:
        """The subscription subjects serving this endpoint."""
        base = API_PREFIX + ".".join(self.prefix)
        if self.nargs is None:
            return [base, base + ".>"]
        if self.nargs < 0:
            return [base + ".>"]
        return [".".join([base] + ["*"] * self.nargs)]


_REGISTRY: dict[tuple[str, ...], ApiHandler] = {}
_MAX_PREFIX = 0


def api(
    prefix: str, response_type: str, nargs: int | None = None, error_fields: dict[str, Any] | None = None
) -> Callable[[Handler], Handler]:
    """Register ``fn`` for requests whose tokens after ``$JS.API.`` start with ``prefix``.

    ``prefix`` is dot-separated (``"STREAM.INFO"``); ``response_type`` the full
    ``io.nats.jetstream.api.v1.*`` type string; ``nargs`` the tokens after the prefix
    (see :class:`ApiHandler`; ``STREAM.INFO`` takes 1). Raises ValueError when the prefix
    is registered twice.
    """

    def register(fn: Handler) -> Handler:
        global _MAX_PREFIX
        key = tuple(prefix.split("."))
        if key in _REGISTRY:
            raise ValueError(f"JetStream API {prefix!r} registered twice")
        extra = tuple((error_fields or {}).items())
        _REGISTRY[key] = ApiHandler(key, response_type, fn, nargs, extra)
        _MAX_PREFIX = max(_MAX_PREFIX, len(key))
        return fn

    return register


def lookup(tokens: list[str]) -> ApiHandler | None:
    """The handler with the longest prefix of ``tokens``, or None."""
    for n in range(min(len(tokens), _MAX_PREFIX), 0, -1):
        h = _REGISTRY.get(tuple(tokens[:n]))
        if h is not None:
            return h
    return None


def handlers() -> list[ApiHandler]:
    """Every registered endpoint."""
    return list(_REGISTRY.values())


_loaded = False


def load_handlers() -> None:
    """Import every ``*_api`` module of this package once (they register on import)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    pkg = importlib.import_module("orlop.server.jetstream")
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.endswith("_api"):
            importlib.import_module(f"orlop.server.jetstream.{info.name}")


class ApiRequest:
    """One API request as a handler sees it.

    ``tokens`` are the subject tokens after ``$JS.API.``; ``args`` the tokens after the
    endpoint's prefix (``["S"]`` for ``STREAM.MSG.GET.S``); ``body`` the raw payload.
    """

    __slots__ = ("_json", "args", "body", "hdr", "js", "reply", "subject", "tokens")

    def __init__(
        self,
        js: AccountJetStream,
        subject: str,
        tokens: list[str],
        reply: str,
        hdr: bytes,
        body: bytes,
        nprefix: int = 0,
    ) -> None:
        self.js = js
        self.subject = subject
        self.tokens = tokens
        self.args = tokens[nprefix:]
        self.reply = reply
        self.hdr = hdr
        self.body = body
        self._json: dict[str, Any] | None = None

    @property
    def empty(self) -> bool:
        """True when the body is empty or only whitespace."""
        return not self.body.strip()

    def json(self, schema: Schema | None = None) -> dict[str, Any]:
        """The body as a JSON object; ``{}`` when empty.

        With ``schema``, unknown keys (when the service is strict) and wrongly typed values
        are refused as nats-server's Go decoder refuses them.
        Raises JetStreamError 10025 (``invalid JSON: ...``).
        """
        if self._json is None:
            self._json = decode_body(self.body, schema.name if schema else "")
        if schema is not None:
            check(self._json, schema, strict=self.js.service.strict)
        return self._json

    def token(self, i: int) -> str:
        """Token ``i`` after ``$JS.API.`` or ``""`` when the subject is shorter."""
        return self.tokens[i] if i < len(self.tokens) else ""

    def stream(self, name: str) -> Stream:
        """The stream ``name`` of this account. Raises JetStreamError 10059."""
        st = self.js.streams.get(name)
        if st is None:
            raise js_error(Err.STREAM_NOT_FOUND)
        return st


def dispatch(
    js: AccountJetStream, handler: ApiHandler, subject: str, reply: str, hdr: bytes, payload: bytes
) -> None:
    """Handle one request for ``handler`` and publish the response to ``reply``.

    Requests without a reply subject are still executed (nats-server does too) but get no
    answer. An account whose JetStream is disabled gets 10039.
    """
    tokens = subject[_PREFIX_LEN:].split(".")
    req = ApiRequest(js, subject, tokens, reply, hdr, payload, len(handler.prefix))
    audit = getattr(js.account.server, "audit", None)  # the object-store audit trail, None when off
    noted = audit.api_request(js, subject, payload) if audit is not None else None
    try:
        if not js.enabled:
            raise js_error(Err.NOT_ENABLED_FOR_ACCOUNT)
        if hdr and required_level_too_high(hdr, js.service.api_level):
            raise js_error(Err.REQUIRED_API_LEVEL)
        resp = handler.fn(req)
    except JetStreamError as exc:
        js.api_errors += 1
        resp = {"error": exc.to_dict(), **dict(handler.error_fields)}
    except Exception as exc:  # a handler bug must still answer, and must not break the publisher
        log.exception("JetStream API %s failed", subject)
        js.api_errors += 1
        resp = {"error": js_error(Err.STREAM_GENERAL, err=f"internal error: {exc}").to_dict()}
    js.api_total += 1  # counted after the handler, so INFO reports the calls before it
    if noted is not None and audit is not None:
        audit.api_response(noted, resp)
    if resp is None:
        return
    out = encode({"type": handler.response_type, **resp})
    if reply:
        js.account.publish(reply, "", b"", out)
    js.service.advisories.api_audit(js, req, out)  # an audit advisory when someone listens


def subscribe(js: AccountJetStream) -> list[InternalSub]:
    """One internal subscription of ``js``'s account per registered endpoint."""
    subs = []
    for handler in handlers():
        for pattern in handler.patterns():
            subs.append(js.account.subscribe_internal(pattern, _serving(js, handler)))
    return subs


def _serving(js: AccountJetStream, handler: ApiHandler) -> InternalCallback:
    def on_request(subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
        dispatch(js, handler, subject, reply, hdr, payload)

    return on_request


def silence(js: AccountJetStream) -> InternalSub:
    """Take every API request of ``js``'s account and answer none (JetStream shut down)."""

    def ignore(subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
        return None

    return js.account.subscribe_internal(f"{API_PREFIX}>", ignore)

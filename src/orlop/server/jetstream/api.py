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
import json
import logging
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orlop import gojson
from orlop.errors import JetStreamError
from orlop.jsapi.errors import Err, js_error
from orlop.jsapi.schema import Schema, check
from orlop.protocol import headers

if TYPE_CHECKING:
    from orlop.server.jetstream.account_js import AccountJetStream
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


def decode_body(body: bytes, go_type: str = "") -> dict[str, Any]:
    """Decode a request body as nats-server does; raises JetStreamError 10025.

    ``go_type`` names the Go request struct in the "cannot unmarshal" text.
    """
    if not body.strip():
        return {}
    try:
        value = json.loads(go_json_text(body), parse_float=GoNumber)
    except UnicodeDecodeError as exc:
        bad = f"invalid character '\\x{body[exc.start]:02x}' looking for beginning of value"
        raise js_error(Err.INVALID_JSON, err=f"{bad} at offset {exc.start + 1}") from exc
    except ValueError as exc:
        raise js_error(Err.INVALID_JSON, err=_json_error_text(body, exc)) from exc
    except RecursionError as exc:  # absurdly deep nesting: Go reports the outer type
        value = [] if body.lstrip()[:1] == b"[" else None
        if value is None:
            raise js_error(Err.INVALID_JSON, err="exceeded max depth") from exc
    if value is None:
        return {}  # Go decodes a JSON null into an untouched (zero) request
    if not isinstance(value, dict):
        into = f"Go value of type server.{go_type}" if go_type else "Go value"
        raise js_error(Err.INVALID_JSON, err=f"json: cannot unmarshal {_json_kind(value)} into {into}")
    return value


def go_json_text(body: bytes) -> str:
    """The body as text the way Go's decoder sees it.

    Go replaces bytes that are not UTF-8 inside JSON strings with U+FFFD and refuses
    them anywhere else. So: strict UTF-8 first; failing that, the text with
    replacements, kept only when it parses (the stray bytes were all inside
    strings); otherwise the original UnicodeDecodeError (Go's "invalid character").
    """
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as strict:
        text = body.decode("utf-8", "replace")
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            raise strict from None
        return text


class GoNumber(float):
    """A JSON number written with a fraction or exponent; keeps its literal for Go's error text.

    Go's ``encoding/json`` refuses such literals for integer fields (even ``1e3``).
    """

    literal: str

    def __new__(cls, text: str) -> GoNumber:
        obj = super().__new__(cls, text)
        obj.literal = text
        return obj


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    return "number"


def _json_error_text(body: bytes, exc: Exception) -> str:
    """A Go-like ``encoding/json`` error text for an unparsable body."""
    if not isinstance(exc, json.JSONDecodeError):
        return str(exc)
    if exc.pos >= len(exc.doc.rstrip()):
        return "unexpected end of JSON input"
    ch = exc.doc[exc.pos]
    what = "beginning of value"
    if exc.msg.startswith("Expecting property name"):
        what = "beginning of object key string"
    elif exc.msg.startswith("Expecting ':'"):
        what = "':' after object key"
    elif exc.msg.startswith("Expecting ',' delimiter"):
        what = "',' or '}' after object key:value pair"
    return f"invalid character {ch!r} looking for {what} at offset {exc.pos + 1}"


_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def encode(obj: dict[str, Any]) -> bytes:
    """Compact JSON as nats-server writes it (Go escapes ``<``, ``>`` and ``&`` in strings,
    and writes a byte that is not UTF-8 as U+FFFD: :mod:`orlop.gojson`).

    Those three characters never occur outside strings in JSON, so translating the whole
    text is exact.
    """
    text = gojson.dumps(obj)
    if "<" in text or ">" in text or "&" in text:
        text = text.translate(_GO_ESCAPES)
    return text.encode()


REQUIRED_API_LEVEL = "Nats-Required-Api-Level"


def required_level_too_high(hdr: bytes, level: int) -> bool:
    """True when the request demands a higher API level than ``level`` (ADR-44).

    An unparsable level is treated as unmet, as nats-server does.
    """
    wanted = headers.get(hdr, REQUIRED_API_LEVEL)
    if wanted is None:
        return False
    try:
        return int(wanted) > level
    except ValueError:
        return True


def dispatch(
    js: AccountJetStream, handler: ApiHandler, subject: str, reply: str, hdr: bytes, payload: bytes
) -> None:
    """Handle one request for ``handler`` and publish the response to ``reply``.

    Requests without a reply subject are still executed (nats-server does too) but get no
    answer. An account whose JetStream is disabled gets 10039.
    """
    tokens = subject[_PREFIX_LEN:].split(".")
    req = ApiRequest(js, subject, tokens, reply, hdr, payload, len(handler.prefix))
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
    if resp is None:
        return
    body = {"type": handler.response_type, **resp}
    out = encode(body)
    if reply:
        js.account.publish(reply, "", b"", out)
    js.after_api(req, handler, body, out)

"""The JSON of the JetStream API as nats-server reads and writes it (Go's ``encoding/json``).

Request bodies are decoded with Go's rules and error texts (:func:`decode_body`),
responses encoded as Go writes them (:func:`encode`), and ADR-44's
``Nats-Required-Api-Level`` header checked (:func:`required_level_too_high`).
Kept below :mod:`.api` and the stream features, which all speak it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from orlop import gojson
from orlop.jsapi.errors import Err, js_error
from orlop.protocol import headers

__all__ = [
    "REQUIRED_API_LEVEL",
    "GoNumber",
    "decode_body",
    "encode",
    "go_json_text",
    "required_level_too_high",
]


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


_GO_ATOI = re.compile(r"[+-]?[0-9]+")


def required_level_too_high(hdr: bytes, level: int) -> bool:
    """True when the request demands a higher API level than ``level`` (ADR-44).

    An unparsable level is treated as unmet, as nats-server does.
    """
    wanted = headers.get(hdr, REQUIRED_API_LEVEL)
    if not wanted:
        return False  # an empty value is no demand
    if not _GO_ATOI.fullmatch(wanted):
        return True  # Go's strconv.Atoi: an optional sign and digits, nothing else
    return int(wanted) > level

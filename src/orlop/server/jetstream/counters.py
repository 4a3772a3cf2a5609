"""Message counters (ADR-49): a stream where every message adds ``Nats-Incr`` to its subject's total.

On an ``allow_msg_counter`` stream a publish carries no payload, only ``Nats-Incr: <big
integer>``. The server loads the last message of the subject, adds the increment, and stores a
*new* message whose body is ``{"val":"<total>"}`` (older messages stay, so the history can be
recounted); the PubAck carries the total as ``"val"``. Totals are arbitrary-precision (Go's
``big.Int``, Python's ``int``), written as decimal strings.

Orlop handles publishes on one event loop thread, so load-last + store runs without an await
in between and concurrent incrementers always add up exactly.

Orlop has no stream sources, so a ``Nats-Counter-Sources`` header (which nats-server keeps on a
sourced counter) is only carried forward from the subject's previous message, which keeps it
intact in data restored from a nats-server backup.
"""

from __future__ import annotations

import json
import re

from orlop.jsapi.errors import Err, js_error
from orlop.protocol import headers

__all__ = [
    "INCOMPATIBLE",
    "INCR",
    "SOURCES",
    "carry_sources",
    "check_increment",
    "parse_increment",
    "total_after",
    "total_of",
]

INCR = "Nats-Incr"
SOURCES = "Nats-Counter-Sources"
INCOMPATIBLE = (
    "Nats-Rollup",
    "Nats-Expected-Stream",
    "Nats-Expected-Last-Msg-Id",
    "Nats-Expected-Last-Subject-Sequence-Subject",
    "Nats-Expected-Last-Sequence",
    "Nats-Expected-Last-Subject-Sequence",
)
"""Headers a counter message may not carry: a counter is never conditional nor a rollup."""

_BIG_INT = re.compile(r"[+-]?[0-9]+")  # Go's big.Int.SetString(s, 10): no spaces, no underscores


def parse_increment(value: str) -> int | None:
    """The increment, or None when Go's ``SetString(value, 10)`` would refuse it."""
    if not _BIG_INT.fullmatch(value):
        return None
    return int(value)


def check_increment(hdr: bytes, payload: bytes, counters: bool) -> int | None:
    """The early checks of a publish that carries ``Nats-Incr`` (nats-server's order).

    Returns the increment (None when the header is absent or empty: a counter stream then
    refuses the message later with 10169, after the other header checks). Raises 10171 for an
    unparsable value, 10168 on a stream without counters, 10170 for a payload and 10171 for a
    header that makes no sense on a counter.
    """
    value = headers.get(hdr, INCR)
    if not value:
        return None
    incr = parse_increment(value)
    if incr is None:
        raise js_error(Err.MESSAGE_INCR_INVALID)
    if not counters:
        raise js_error(Err.MESSAGE_INCR_DISABLED)
    if payload:
        raise js_error(Err.MESSAGE_INCR_PAYLOAD)
    for key in INCOMPATIBLE:
        if key.encode() in hdr and headers.get(hdr, key) is not None:
            raise js_error(Err.MESSAGE_INCR_INVALID)
    return incr


def total_of(data: bytes) -> int:
    """The total a counter message holds; 10172 when it is not ``{"val":"<integer>"}``."""
    try:
        body = json.loads(data)
        val = body["val"] if isinstance(body, dict) else None
        total = parse_increment(val) if isinstance(val, str) else None
    except (ValueError, KeyError):
        total = None
    if total is None:
        raise js_error(Err.MESSAGE_COUNTER_BROKEN)
    return total


def total_after(previous: bytes | None, incr: int) -> tuple[bytes, str]:
    """The new message body and total string, given the subject's last body (None: no message)."""
    total = (total_of(previous) if previous is not None else 0) + incr
    text = str(total)
    return b'{"val":"' + text.encode() + b'"}', text


def carry_sources(hdr: bytes, previous_hdr: bytes | None) -> bytes:
    """``hdr`` with the previous message's ``Nats-Counter-Sources`` appended, if it had one."""
    if not previous_hdr or SOURCES.encode() not in previous_hdr or headers.get(hdr, SOURCES) is not None:
        return hdr
    value = headers.get(previous_hdr, SOURCES)
    if not value:
        return hdr
    return headers.append(hdr or b"NATS/1.0\r\n\r\n", [(SOURCES, value)])

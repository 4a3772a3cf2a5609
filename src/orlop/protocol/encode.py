"""Ops to bytes, for both roles.

Why this shape: the server calls :func:`msg` once per delivery, so it is written as one
``str`` format of the control line, one ``encode`` and one ``bytes.join``/concatenation,
with no intermediate objects and no validation (subjects and sids come from the parser or
from the server itself and are already valid). Everything else is called rarely and favours
clarity. Strings holding invalid UTF-8 from a peer (surrogate escapes, see the parser) are
written back byte for byte.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["OK", "PING", "PONG", "connect", "err", "hpub", "info", "msg", "pub", "sub", "unsub", "wire_bytes"]

PING = b"PING\r\n"
PONG = b"PONG\r\n"
OK = b"+OK\r\n"


def wire_bytes(text: str) -> bytes:
    """``text`` as the bytes that came off the wire.

    The parsers decode subjects, sids and replies as UTF-8 with ``surrogateescape``
    (nats-server takes any bytes there), so bytes that are not UTF-8 survive as
    surrogates and come back unchanged here. Plain UTF-8 text takes the fast path.
    """
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def info(value: dict[str, Any]) -> bytes:
    """``INFO {json}\\r\\n`` with compact JSON."""
    return b"INFO " + _json(value) + b"\r\n"


def connect(options: dict[str, Any]) -> bytes:
    """``CONNECT {json}\\r\\n`` with compact JSON."""
    return b"CONNECT " + _json(options) + b"\r\n"


def err(text: str) -> bytes:
    """``-ERR '<text>'\\r\\n``."""
    return b"-ERR '" + wire_bytes(text) + b"'\r\n"


def msg(subject: str, sid: str, reply: str, hdr: bytes, payload: bytes) -> bytes:
    """One delivery: ``MSG`` when ``hdr`` is empty, else ``HMSG`` (``#total`` = hdr + payload).

    ``reply == ""`` means no reply subject. One ``bytes`` format per call: the payload is
    copied once, and there are no intermediate strings.
    """
    try:
        s, i = subject.encode(), sid.encode()
        r = reply.encode() if reply else b""
    except UnicodeEncodeError:
        s, i, r = wire_bytes(subject), wire_bytes(sid), wire_bytes(reply)
    if hdr:
        hlen = len(hdr)
        if r:
            return b"HMSG %b %b %b %d %d\r\n%b%b\r\n" % (s, i, r, hlen, hlen + len(payload), hdr, payload)
        return b"HMSG %b %b %d %d\r\n%b%b\r\n" % (s, i, hlen, hlen + len(payload), hdr, payload)
    if r:
        return b"MSG %b %b %b %d\r\n%b\r\n" % (s, i, r, len(payload), payload)
    return b"MSG %b %b %d\r\n%b\r\n" % (s, i, len(payload), payload)


def pub(subject: str, reply: str, hdr: bytes, payload: bytes) -> bytes:
    """``PUB`` when ``hdr`` is empty, else ``HPUB``. ``reply == ""`` means none."""
    if hdr:
        return hpub(subject, reply, hdr, payload)
    line = f"PUB {subject} {reply} {len(payload)}\r\n" if reply else f"PUB {subject} {len(payload)}\r\n"
    return b"".join((wire_bytes(line), payload, b"\r\n"))


def hpub(subject: str, reply: str, hdr: bytes, payload: bytes) -> bytes:
    """``HPUB`` always, even with an empty ``hdr`` (``#hdr`` 0, as nats.js sends)."""
    hlen = len(hdr)
    if reply:
        line = f"HPUB {subject} {reply} {hlen} {hlen + len(payload)}\r\n"
    else:
        line = f"HPUB {subject} {hlen} {hlen + len(payload)}\r\n"
    return b"".join((wire_bytes(line), hdr, payload, b"\r\n"))


def sub(subject: str, queue: str, sid: str) -> bytes:
    """``SUB <subject> [queue] <sid>\\r\\n``; ``queue == ""`` means none."""
    if queue:
        return wire_bytes(f"SUB {subject} {queue} {sid}\r\n")
    return wire_bytes(f"SUB {subject} {sid}\r\n")


def unsub(sid: str, max_msgs: int = 0) -> bytes:
    """``UNSUB <sid> [max_msgs]\\r\\n``; ``max_msgs == 0`` means none."""
    if max_msgs:
        return wire_bytes(f"UNSUB {sid} {max_msgs}\r\n")
    return wire_bytes(f"UNSUB {sid}\r\n")

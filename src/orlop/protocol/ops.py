"""The protocol operations, as small slotted classes.

Why this shape: the server's hot loop dispatches every parsed op with ``type(op) is Pub``
checks and reads a handful of attributes, thousands of times per socket read. Plain classes
with ``__slots__`` and positional ``__init__`` are the cheapest Python objects that still have
names; there is no inheritance to walk, no validation (the parser validates bytes before it
builds an op) and no dataclass machinery. Ops compare equal by type and fields so tests can
assert on whole op lists.

Client -> server ops (parsed by :class:`orlop.protocol.ServerParser`): :class:`Connect`,
:class:`Pub` (PUB and HPUB), :class:`Sub`, :class:`Unsub`, :class:`Ping`, :class:`Pong`.
Server -> client ops (parsed by :class:`orlop.protocol.ClientParser`): :class:`Info`,
:class:`Msg` (MSG and HMSG), :class:`Ok`, :class:`Err`, :class:`Ping`, :class:`Pong`.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["Connect", "Err", "Info", "Msg", "Ok", "Op", "Ping", "Pong", "Pub", "Sub", "Unsub"]


class _Op:
    """Shared equality and repr over ``__slots__``; no state of its own."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self._fields)

    def __hash__(self) -> int:
        return hash((type(self).__name__, *(repr(getattr(self, k)) for k in self._fields)))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields)
        return f"{type(self).__name__}({fields})"


class Connect(_Op):
    """``CONNECT {json}``: ``options`` is the decoded JSON object."""

    __slots__ = ("options",)
    _fields = ("options",)

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options


class Info(_Op):
    """``INFO {json}``: ``info`` is the decoded JSON object."""

    __slots__ = ("info",)
    _fields = ("info",)

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info


class Pub(_Op):
    """``PUB``/``HPUB``. ``reply == ""`` when absent, ``hdr == b""`` when absent or zero-length."""

    __slots__ = ("hdr", "payload", "reply", "subject")
    _fields = ("subject", "reply", "hdr", "payload")

    def __init__(self, subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
        self.subject = subject
        self.reply = reply
        self.hdr = hdr
        self.payload = payload


class Msg(_Op):
    """``MSG``/``HMSG``. ``reply == ""`` when absent, ``hdr == b""`` for MSG."""

    __slots__ = ("hdr", "payload", "reply", "sid", "subject")
    _fields = ("subject", "sid", "reply", "hdr", "payload")

    def __init__(self, subject: str, sid: str, reply: str, hdr: bytes, payload: bytes) -> None:
        self.subject = subject
        self.sid = sid
        self.reply = reply
        self.hdr = hdr
        self.payload = payload


class Sub(_Op):
    """``SUB <subject> [queue] <sid>``; ``queue == ""`` when absent."""

    __slots__ = ("queue", "sid", "subject")
    _fields = ("subject", "queue", "sid")

    def __init__(self, subject: str, queue: str, sid: str) -> None:
        self.subject = subject
        self.queue = queue
        self.sid = sid


class Unsub(_Op):
    """``UNSUB <sid> [max_msgs]``; ``max_msgs == 0`` when absent."""

    __slots__ = ("max_msgs", "sid")
    _fields = ("sid", "max_msgs")

    def __init__(self, sid: str, max_msgs: int) -> None:
        self.sid = sid
        self.max_msgs = max_msgs


class Err(_Op):
    """``-ERR '<text>'``: ``text`` without the quotes."""

    __slots__ = ("text",)
    _fields = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class Ping(_Op):
    """``PING``."""

    __slots__ = ()


class Pong(_Op):
    """``PONG``."""

    __slots__ = ()


class Ok(_Op):
    """``+OK``."""

    __slots__ = ()


Op = Connect | Info | Pub | Msg | Sub | Unsub | Err | Ping | Pong | Ok
"""Every op either parser can return."""

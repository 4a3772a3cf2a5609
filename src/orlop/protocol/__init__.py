"""The NATS client protocol as a sans-IO codec (the h11 model).

Bytes go in through :meth:`ServerParser.feed` (what clients send) or
:meth:`ClientParser.feed` (what servers send) and come out as the op classes of
:mod:`orlop.protocol.ops`; :mod:`orlop.protocol.encode` turns ops back into bytes and
:mod:`orlop.protocol.headers` reads and writes NATS/1.0 header blocks. Nothing here imports
asyncio, sockets or threads, so every rule can be tested by feeding bytes. Violations raise
:class:`orlop.errors.ProtocolError` carrying nats-server's ``-ERR`` text.
"""

from __future__ import annotations

from orlop.protocol import encode, headers, ops
from orlop.protocol.ops import Connect, Err, Info, Msg, Ok, Op, Ping, Pong, Pub, Sub, Unsub
from orlop.protocol.parser import (
    DEFAULT_MAX_CONTROL_LINE,
    DEFAULT_MAX_PAYLOAD,
    ERR_MAX_CONTROL_LINE,
    ERR_MAX_PAYLOAD,
    ERR_PARSER,
    ERR_UNKNOWN_OP,
    ClientParser,
    ServerParser,
)

__all__ = [
    "DEFAULT_MAX_CONTROL_LINE",
    "DEFAULT_MAX_PAYLOAD",
    "ERR_MAX_CONTROL_LINE",
    "ERR_MAX_PAYLOAD",
    "ERR_PARSER",
    "ERR_UNKNOWN_OP",
    "ClientParser",
    "Connect",
    "Err",
    "Info",
    "Msg",
    "Ok",
    "Op",
    "Ping",
    "Pong",
    "Pub",
    "ServerParser",
    "Sub",
    "Unsub",
    "encode",
    "headers",
    "ops",
]

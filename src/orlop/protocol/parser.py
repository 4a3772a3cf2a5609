"""Incremental parsers for the NATS client protocol, one per role.

Why this shape: the server feeds whole socket reads (64-256 KiB, often thousands of small
``PUB`` frames) and handles every complete op before it awaits anything, so ``feed()`` is
the hottest code in Orlop. It therefore works on one immutable ``bytes`` buffer per call,
finds line ends with ``bytes.find``, splits arguments with ``bytes.split`` (C loops, no
regex, no per-byte Python), tracks an integer offset instead of re-slicing the buffer, and
slices each payload exactly once. The frequent op of each role (``PUB`` for the server,
``MSG`` for the client) is parsed inline in the loop; the rest go through a shared, slower,
fully general path that also handles mixed-case op names, tabs and odd spacing.

Unfinished input is kept between calls: a partial control line is kept as one ``bytes``;
a frame whose control line is complete but whose payload is not is kept as a list of
chunks (the first a memoryview into the read where the frame started) plus the byte count
it needs. When the last chunk arrives, header and payload are copied once out of the
chunks, so a 1 MiB payload arriving in 64 KiB reads is copied once, not on every read, and
parsing goes on inside that last chunk without copying it. A control line is limited to
``max_control_line`` bytes of arguments even before its line end arrives, so the buffer
never grows beyond ``max_control_line + max_payload`` plus a few bytes.

Error texts follow nats-server (``server/parser.go`` ``parse``, ``server/client.go``
``processPub``/``processHeaderPub``/``processSub``/``processUnsub``/``processConnect``/
``overMaxControlLineLimit``/``maxPayloadViolation``), checked against nats-server 2.15.1:

* unknown op, op name not followed by a space or tab, empty line, leading whitespace,
  payload not followed by CRLF -> ``Unknown Protocol Operation`` (``parse``, label ``parseErr``);
* arguments longer than the limit -> ``maximum control line exceeded`` (lower case: that is
  what 2.15.1 sends, ``overMaxControlLineLimit`` sends ``ErrMaxControlLine.Error()``);
* ``#total``/``#payload`` above max_payload -> ``Maximum Payload Violation``;
* wrong argument count, non-numeric, signed or over-long (> 9 digits, ``parseSize``) sizes,
  ``#hdr > #total``, a CONNECT that is not a JSON object, and ``-ERR`` sent by a client:
  the ``process*`` functions return a Go error and ``readLoop`` closes the connection
  *without* sending ``-ERR``. There is no nats-server text for these; Orlop reports them as
  ``Parser Error`` (the contract's name for this case).

Every error is a :class:`orlop.errors.ProtocolError` with ``fatal=True`` (nats-server closes
the connection on every parse error). After one, the parser is unusable: further ``feed``
calls raise the same error. Ops that were complete before the violation in the failing
call are kept in :attr:`BaseParser.partial`, since nats-server processes them before it
closes the connection.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from orlop.errors import ProtocolError
from orlop.protocol.ops import Connect, Err, Info, Msg, Ok, Op, Ping, Pong, Pub, Sub, Unsub

__all__ = [
    "DEFAULT_MAX_CONTROL_LINE",
    "DEFAULT_MAX_PAYLOAD",
    "ERR_MAX_CONTROL_LINE",
    "ERR_MAX_PAYLOAD",
    "ERR_PARSER",
    "ERR_UNKNOWN_OP",
    "BaseParser",
    "ClientParser",
    "ServerParser",
]

DEFAULT_MAX_PAYLOAD = 1048576  # nats-server const.go MAX_PAYLOAD_SIZE
DEFAULT_MAX_CONTROL_LINE = 4096  # nats-server const.go MAX_CONTROL_LINE_SIZE
_CLIENT_MAX_CONTROL_LINE = 1 << 20  # INFO can carry long connect_urls lists; clients set no limit
_CLIENT_MAX_PAYLOAD = 64 << 20  # the largest max_payload nats-server accepts (MAX_PAYLOAD_MAX_SIZE)

ERR_UNKNOWN_OP = "Unknown Protocol Operation"
ERR_MAX_CONTROL_LINE = "maximum control line exceeded"
ERR_MAX_PAYLOAD = "Maximum Payload Violation"
ERR_PARSER = "Parser Error"

_PING = Ping()
_PONG = Pong()
_OK = Ok()
_SEPARATORS = (b" ", b"\t")
_MAX_SIZE_DIGITS = 9  # nats-server parser.go maxParseSizeLen ("999M")


def _text(raw: bytes) -> str:
    """Decode a subject/sid/reply token; invalid UTF-8 survives as surrogate escapes."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("utf-8", "surrogateescape")


def _size(raw: bytes) -> int:
    """nats-server ``parseSize``: 1-9 ASCII digits, else -1."""
    if raw.isdigit() and len(raw) <= _MAX_SIZE_DIGITS:
        return int(raw)
    return -1


def _unknown() -> ProtocolError:
    return ProtocolError(ERR_UNKNOWN_OP, fatal=True)


def _bad_args() -> ProtocolError:
    return ProtocolError(ERR_PARSER, fatal=True)


def _split_op(line: bytes) -> tuple[bytes, bytes, bytes]:
    """Split a control line into (upper-case op name, separator byte, argument bytes).

    Raises ``Unknown Protocol Operation`` for an empty line or leading whitespace
    (nats-server's state machine accepts only op letters in state OP_START).
    """
    if not line or line[:1].isspace():
        raise _unknown()
    parts = line.split(None, 1)
    name = parts[0]
    sep = line[len(name) : len(name) + 1]
    args = parts[1].rstrip(b"\r") if len(parts) > 1 else b""
    return name.upper(), sep, args


class BaseParser:
    """Buffering, limits and error state shared by both roles.

    Subclasses implement :meth:`_parse`, which consumes complete ops from ``buf`` starting
    at offset ``pos`` and returns the offset where unfinished input starts, after calling
    :meth:`_wait` when that input is a frame whose control line is complete.
    """

    __slots__ = (
        "_body",
        "_build",
        "_error",
        "_have",
        "_hdr_len",
        "_max_control_line",
        "_max_payload",
        "_need",
        "_parts",
        "_rest",
        "partial",
    )

    def __init__(self, *, max_payload: int, max_control_line: int) -> None:
        if not 0 <= max_payload < 10**_MAX_SIZE_DIGITS or max_control_line <= 0:
            raise ValueError("max_payload must be in 0..999999999 and max_control_line > 0")
        self._max_payload = max_payload
        self._max_control_line = max_control_line
        self._rest = b""
        self._error: ProtocolError | None = None
        self.partial: list[Op] = []
        self._reset_wait()

    @property
    def max_payload(self) -> int:
        """The largest payload (``#total`` with headers) accepted; an account may lower it."""
        return self._max_payload

    @max_payload.setter
    def max_payload(self, value: int) -> None:
        self._max_payload = value

    def _reset_wait(self) -> None:
        self._parts: list[bytes | memoryview] = []
        self._need = 0  # bytes the waiting frame needs, counted from the start of _parts[0]
        self._have = 0
        self._body = 0  # offset of the frame's header/payload bytes in the same count
        self._hdr_len = 0
        self._build: Callable[[bytes, bytes], Op] = partial(Pub, "", "")

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as ops."""
        return self._have if self._need else len(self._rest)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Op]:
        """Consume ``data``; return every op completed by it, in order.

        Raises :class:`~orlop.errors.ProtocolError` on a violation (see the module docstring);
        ``partial`` then holds the ops completed before it in this call.
        """
        if self._error is not None:
            raise self._error
        if type(data) is not bytes:
            data = bytes(data)
        out: list[Op] = []
        try:
            pos = 0
            if self._need:
                self._parts.append(data)
                self._have += len(data)
                if self._have < self._need:
                    if self._have == self._need - 1:
                        self._check_cr()
                    return out
                buf, pos = self._complete(out)
            elif self._rest:
                buf = self._rest + data
                self._rest = b""
            else:
                buf = data
            pos = self._parse(buf, pos, out)
            if not self._need and pos < len(buf):
                self._keep_line(buf, pos)
        except ProtocolError as exc:
            self._error = exc
            self.partial = out
            self._rest = b""
            self._reset_wait()
            raise
        return out

    def _parse(self, buf: bytes, pos: int, out: list[Op]) -> int:
        raise TypeError("BaseParser is abstract")  # pragma: no cover

    def _wait(
        self,
        buf: bytes,
        pos: int,
        body: int,
        hdr_len: int,
        need: int,
        build: Callable[[bytes, bytes], Op],
    ) -> None:
        """Keep the frame at ``buf[pos:]``: its bytes start ``body`` bytes in, it is complete
        once ``need`` bytes are there, and ``build(hdr, payload)`` makes its op.

        A memoryview avoids copying the partial payload; it pins at most one read.
        """
        self._parts = [memoryview(buf)[pos:] if pos else buf]
        self._have = len(buf) - pos
        self._need = need
        self._body = body
        self._hdr_len = hdr_len
        self._build = build

    def _take(self, start: int, stop: int) -> bytes:
        """Bytes ``start:stop`` of the waiting input, copied once."""
        views: list[bytes | memoryview] = []
        offset = 0
        for part in self._parts:
            end = offset + len(part)
            if end > start and offset < stop:
                lo, hi = max(start - offset, 0), min(stop - offset, len(part))
                views.append(part if lo == 0 and hi == len(part) else part[lo:hi])
            offset = end
            if offset >= stop:
                break
        if len(views) == 1 and type(views[0]) is bytes:
            return views[0]
        return b"".join(views)

    def _check_cr(self) -> None:
        """With one byte missing, refuse a frame whose payload is not followed by CR already."""
        if self._take(self._need - 2, self._need - 1) != b"\r":
            raise _unknown()

    def _complete(self, out: list[Op]) -> tuple[bytes, int]:
        """Append the waiting frame's op; return where the input after it is."""
        stop = self._need - 2
        if self._take(stop, stop + 2) != b"\r\n":
            raise _unknown()
        split = self._body + self._hdr_len
        hdr = self._take(self._body, split) if self._hdr_len else b""
        payload = self._take(split, stop)
        out.append(self._build(hdr, payload))
        last = self._parts[-1]
        after = self._need - (self._have - len(last))  # offset of the rest inside the last part
        if after >= 0 and type(last) is bytes:
            rest, pos = last, after
        else:
            rest, pos = self._take(self._need, self._have), 0
        self._reset_wait()
        return rest, pos

    def _keep_line(self, buf: bytes, pos: int) -> None:
        """Keep an unfinished control line, refusing one already over the limit."""
        rest = buf[pos:] if pos else buf
        if len(rest) > self._max_control_line:
            self._check_line(rest)
        self._rest = rest

    def _check_line(self, line: bytes) -> None:
        """Raise if the arguments of ``line`` (no line end yet, or a complete line) are too long.

        Only called when the whole line exceeds the limit, so the common case costs one
        integer comparison in the hot loop.
        """
        name, _, args = _split_op(line.rstrip(b"\r\n"))
        if name not in self._ARG_OPS:
            raise _unknown()
        if len(args) > self._max_control_line:
            raise ProtocolError(ERR_MAX_CONTROL_LINE, fatal=True)

    _ARG_OPS: frozenset[bytes] = frozenset()


class ServerParser(BaseParser):
    """Parses what clients send: CONNECT, PUB, HPUB, SUB, UNSUB, PING, PONG.

    ``+OK`` and ``INFO`` from a client are consumed and ignored, as nats-server does.
    ``max_payload`` bounds ``#payload`` of PUB and ``#total`` of HPUB;
    ``max_control_line`` bounds the argument bytes of every control line.
    """

    __slots__ = ()
    _ARG_OPS = frozenset((b"PUB", b"HPUB", b"SUB", b"UNSUB", b"CONNECT", b"INFO", b"-ERR"))

    def __init__(
        self, max_payload: int = DEFAULT_MAX_PAYLOAD, max_control_line: int = DEFAULT_MAX_CONTROL_LINE
    ) -> None:
        super().__init__(max_payload=max_payload, max_control_line=max_control_line)

    def _parse(self, buf: bytes, pos: int, out: list[Op]) -> int:
        # The hot loop, one iteration per op. A PUB whose frame is complete and valid is
        # built inline; anything else (other ops, errors, a frame cut by the end of the
        # buffer, non-UTF-8 subjects) goes to _general, which re-reads the line slowly.
        append = out.append
        find = buf.find
        startswith = buf.startswith
        n = len(buf)
        mcl = self._max_control_line
        maxp = self._max_payload
        while pos < n:
            end = find(b"\n", pos)
            if end < 0:
                return pos
            if end - pos > mcl:
                self._check_line(buf[pos:end])
            if startswith(b"PUB ", pos):
                args = buf[pos + 4 : end].split()
                nargs = len(args)
                if (nargs == 2 or nargs == 3) and args[-1].isdigit() and len(args[-1]) <= _MAX_SIZE_DIGITS:
                    size = int(args[-1])
                    stop = end + 1 + size
                    if size <= maxp and stop + 2 <= n and buf[stop] == 13 and buf[stop + 1] == 10:
                        try:
                            reply = args[1].decode() if nargs == 3 else ""
                            append(Pub(args[0].decode(), reply, b"", buf[end + 1 : stop]))
                            pos = stop + 2
                            continue
                        except UnicodeDecodeError:
                            pass
            pos = self._general(buf, pos, end, out)
            if pos < 0:
                return -pos - 1
        return pos

    def _general(self, buf: bytes, pos: int, end: int, out: list[Op]) -> int:
        """Parse the op whose control line is ``buf[pos:end]``.

        Returns the offset after the op, or ``-pos - 1`` when its payload is incomplete.
        """
        line = buf[pos:end]
        head = line[:4].upper()
        if head == b"PING":  # nats-server ignores anything up to the line end after PING/PONG/+OK
            out.append(_PING)
            return end + 1
        if head == b"PONG":
            out.append(_PONG)
            return end + 1
        if head[:3] == b"+OK":
            return end + 1
        name, sep, args = _split_op(line)
        if sep not in _SEPARATORS and name != b"CONNECT":
            raise _unknown()
        if name == b"PUB" or name == b"HPUB":
            return self._pub(buf, pos, end, args, name == b"HPUB", out)
        if name == b"SUB":
            out.append(_sub(args))
        elif name == b"UNSUB":
            out.append(_unsub(args))
        elif name == b"CONNECT":
            out.append(Connect(_json_object(args)))
        elif name == b"INFO":
            pass
        elif name == b"-ERR":
            raise _bad_args()  # processErr: nats-server closes a client that sends -ERR
        else:
            raise _unknown()
        return end + 1

    def _pub(self, buf: bytes, pos: int, end: int, line: bytes, headers: bool, out: list[Op]) -> int:
        """PUB/HPUB arguments and payload (``processPub``/``processHeaderPub``)."""
        args = line.split()
        if len(args) not in (2 + headers, 3 + headers):
            raise _bad_args()
        subject = _text(args[0])
        reply = _text(args[1]) if len(args) == 3 + headers else ""
        total = _size(args[-1])
        hdr_len = _size(args[-2]) if headers else 0
        if total < 0 or hdr_len < 0 or hdr_len > total:
            raise _bad_args()
        if total > self._max_payload:
            raise ProtocolError(ERR_MAX_PAYLOAD, fatal=True)
        start = end + 1
        stop = start + total
        if stop + 2 > len(buf):
            if stop < len(buf) and buf[stop] != 13:
                raise _unknown()
            self._wait(buf, pos, start - pos, hdr_len, stop + 2 - pos, partial(Pub, subject, reply))
            return -pos - 1
        if buf[stop : stop + 2] != b"\r\n":
            raise _unknown()
        split = start + hdr_len
        out.append(Pub(subject, reply, buf[start:split] if hdr_len else b"", buf[split:stop]))
        return stop + 2


class ClientParser(BaseParser):
    """Parses what servers send: INFO, MSG, HMSG, +OK, -ERR, PING, PONG.

    The defaults are generous (1 MiB control lines for long INFO ``connect_urls``, 64 MiB
    payloads), since a client trusts its server; both still bound the buffer.
    """

    __slots__ = ()
    _ARG_OPS = frozenset((b"MSG", b"HMSG", b"INFO", b"-ERR"))

    def __init__(
        self, max_payload: int = _CLIENT_MAX_PAYLOAD, max_control_line: int = _CLIENT_MAX_CONTROL_LINE
    ) -> None:
        super().__init__(max_payload=max_payload, max_control_line=max_control_line)

    def _parse(self, buf: bytes, pos: int, out: list[Op]) -> int:
        # Mirror of ServerParser._parse with MSG as the inline op.
        append = out.append
        find = buf.find
        startswith = buf.startswith
        n = len(buf)
        mcl = self._max_control_line
        maxp = self._max_payload
        while pos < n:
            end = find(b"\n", pos)
            if end < 0:
                return pos
            if end - pos > mcl:
                self._check_line(buf[pos:end])
            if startswith(b"MSG ", pos):
                args = buf[pos + 4 : end].split()
                nargs = len(args)
                if (nargs == 3 or nargs == 4) and args[-1].isdigit() and len(args[-1]) <= _MAX_SIZE_DIGITS:
                    size = int(args[-1])
                    stop = end + 1 + size
                    if size <= maxp and stop + 2 <= n and buf[stop] == 13 and buf[stop + 1] == 10:
                        try:
                            reply = args[2].decode() if nargs == 4 else ""
                            append(Msg(args[0].decode(), args[1].decode(), reply, b"", buf[end + 1 : stop]))
                            pos = stop + 2
                            continue
                        except UnicodeDecodeError:
                            pass
            pos = self._general(buf, pos, end, out)
            if pos < 0:
                return -pos - 1
        return pos

    def _general(self, buf: bytes, pos: int, end: int, out: list[Op]) -> int:
        """Parse the op whose control line is ``buf[pos:end]`` (see ServerParser._general)."""
        line = buf[pos:end]
        head = line[:4].upper()
        if head == b"PING":
            out.append(_PING)
            return end + 1
        if head == b"PONG":
            out.append(_PONG)
            return end + 1
        if head[:3] == b"+OK":
            out.append(_OK)
            return end + 1
        name, sep, args = _split_op(line)
        if sep not in _SEPARATORS:
            raise _unknown()
        if name == b"MSG" or name == b"HMSG":
            return self._msg(buf, pos, end, args, name == b"HMSG", out)
        if name == b"INFO":
            out.append(Info(_json_object(args)))
        elif name == b"-ERR":
            out.append(Err(_err_text(args)))
        else:
            raise _unknown()
        return end + 1

    def _msg(self, buf: bytes, pos: int, end: int, line: bytes, headers: bool, out: list[Op]) -> int:
        """MSG/HMSG arguments and payload."""
        args = line.split()
        if len(args) not in (3 + headers, 4 + headers):
            raise _bad_args()
        subject = _text(args[0])
        sid = _text(args[1])
        reply = _text(args[2]) if len(args) == 4 + headers else ""
        total = _size(args[-1])
        hdr_len = _size(args[-2]) if headers else 0
        if total < 0 or hdr_len < 0 or hdr_len > total:
            raise _bad_args()
        if total > self._max_payload:
            raise ProtocolError(ERR_MAX_PAYLOAD, fatal=True)
        start = end + 1
        stop = start + total
        if stop + 2 > len(buf):
            if stop < len(buf) and buf[stop] != 13:
                raise _unknown()
            self._wait(buf, pos, start - pos, hdr_len, stop + 2 - pos, partial(Msg, subject, sid, reply))
            return -pos - 1
        if buf[stop : stop + 2] != b"\r\n":
            raise _unknown()
        split = start + hdr_len
        out.append(Msg(subject, sid, reply, buf[start:split] if hdr_len else b"", buf[split:stop]))
        return stop + 2


def _sub(line: bytes) -> Sub:
    """``processSub``: 2 or 3 arguments, else a silent close."""
    args = line.split()
    if len(args) == 2:
        return Sub(_text(args[0]), "", _text(args[1]))
    if len(args) == 3:
        return Sub(_text(args[0]), _text(args[1]), _text(args[2]))
    raise _bad_args()


def _unsub(line: bytes) -> Unsub:
    """``processUnsub``: 1 or 2 arguments; an unparsable max counts as none (parseSize -> -1)."""
    args = line.split()
    if len(args) == 1:
        return Unsub(_text(args[0]), 0)
    if len(args) == 2:
        return Unsub(_text(args[0]), max(_size(args[1]), 0))
    raise _bad_args()


def _json_object(raw: bytes) -> dict[str, Any]:
    """CONNECT/INFO argument: a JSON object, else ``Parser Error`` (``processConnect``)."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise _bad_args() from None
    if not isinstance(value, dict):
        raise _bad_args()
    return value


def _err_text(raw: bytes) -> str:
    """``-ERR 'text'`` argument without its quotes."""
    text = raw.strip().decode("utf-8", "replace")
    if len(text) >= 2 and text[0] == text[-1] == "'":
        text = text[1:-1]
    return text

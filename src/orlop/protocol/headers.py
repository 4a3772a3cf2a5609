"""NATS/1.0 header blocks: parse, build, and edit without a round trip.

Why this shape: header blocks travel through the server as opaque ``bytes`` (stored and
delivered verbatim), and the server only needs a few keys out of them (``Nats-Msg-Id``,
``Nats-Expected-*``, ``Nats-Rollup``, ``Nats-TTL``). So :func:`get` finds one key with
``bytes.find`` on the raw block, and :func:`append`/:func:`remove` edit lines in place;
:func:`parse` builds a :class:`Headers` only when something needs the whole block.

Block format (ADR-4): ``NATS/1.0[ <3-digit status>[ <description>]]\\r\\n``, then
``Key: value\\r\\n`` lines (keys case-preserving, may repeat), then ``\\r\\n``. A key is the
bytes before the first ``:`` of a line; the value is the rest, stripped of surrounding
spaces and tabs. Lookups try the exact-case key first, then any case (NATS clients
canonicalise keys differently: Go MIME-case, nats.py as given).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["VERSION_LINE", "Headers", "append", "build", "get", "parse", "remove"]

VERSION_LINE = b"NATS/1.0"
_CRLF = b"\r\n"
_WS = " \t"


def _text(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("utf-8", "surrogateescape")


def _bytes(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


class Headers:
    """A parsed header block: ``status``/``description`` from the first line, then pairs."""

    __slots__ = ("_pairs", "description", "status")

    def __init__(
        self, pairs: list[tuple[str, str]], status: int | None = None, description: str = ""
    ) -> None:
        self._pairs = pairs
        self.status = status
        self.description = description

    def get(self, key: str) -> str | None:
        """Last value of ``key`` (exact case first, then any case), or None."""
        values = self.get_all(key)
        return values[-1] if values else None

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key`` in order (exact-case matches if any, else any case)."""
        exact = [v for k, v in self._pairs if k == key]
        if exact:
            return exact
        folded = key.lower()
        return [v for k, v in self._pairs if k.lower() == folded]

    def items(self) -> list[tuple[str, str]]:
        """Every (key, value) pair in block order, repeats included."""
        return list(self._pairs)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(self.get_all(key))

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return (self.status, self.description, self._pairs) == (other.status, other.description, other._pairs)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._pairs!r}, status={self.status!r}, description={self.description!r})"


def parse(block: bytes) -> Headers:
    """Parse a header block; an empty block gives empty headers with no status.

    Lenient like the NATS clients: the first line is the version line whatever it says
    (a status is read only from ``NATS/1.0 <3 digits>``), lines without ``:`` are skipped,
    and a missing final blank line is tolerated. Never raises on any input.
    """
    if not block:
        return Headers([])
    lines = block.split(_CRLF)
    status, description = _status(lines[0])
    pairs: list[tuple[str, str]] = []
    for line in lines[1:]:
        key, colon, value = line.partition(b":")
        if colon and key:
            pairs.append((_text(key), _text(value).strip(_WS)))
    return Headers(pairs, status, description)


def _status(first: bytes) -> tuple[int | None, str]:
    """Status code and description of a version line (nats.py/nats.go rules: exactly 3 chars)."""
    if not first.startswith(VERSION_LINE + b" "):
        return None, ""
    rest = first[len(VERSION_LINE) + 1 :].lstrip(b" ")
    code = rest[:3]
    if len(code) != 3 or not code.isdigit() or rest[3:4] not in (b"", b" "):
        return None, ""
    return int(code), _text(rest[3:]).strip(_WS)


def build(pairs: Iterable[tuple[str, str]], status: int | None = None, description: str = "") -> bytes:
    """Encode a header block: version/status line, ``Key: value`` lines, blank line.

    Raises ValueError for a status outside 100-999, a key that is empty or holds ``:``,
    whitespace or a control character, or a value/description holding CR or LF.
    """
    if status is None:
        if description:
            raise ValueError("a description needs a status")
        parts = [VERSION_LINE]
    else:
        if not 100 <= status <= 999:
            raise ValueError(f"status must have 3 digits: {status}")
        _check_value(description)
        head = f"NATS/1.0 {status} {description}" if description else f"NATS/1.0 {status}"
        parts = [_bytes(head)]
    parts.extend(_line(key, value) for key, value in pairs)
    parts.append(b"")
    parts.append(b"")
    return _CRLF.join(parts)


def _line(key: str, value: str) -> bytes:
    if not key or any(c in key for c in ": \t") or not key.isprintable():
        raise ValueError(f"invalid header key: {key!r}")
    _check_value(value)
    return _bytes(f"{key}: {value}")


def _check_value(value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"header values cannot hold CR or LF: {value!r}")


_NEEDLES: dict[str, tuple[bytes, bytes]] = {}
"""``get``'s search strings per key (exact and lower case), made once: it runs per message."""


def get(block: bytes, key: str) -> str | None:
    """Last value of ``key`` in ``block`` (exact case first, then any case), or None.

    Same answer as ``parse(block).get(key)``, found by searching the raw bytes.
    """
    if not block:
        return None
    needles = _NEEDLES.get(key)
    if needles is None:
        needle = b"\r\n" + _bytes(key) + b":"
        needles = (needle, needle.lower())
        if len(_NEEDLES) < 256:  # the keys looked up are the server's own few constants
            _NEEDLES[key] = needles
    needle = needles[0]
    at = block.rfind(needle)
    if at < 0:
        at = block.lower().rfind(needles[1])
        if at < 0:
            return None
    start = at + len(needle)
    stop = block.find(_CRLF, start)
    raw = block[start:] if stop < 0 else block[start:stop]
    return _text(raw).strip(_WS)


def append(block: bytes, pairs: Iterable[tuple[str, str]]) -> bytes:
    """Add ``Key: value`` lines after the existing ones; an empty ``block`` gives a new block.

    Raises ValueError like :func:`build` for invalid keys or values.
    """
    lines = [_line(key, value) for key, value in pairs]
    if not block:
        return build([]) if not lines else _CRLF.join([VERSION_LINE, *lines, b"", b""])
    if not lines:
        return block
    body = block[:-4] if block.endswith(b"\r\n\r\n") else block.rstrip(b"\r\n")
    return _CRLF.join([body, *lines, b"", b""])


def remove(block: bytes, keys: Iterable[str]) -> bytes:
    """Drop every line whose key matches one of ``keys`` in any case; keep the rest verbatim.

    The version/status line always stays, so the result is a valid block (possibly with no
    header lines). An empty ``block`` stays empty.
    """
    if not block:
        return block
    folded = {_bytes(k).lower() for k in keys}
    lines = block.split(_CRLF)
    kept = [lines[0]]
    for line in lines[1:]:
        if not line:
            continue
        key, colon, _ = line.partition(b":")
        if colon and key.lower() in folded:
            continue
        kept.append(line)
    if len(kept) == len(lines) - 2 and block.endswith(b"\r\n\r\n"):
        return block
    kept.append(b"")
    kept.append(b"")
    return _CRLF.join(kept)

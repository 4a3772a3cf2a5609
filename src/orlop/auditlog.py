"""Reading the server's audit trail: JSON lines, rotated files, filters, newest-first scans.

The server (``audit { file }``) appends one JSON object per object-store operation and
rotates by renaming: ``audit.log`` is written, ``audit.log.1`` is the newest rotated file,
``audit.log.<max_files - 1>`` the oldest (``max_files`` counts the active file). Two
readers share this module: ``orlop audit`` (oldest first, every line, then following the
file as ``tail -F`` does) and the
gateway's object history (newest first, a few records of one object). It sits at the
bottom of the layers so both can use it and so nothing here knows of NATS or HTTP;
records stay plain dicts (the raw line is what ``--json`` prints, byte for byte).

The newest-first scan reads files backwards in blocks and parses only lines that
contain the JSON text of a value every wanted record holds (the object's name), so a
request costs the blocks it reads, not the whole file; it is bounded (``max_scan``
bytes, after which it says older records may exist). Malformed lines are data, not
exceptions: readers get them as :class:`Line` with ``record`` None and say so.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "OPS",
    "RESULTS",
    "AuditFilter",
    "Follower",
    "Line",
    "MalformedRecord",
    "audit_files",
    "parse_record",
    "parse_since",
    "read_lines",
    "recent",
    "record_time",
]

OPS = (
    "create_bucket", "update_bucket", "delete_bucket", "seal", "put", "get", "info", "list",
    "watch", "update_meta", "delete", "purge", "link",
)  # fmt: skip
RESULTS = ("ok", "denied", "error")
BLOCK = 64 * 1024


class MalformedRecord(ValueError):
    """A line that is not an audit record (bad JSON, not an object, no time/op/bucket)."""


@dataclass(frozen=True, slots=True)
class Line:
    """One line of an audit file: where it is, its bytes (no newline) and, if valid, its record."""

    path: Path
    number: int  # 1-based line number within ``path``
    raw: bytes
    record: dict[str, Any] | None
    problem: str = ""  # why ``record`` is None


def audit_files(path: str | os.PathLike[str]) -> list[Path]:
    """The trail's files, oldest first: ``<file>.N`` … ``<file>.1``, then ``<file>``.

    Rotated files are the ones named ``<file>.<digits>`` beside it; ``<file>`` is listed
    even when it does not exist yet (readers treat a missing file as empty).
    """
    current = Path(path)
    prefix = current.name + "."
    rotated: list[tuple[int, Path]] = []
    try:
        for entry in os.scandir(current.parent):
            suffix = entry.name[len(prefix) :]
            if entry.name.startswith(prefix) and suffix.isdigit() and entry.is_file():
                rotated.append((int(suffix), Path(entry.path)))
    except FileNotFoundError:
        pass
    return [p for _, p in sorted(rotated, reverse=True)] + [current]


def record_time(text: Any) -> datetime:
    """An RFC 3339 time (``Z`` or an offset; nanoseconds allowed) as an aware datetime.

    Raises MalformedRecord. A time without an offset is taken as UTC, as the server writes.
    """
    if not isinstance(text, str) or not text:
        raise MalformedRecord("time is not an RFC 3339 string")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        # Python 3.11 reads at most six fractional digits: drop the rest (nanoseconds).
        try:
            moment = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text.strip()))
        except ValueError:
            raise MalformedRecord(f"time {text!r} is not RFC 3339") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_record(raw: bytes) -> dict[str, Any]:
    """One line as a record: a JSON object with a ``time``, an ``op`` and a ``bucket`` key.

    Raises MalformedRecord saying what is wrong. Unknown keys and ops are kept (a newer
    server may add some): only what the readers rely on is checked.
    """
    try:
        record = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRecord(f"not JSON ({exc})") from None
    if not isinstance(record, dict):
        raise MalformedRecord("not a JSON object")
    record_time(record.get("time"))
    if not isinstance(record.get("op"), str):
        raise MalformedRecord("no op")
    if "bucket" not in record:
        raise MalformedRecord("no bucket")
    return record


def _line(path: Path, number: int, raw: bytes) -> Line:
    try:
        return Line(path, number, raw, parse_record(raw))
    except MalformedRecord as exc:
        return Line(path, number, raw, None, str(exc))


def _lines(path: Path, stream: BinaryIO) -> Iterator[Line]:
    for number, raw in enumerate(stream, start=1):
        raw = raw.rstrip(b"\r\n")
        if raw.strip():
            yield _line(path, number, raw)


def read_lines(paths: Collection[Path]) -> Iterator[Line]:
    """Every non-blank line of ``paths`` in order (missing files are skipped)."""
    for path in paths:
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed below, lazily iterated
        except FileNotFoundError:
            continue
        with stream:
            yield from _lines(path, stream)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``: an RFC 3339 time, or a duration before ``now`` (``90s``, ``10m``,
    ``2h``, ``1d``, ``1h30m``). Raises ValueError with a message for people."""
    value = text.strip()
    pieces = _DURATION.findall(value)
    if pieces and "".join(n + u for n, u in pieces) == value:
        return now - timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in pieces))
    try:
        return record_time(value)
    except MalformedRecord:
        raise ValueError(
            f"--since {text!r}: expected an RFC 3339 time (2026-12-03T09:45:00Z) "
            "or a duration (30s, 10m, 2h, 1d, 1h30m)"
        ) from None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which records a reader wants; an empty collection means any value.

    ``objects`` are exact names or globs (``*``, ``?``, ``[``); ``since`` compares the
    record's own time.
    """

    buckets: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()
    ops: frozenset[str] = frozenset()
    objects: tuple[str, ...] = ()
    since: datetime | None = None

    def __call__(self, record: dict[str, Any]) -> bool:
        if self.buckets and record.get("bucket") not in self.buckets:
            return False
        if self.users and record.get("user") not in self.users:
            return False
        if self.accounts and record.get("account") not in self.accounts:
            return False
        if self.ops and record.get("op") not in self.ops:
            return False
        if self.objects and not self._object(record.get("object")):
            return False
        return self.since is None or record_time(record.get("time")) >= self.since

    def _object(self, name: Any) -> bool:
        if not isinstance(name, str):
            return False
        return any(name == p or (_GLOB.search(p) and fnmatch.fnmatchcase(name, p)) for p in self.objects)


_GLOB = re.compile(r"[*?\[]")


# ---- newest first -------------------------------------------------------------------


def _backwards(stream: BinaryIO, size: int, needles: tuple[bytes, ...], budget: list[int]) -> Iterator[bytes]:
    """Lines of ``stream`` (its first ``size`` bytes) holding one of ``needles``, last first.

    ``budget[0]`` is the number of bytes still allowed to be read; it is decremented, and
    the scan stops when it reaches zero.
    """
    end = size
    tail = b""  # the end of a line that begins in the block read next (an earlier one)
    while end > 0 and budget[0] > 0:
        start = max(0, end - BLOCK)
        stream.seek(start)
        block = stream.read(end - start) + tail
        budget[0] -= end - start
        end = start
        if start == 0:
            tail, body = b"", block
        else:
            cut = block.find(b"\n")  # the first line may begin in the earlier block
            tail, body = (block, b"") if cut < 0 else (block[: cut + 1], block[cut + 1 :])
        hit = max(body.rfind(n) for n in needles)
        while hit >= 0:
            line_start = body.rfind(b"\n", 0, hit) + 1
            line_end = body.find(b"\n", hit)
            yield body[line_start : line_end if line_end >= 0 else len(body)]
            hit = max(body.rfind(n, 0, line_start) for n in needles)


def recent(
    path: str | os.PathLike[str],
    wanted: Callable[[dict[str, Any]], bool],
    *,
    needle: str,
    limit: int,
    max_scan: int = 256 << 20,
) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` records for which ``wanted`` is true, newest first, over the trail's
    files (the current one, then ``.1``, ``.2`` …), and whether older ones may exist.

    Only lines containing ``needle`` as a JSON string (``"<needle>"``, with non-ASCII
    characters escaped or not) are parsed: it must be a value every wanted record holds,
    such as the object's name. Malformed lines are skipped. At most ``max_scan`` bytes
    are read; when the scan stops early (or at ``limit``), the second value is True.
    """
    needles = tuple({json.dumps(needle).encode(), json.dumps(needle, ensure_ascii=False).encode()})
    found: list[dict[str, Any]] = []
    budget = [max_scan]
    for file in reversed(audit_files(path)):
        try:
            stream = open(file, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            continue
        with stream:
            size = os.fstat(stream.fileno()).st_size
            for raw in _backwards(stream, size, needles, budget):
                try:
                    record = parse_record(raw)
                except MalformedRecord:
                    continue
                if wanted(record):
                    found.append(record)
                    if len(found) >= limit:
                        return found, True
        if budget[0] <= 0:
            return found, True
    return found, False


# ---- following ----------------------------------------------------------------------


class Follower:
    """``tail -F`` over one path, driven by :meth:`poll` (the caller sleeps between calls).

    The first poll yields the lines already in the file. It survives rotation: when the
    path names a new file (another inode) the old one is read to its end first, then the
    new one from its start; a file cut shorter is read again from its start. A last line
    without its newline is held back until it is complete. Lines are named by the followed
    path, even those read from the old file after a rotation.
    """

    CHUNK = 1 << 20  # bytes read at a time: a large file streams through, never read whole

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stream: BinaryIO | None = None
        self._number = 0  # lines read so far from the open file
        self._partial = b""
        self._open()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def poll(self) -> Iterator[Line]:
        """The complete lines written since the last call (possibly from a rotated file)."""
        yield from self._drain()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return  # between a rotation's rename and the new file: wait
        if self._stream is None:
            self._open()
        else:
            current = os.fstat(self._stream.fileno())
            if (st.st_ino, st.st_dev) != (current.st_ino, current.st_dev):
                yield from self._drain(final=True)
                self.close()
                self._open()
            elif st.st_size < self._stream.tell():
                self._stream.seek(0)
                self._number, self._partial = 0, b""
        yield from self._drain()

    def _open(self) -> None:
        try:
            self._stream = open(self.path, "rb")  # noqa: SIM115 - owned by the follower
        except FileNotFoundError:
            self._stream = None
        self._number, self._partial = 0, b""

    def _drain(self, final: bool = False) -> Iterator[Line]:
        while self._stream is not None:
            data = self._stream.read(self.CHUNK)
            if not data:
                break
            *complete, self._partial = (self._partial + data).split(b"\n")
            yield from self._complete(complete)
        if final and self._partial.strip():
            yield from self._complete([self._partial])
            self._partial = b""

    def _complete(self, lines: list[bytes]) -> Iterator[Line]:
        for raw in lines:
            self._number += 1
            raw = raw.rstrip(b"\r")
            if raw.strip():
                yield _line(self.path, self._number, raw)

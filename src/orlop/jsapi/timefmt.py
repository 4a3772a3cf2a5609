"""Timestamps and durations as JetStream JSON carries them.

nats-server writes UTC RFC3339Nano with trailing fractional zeros trimmed
(``2024-05-01T12:00:00.5Z``, ``2024-05-01T12:00:00Z``) and the zero time as
``0001-01-01T00:00:00Z``; durations are integer nanoseconds. nats.py refuses
a fractional timestamp without a ``Z``/offset suffix, so we always emit ``Z``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["ZERO_TIME", "format_go_duration", "format_ts", "parse_ts"]

ZERO_TIME = "0001-01-01T00:00:00Z"

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)


def format_ts(ns: int) -> str:
    """Unix nanoseconds to RFC3339Nano UTC; 0 gives the Go zero time."""
    if ns <= 0:
        return ZERO_TIME
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        return f"{base}.{frac:09d}".rstrip("0") + "Z"
    return base + "Z"


def parse_ts(text: str) -> int:
    """RFC3339 (any precision, ``Z`` or offset) to Unix nanoseconds; the zero time gives 0.

    Raises ValueError on anything else.
    """
    m = _RFC3339.match(text)
    if not m:
        raise ValueError(f"invalid RFC3339 time: {text!r}")
    year, mon, day, hh, mm, ss, frac, tz = m.groups()
    if int(year) <= 1:
        return 0
    dt = datetime(int(year), int(mon), int(day), int(hh), int(mm), int(ss), tzinfo=UTC)
    ns = int(dt.timestamp()) * 1_000_000_000
    if frac:
        ns += int(frac.ljust(9, "0"))
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        offset = (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60) * 1_000_000_000
        ns -= sign * offset
    return ns


def format_go_duration(ns: int) -> str:
    """Nanoseconds as Go's ``time.Duration.String()`` writes them (``40s``, ``2m0s``, ``1.5s``, ``500ms``).

    nats-server puts such text in error messages and headers (lame duck settings,
    MaxRequestExpires, ``Nats-TTL`` markers).
    """
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("\u00b5s", 1_000), ("ns", 1)):
            if ns >= size:
                return f"{sign}{_trim(ns / size)}{unit}"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{_trim(rest / 1e9)}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")

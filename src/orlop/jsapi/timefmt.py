"""Timestamps and durations as JetStream JSON carries them.

nats-server writes UTC RFC3339Nano with trailing fractional zeros trimmed
(``2024-05-01T12:00:00.5Z``, ``2024-05-01T12:00:00Z``) and the zero time as
``0001-01-01T00:00:00Z``; durations are integer nanoseconds. nats.py refuses
a fractional timestamp without a ``Z``/offset suffix, so we always emit ``Z``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["ZERO_TIME", "format_go_duration", "format_ts", "parse_go_duration", "parse_ts"]

ZERO_TIME = "0001-01-01T00:00:00Z"

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
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
    m = _RFC3339.fullmatch(text)
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


_NS_PER_S = 1_000_000_000
_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": _NS_PER_S,
    "m": 60 * _NS_PER_S,
    "h": 3600 * _NS_PER_S,
}
_NUMBER = re.compile(r"([0-9]*)(?:\.([0-9]*))?")
_UNIT = re.compile(r"[^0-9.]*")
_MAX_DURATION = (1 << 63) - 1


def parse_go_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` to nanoseconds (``1h30m``, ``1.5s``, ``-2m``). Raises ValueError."""
    s = text
    neg = s[:1] == "-"
    if s[:1] in ("+", "-"):
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total = 0
    while s:
        m = _NUMBER.match(s)
        pre, frac = (m.group(1), m.group(2)) if m else ("", None)
        if m is None or (not pre and not frac):
            raise ValueError(f"invalid duration {text!r}")
        s = s[m.end() :]
        unit = _UNIT.match(s)
        name = unit.group() if unit else ""
        if name not in _UNITS:
            raise ValueError(f"invalid duration {text!r}")
        s = s[len(name) :]
        scale = _UNITS[name]
        value = int(pre or "0") * scale
        if frac:
            value += int(float(int(frac)) * (scale / 10 ** len(frac)))
        total += value
        if total > _MAX_DURATION:
            raise ValueError(f"invalid duration {text!r}")
    return -total if neg else total

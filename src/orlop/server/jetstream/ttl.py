"""Per-message TTL values (``Nats-TTL``, ADR-43) and Go duration strings.

nats-server reads ``Nats-TTL`` as: ``never`` -> never expires (-1); a Go
duration (``30s``, ``1m30s``, ``1.5h``) of at least one second, truncated to
whole seconds; or a plain integer number of seconds (0 = no TTL).
"""

from __future__ import annotations

import re

from orlop.jsapi.timefmt import format_go_duration

__all__ = ["NEVER", "format_ttl", "parse_go_duration", "parse_ttl"]

NEVER = -1
_SECOND = 1_000_000_000
_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": _SECOND,
    "m": 60 * _SECOND,
    "h": 3600 * _SECOND,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> int:
    """A Go ``time.ParseDuration`` string to nanoseconds. Raises ValueError."""
    s = text
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            raise ValueError(f"invalid duration {text!r}")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return sign * int(total)


def parse_ttl(value: str) -> int:
    """A ``Nats-TTL`` header value to nanoseconds: 0 none, -1 never. Raises ValueError."""
    v = value.strip()
    if v.lower() == "never":
        return NEVER
    try:
        ns = parse_go_duration(v)
    except ValueError:
        secs = int(v)  # ValueError propagates
        if secs < 0:
            raise ValueError(f"invalid per-message TTL {value!r}") from None
        return secs * _SECOND
    if ns < _SECOND:
        raise ValueError(f"invalid per-message TTL {value!r}")
    return (ns // _SECOND) * _SECOND


def format_ttl(ns: int) -> str:
    """Nanoseconds to the Go duration text nats-server writes in marker headers (``1s``, ``5m0s``)."""
    if ns < 0:
        return "never"
    return format_go_duration(ns // _SECOND * _SECOND)

"""Per-message TTL values (``Nats-TTL``, ADR-43) and Go duration strings.

nats-server reads ``Nats-TTL`` as: ``never`` -> never expires (-1); a Go
duration (``30s``, ``1m30s``, ``1.5h``) of at least one second, truncated to
whole seconds; or a plain integer number of seconds (0 = no TTL).
"""

from __future__ import annotations

from orlop.jsapi.timefmt import format_go_duration, parse_go_duration

__all__ = ["NEVER", "format_ttl", "parse_go_duration", "parse_ttl"]

NEVER = -1
_SECOND = 1_000_000_000


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

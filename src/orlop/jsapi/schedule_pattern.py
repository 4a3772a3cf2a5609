"""Message schedule patterns (ADR-51): ``@at``, ``@every``, the cron macros and 6-field cron.

Pure functions, no clock of their own: every caller passes ``ts`` (the time the
next fire is computed from) and ``now`` (Unix ns) explicitly, so the server can
drive them from its injected clock and the tests from fixed instants.

The arithmetic follows nats-server's (Go's ``time`` package) to the second, because
the fire times and the ``Nats-Schedule-Next`` text are visible to clients:

- ``@at <RFC3339>``: Go's ``time.Parse(time.RFC3339, …)`` (its strict fast path plus
  the looser general parser it falls back to: a one-digit hour, a ``,`` before the
  fraction, zone offsets up to 24:60).
- ``@every <Go duration>``: at least one second; the next fire is the previous due
  time rounded to the second plus the interval, or ``round(now) + interval`` when
  that has already passed (a long downtime fires once, then the schedule goes on).
- cron ``sec min hour dom month dow`` (robfig/cron's walk, as nats-server has it,
  with the fix for days whose local midnight does not exist): names ``jan``…``dec``
  and ``sun``…``sat``, ``*``/``?``, ranges, lists, ``/step``; when neither day field
  is a star, a day matches on either (vixie-cron); nothing within five years is an
  error. Wall-clock steps use Go's ``time.Date`` normalisation, including how it
  resolves a local time that a DST change skips.

Every function raises ValueError for an invalid pattern.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from orlop.jsapi.timefmt import parse_go_duration

__all__ = [
    "Next",
    "format_rfc3339nano",
    "load_zone",
    "next_fire",
    "parse_cron",
    "parse_rfc3339",
    "round_second",
]

_NS = 1_000_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

MACROS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}


@dataclass(frozen=True, slots=True)
class Next:
    """When a schedule fires next: ``at`` Unix ns (0 = the empty pattern, no schedule).

    ``repeat`` is False for ``@at``; ``zone`` is where ``Nats-Schedule-Next`` is written.
    """

    at: int
    repeat: bool
    zone: tzinfo = UTC


# --- time zones -------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def load_zone(name: str) -> tzinfo:
    """Go's ``time.LoadLocation``: ``UTC``, ``Local`` or an IANA name. Raises ValueError."""
    if name == "UTC":
        return UTC
    if name == "Local":
        return _local_zone()
    if not name or ".." in name or name[0] in "/\\":
        raise ValueError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except Exception as exc:  # not found, a directory, not a TZif file, a bad key …
        raise ValueError(f"unknown time zone {name!r}") from exc


def _local_zone() -> tzinfo:
    """Go's ``time.Local``: ``$TZ`` (empty = UTC, ``:name``, a path or a name), else /etc/localtime."""
    tz = os.environ.get("TZ")
    try:
        if tz is None:
            with open("/etc/localtime", "rb") as f:
                return ZoneInfo.from_file(f, key="Local")
        if tz == "":
            return UTC
        tz = tz.removeprefix(":")
        if tz.startswith("/"):
            with open(tz, "rb") as f:
                return ZoneInfo.from_file(f, key="Local")
        return UTC if tz == "UTC" else ZoneInfo(tz)
    except Exception:  # Go falls back to UTC when the local zone cannot be read
        return UTC


def _local(s: int, zone: tzinfo) -> datetime:
    return datetime.fromtimestamp(s, zone)


def _offset(s: int, zone: tzinfo) -> int:
    off = _local(s, zone).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def _go_date(year: int, month: int, day: int, hour: int, minute: int, sec: int, zone: tzinfo) -> int:
    """Go's ``time.Date`` (Unix seconds): out-of-range fields carry over, and a local time in
    a DST gap or overlap gets the offset Go picks (the one in force at the guessed instant)."""
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    days = date(year, month, 1).toordinal() - _EPOCH_ORDINAL + day - 1
    wall = days * 86400 + hour * 3600 + minute * 60 + sec
    return wall - _offset(wall - _offset(wall, zone), zone)


# --- durations and timestamps ----------------------------------------------------------------

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{1,2}):([0-9]{2}):([0-9]{2})"
    r"(?:([.,])([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)


def _days_in(year: int, month: int) -> int:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    return (nxt - date(year, month, 1)).days


def parse_rfc3339(text: str) -> int:
    """Go's ``time.Parse(time.RFC3339, text)`` to Unix ns (any fraction accepted). Raises ValueError."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError(f"invalid RFC3339 time {text!r}")
    year, month, day, hour, minute, sec = (int(m.group(i)) for i in range(1, 7))
    sep, frac, tz = m.group(7), m.group(8), m.group(9)
    strict = len(m.group(4)) == 2 and sep != ","
    if not (1 <= month <= 12 and 1 <= day <= _days_in(max(year, 1), month)):
        raise ValueError(f"invalid RFC3339 time {text!r}")
    if hour > 23 or minute > 59 or sec > 59 or year < 1:
        raise ValueError(f"invalid RFC3339 time {text!r}")
    offset = 0
    if tz != "Z":
        oh, om = int(tz[1:3]), int(tz[4:6])
        if (oh > 23 or om > 59) and (strict or oh > 24 or om > 60):
            raise ValueError(f"invalid RFC3339 time {text!r}")
        offset = (oh * 60 + om) * 60 * (-1 if tz[0] == "-" else 1)
    days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    secs = days * 86400 + hour * 3600 + minute * 60 + sec - offset
    nanos = int(frac[:9].ljust(9, "0")) if frac else 0
    return secs * _NS + nanos


def round_second(ns: int) -> int:
    """Go's ``Time.Round(time.Second)``: halves round up."""
    rest = ns % _NS
    return ns - rest + (_NS if 2 * rest >= _NS else 0)


def format_rfc3339nano(ns: int, zone: tzinfo = UTC) -> str:
    """Go's ``Format(time.RFC3339Nano)`` in ``zone``: trailing fractional zeros dropped, ``Z`` for +00:00."""
    secs, frac = divmod(ns, _NS)
    local = _local(secs, zone)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += f".{frac:09d}".rstrip("0")
    off = _offset(secs, zone) // 60
    if off == 0:
        return text + "Z"
    sign = "-" if off < 0 else "+"
    return f"{text}{sign}{abs(off) // 60:02d}:{abs(off) % 60:02d}"


# --- cron --------------------------------------------------------------------------------------

_STAR = 1 << 63
_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6}
_MONTHS |= {"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_BOUNDS: tuple[tuple[int, int, dict[str, int] | None], ...] = (
    (0, 59, None),  # second
    (0, 59, None),  # minute
    (0, 23, None),  # hour
    (1, 31, None),  # day of month
    (1, 12, _MONTHS),  # month
    (0, 6, _DAYS),  # day of week (Sunday = 0)
)


def _number(expr: str, names: dict[str, int] | None = None) -> int:
    if names is not None and expr.lower() in names:
        return names[expr.lower()]
    if not _INT.fullmatch(expr):
        raise ValueError(f"not a number: {expr!r}")
    value = int(expr)
    if value < 0:
        raise ValueError(f"negative number: {expr!r}")
    return value


def _range_bits(expr: str, low: int, high: int, names: dict[str, int] | None) -> int:
    """The bits of one ``N``, ``N-M``, ``*``, ``?`` with an optional ``/step`` (star bit kept for ``*``)."""
    range_step = expr.split("/")
    low_high = range_step[0].split("-")
    extra = 0
    if low_high[0] in ("*", "?"):
        start, end, extra = low, high, _STAR
    else:
        start = _number(low_high[0], names)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _number(low_high[1], names)
        else:
            raise ValueError(f"too many hyphens: {expr!r}")
    if len(range_step) == 1:
        step = 1
    elif len(range_step) == 2:
        step = _number(range_step[1])
        if len(low_high) == 1:
            end = high  # "N/step" means "N-max/step"
        if step > 1:
            extra = 0
    else:
        raise ValueError(f"too many slashes: {expr!r}")
    if start < low or end > high or start > end or step == 0:
        raise ValueError(f"range out of bounds: {expr!r}")
    bits = 0
    for i in range(start, end + 1, step):
        bits |= 1 << i
    return bits | extra


def _field_bits(field: str, bounds: tuple[int, int, dict[str, int] | None]) -> int:
    low, high, names = bounds
    bits = 0
    for expr in field.split(","):
        if expr:  # Go's FieldsFunc drops empty parts
            bits |= _range_bits(expr, low, high, names)
    return bits


def _day_matches(dom: int, dow: int, t: datetime) -> bool:
    dom_match = bool(1 << t.day & dom)
    dow_match = bool(1 << ((t.weekday() + 1) % 7) & dow)
    if dom & _STAR or dow & _STAR:
        return dom_match and dow_match
    return dom_match or dow_match


def _never(bits: list[int]) -> bool:
    """True when some field can never match (Go would walk five years of seconds to find out)."""
    sec, minute, hour, dom, month, dow = (b & ~_STAR for b in bits)
    if not (sec and minute and hour and month):
        return True
    if bits[3] & _STAR or bits[5] & _STAR:
        return not (dom and dow)
    return not (dom or dow)


def parse_cron(pattern: str, zone: tzinfo | None, ts: int) -> int:
    """The first time after ``ts`` (Unix ns, truncated to the second) that the 6-field cron
    ``pattern`` matches in ``zone`` (default UTC), as Unix ns. Raises ValueError."""
    fields = pattern.split()
    if len(fields) != 6:
        raise ValueError(f"pattern requires 6 fields, got {len(fields)}")
    bits = [_field_bits(f, b) for f, b in zip(fields, _BOUNDS, strict=True)]
    if _never(bits):
        raise ValueError("pattern exceeds maximum range")
    return _walk(bits, zone or UTC, ts // _NS + 1) * _NS


def _walk(bits: list[int], zone: tzinfo, s: int) -> int:
    """robfig/cron's field walk from Unix second ``s``; returns the matching Unix second.

    One loop per field, as cron.go has it, hence the length.
    """
    sec_bits, min_bits, hour_bits, dom, month_bits, dow = bits
    truncated = False
    year_limit = _local(s, zone).year + 5
    while True:  # every "continue" is cron.go's "goto WRAP"
        t = _local(s, zone)
        if t.year > year_limit:
            raise ValueError("pattern exceeds maximum range")
        wrapped = False
        while not month_bits & 1 << t.month:
            if not truncated:
                truncated = True
                s = _go_date(t.year, t.month, 1, 0, 0, 0, zone)
                t = _local(s, zone)
            s = _go_date(t.year, t.month + 1, t.day, t.hour, t.minute, t.second, zone)
            t = _local(s, zone)
            if t.month == 1:
                wrapped = True
                break
        if wrapped:
            continue
        while not _day_matches(dom, dow, t):
            if not truncated:
                truncated = True
                s = _go_date(t.year, t.month, t.day, 0, 0, 0, zone)
                t = _local(s, zone)
            s = _go_date(t.year, t.month, t.day + 1, t.hour, t.minute, t.second, zone)
            t = _local(s, zone)
            if t.hour:  # local midnight skipped by a DST change: back to the day's start
                s += (24 - t.hour) * 3600 if t.hour > 12 else -t.hour * 3600
                t = _local(s, zone)
            if t.day == 1:
                wrapped = True
                break
        if wrapped:
            continue
        while not hour_bits & 1 << t.hour:
            if not truncated:
                truncated = True
                s = _go_date(t.year, t.month, t.day, t.hour, 0, 0, zone)
            s += 3600
            t = _local(s, zone)
            if t.hour == 0:
                wrapped = True
                break
        if wrapped:
            continue
        while not min_bits & 1 << t.minute:
            if not truncated:
                truncated = True
                s -= s % 60
            s += 60
            t = _local(s, zone)
            if t.minute == 0:
                wrapped = True
                break
        if wrapped:
            continue
        while not sec_bits & 1 << t.second:
            truncated = True
            s += 1
            t = _local(s, zone)
            if t.second == 0:
                wrapped = True
                break
        if wrapped:
            continue
        return s


# --- the pattern -------------------------------------------------------------------------------


def next_fire(pattern: str, zone: tzinfo | None, ts: int, now: int) -> Next:
    """nats-server's ``parseMsgSchedule``: when ``pattern`` fires after ``ts`` (Unix ns).

    ``zone`` is the ``Nats-Schedule-Time-Zone`` (None when absent; only cron takes one).
    A repeating schedule whose next time is before ``now`` skips ahead from ``now``.
    The empty pattern gives ``Next(0, False)``. Raises ValueError.
    """
    if not pattern:
        return Next(0, False)
    if pattern.startswith("@at "):
        if zone is not None:
            raise ValueError("@at takes no time zone")
        return Next(parse_rfc3339(pattern[4:]), False)
    if pattern.startswith("@every "):
        if zone is not None:
            raise ValueError("@every takes no time zone")
        every = parse_go_duration(pattern[7:])
        if every < _NS:
            raise ValueError("@every needs at least one second")
        at = round_second(ts) + every
        if at < now:
            at = round_second(now) + every
        return Next(at, True)
    cron = MACROS.get(pattern, pattern)
    at = parse_cron(cron, zone, ts)
    if at < now:
        at = parse_cron(cron, zone, round_second(now))
    return Next(at, True, zone or UTC)

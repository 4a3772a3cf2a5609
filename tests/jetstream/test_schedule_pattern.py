"""The schedule pattern parser (:mod:`orlop.jsapi.schedule_pattern`), against fixed instants.

Cases follow nats-server's cron.go / scheduler.go behaviour (robfig/cron's walk): field
syntax, the day-of-month / day-of-week OR rule, the five-year limit, DST gaps, ``@every``
rounding and skip-ahead, and Go's RFC3339 parser and RFC3339Nano format.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from orlop.jsapi.schedule_pattern import (
    Next,
    format_rfc3339nano,
    load_zone,
    next_fire,
    parse_cron,
    parse_rfc3339,
    round_second,
)
from orlop.jsapi.timefmt import parse_go_duration as parse_duration

S = 1_000_000_000


def ns(text: str) -> int:
    """Unix ns of an ISO time with an offset (Python's own parser, independent of the module)."""
    return int(datetime.fromisoformat(text).timestamp()) * S


def cron(pattern: str, base: str, zone: str | None = None) -> str:
    tz = ZoneInfo(zone) if zone else None
    return format_rfc3339nano(parse_cron(pattern, tz, ns(base)), tz or UTC)


@pytest.mark.parametrize(
    ("pattern", "base", "want"),
    [
        # Simple cases (2012-07-09 is a Monday).
        ("* * * * * *", "2012-07-09T14:45:00+00:00", "2012-07-09T14:45:01Z"),
        ("0/15 * * * * *", "2012-07-09T14:45:00+00:00", "2012-07-09T14:45:15Z"),
        ("0/15 * * * * *", "2012-07-09T14:45:59+00:00", "2012-07-09T14:46:00Z"),
        ("0 0/15 * * * *", "2012-07-09T14:45:00+00:00", "2012-07-09T15:00:00Z"),
        ("0 20-35/15 * * * *", "2012-07-09T14:45:00+00:00", "2012-07-09T15:20:00Z"),
        # Wrap around hours, days, months and years.
        ("0 15 * * * *", "2012-07-09T15:45:00+00:00", "2012-07-09T16:15:00Z"),
        ("0 0 9 * * *", "2012-07-09T15:45:00+00:00", "2012-07-10T09:00:00Z"),
        ("0 0 9 1 * *", "2012-07-09T15:45:00+00:00", "2012-08-01T09:00:00Z"),
        ("0 0 0 1 1 *", "2012-07-09T15:45:00+00:00", "2013-01-01T00:00:00Z"),
        ("0 0 0 31 * *", "2012-09-15T00:00:00+00:00", "2012-10-31T00:00:00Z"),
        ("0 0 0 29 2 *", "2013-03-01T00:00:00+00:00", "2016-02-29T00:00:00Z"),
        # Names, case-insensitive, in ranges.
        ("0 0 9 * * MON-fri", "2012-07-13T10:00:00+00:00", "2012-07-16T09:00:00Z"),
        ("0 0 0 1 Feb,aug *", "2012-07-09T00:00:00+00:00", "2012-08-01T00:00:00Z"),
        ("0 0 0 ? * sun", "2012-07-09T00:00:00+00:00", "2012-07-15T00:00:00Z"),
        # Day of month OR day of week when neither is a star (2012-07-11 is a Wednesday).
        ("0 0 0 1,15 * 3", "2012-07-09T00:00:00+00:00", "2012-07-11T00:00:00Z"),
        ("0 0 0 1,15 * 3", "2012-07-12T00:00:00+00:00", "2012-07-15T00:00:00Z"),
        # A star with a step is no longer a star: OR applies (*/2 days: 1, 3, 5, …).
        ("0 0 0 */2 * 1", "2012-07-09T01:00:00+00:00", "2012-07-11T00:00:00Z"),
        ("0 0 0 10 * */1", "2012-07-09T01:00:00+00:00", "2012-07-10T00:00:00Z"),
        # The next second after a fractional base.
        ("* * * * * *", "2012-07-09T14:45:00.9+00:00", "2012-07-09T14:45:01Z"),
    ],
)
def test_cron_next(pattern: str, base: str, want: str) -> None:
    assert cron(pattern, base) == want


@pytest.mark.parametrize(
    ("pattern", "base", "want", "zone"),
    [
        # Time zones: matched on the wall clock, written with the zone's offset.
        ("0 0 9 * * *", "2026-12-03T10:00:00+01:00", "2026-12-04T09:00:00+01:00", "Europe/Paris"),
        ("0 30 2 * * *", "2026-01-01T00:00:00+05:30", "2026-01-01T02:30:00+05:30", "Asia/Kolkata"),
        ("0 0 12 * * *", "2026-01-05T13:00:00+00:00", "2026-01-06T12:00:00Z", "Europe/London"),
        ("0 0 12 * * *", "2026-06-01T13:00:00+01:00", "2026-06-02T12:00:00+01:00", "Europe/London"),
        # A local time skipped by DST (02:30 on 2026-03-29 in Paris) is not matched that day.
        ("0 30 2 * * *", "2026-03-28T03:00:00+01:00", "2026-03-30T02:30:00+02:00", "Europe/Paris"),
        # Midnight skipped in Sao Paulo on 2018-11-04: the 01:00 and 02:00 of that day still match.
        ("0 0 1 4 11 *", "2018-11-03T23:00:00-03:00", "2018-11-04T01:00:00-02:00", "America/Sao_Paulo"),
        ("0 0 1 * * 0", "2018-11-03T23:00:00-03:00", "2018-11-04T01:00:00-02:00", "America/Sao_Paulo"),
        ("0 0 2 4 11 *", "2018-11-03T23:00:00-03:00", "2018-11-04T02:00:00-02:00", "America/Sao_Paulo"),
    ],
)
def test_cron_next_in_zone(pattern: str, base: str, want: str, zone: str) -> None:
    assert cron(pattern, base, zone) == want


@pytest.mark.parametrize(
    "pattern",
    [
        "* * * * *",  # five fields
        "* * * * * * *",
        "60 * * * * *",
        "* 60 * * * *",
        "* * 24 * * *",
        "* * * 0 * *",
        "* * * 32 * *",
        "* * * * 13 *",
        "* * * * * 7",
        "5-1 * * * * *",
        "*/0 * * * * *",
        "1-2-3 * * * * *",
        "1/2/3 * * * * *",
        "a * * * * *",
        "-1 * * * * *",
        "/5 * * * * *",
        "* * * * foo *",
        "1_0 * * * * *",
        ", * * * * *",  # an empty list matches nothing
        "0 0 0 30 2 *",  # never within five years
        "0 0 0 31 4,6,9,11 *",
    ],
)
def test_cron_invalid(pattern: str) -> None:
    with pytest.raises(ValueError):
        parse_cron(pattern, None, ns("2026-01-01T00:00:00+00:00"))


def test_cron_lenient_forms() -> None:
    base = ns("2012-07-09T14:45:00+00:00")
    # "*-5" is a star (the range after a star is ignored), "+5" parses as 5, "05" as 5.
    assert parse_cron("*-5 * * * * *", None, base) == base + S
    assert parse_cron("+5 * * * * *", None, base) == base + 5 * S
    assert parse_cron("05,,10 * * * * *", None, base) == base + 5 * S


def test_macros_and_next_fire() -> None:
    now = ns("2026-12-03T10:10:34.6+00:00")
    assert next_fire("", None, now, now) == Next(0, False)
    assert next_fire("@hourly", None, now, now) == Next(ns("2026-12-03T11:00:00+00:00"), True)
    assert next_fire("@daily", None, now, now).at == ns("2026-12-04T00:00:00+00:00")
    assert next_fire("@midnight", None, now, now).at == ns("2026-12-04T00:00:00+00:00")
    assert next_fire("@weekly", None, now, now).at == ns("2026-12-06T00:00:00+00:00")  # a Sunday
    assert next_fire("@monthly", None, now, now).at == ns("2027-01-01T00:00:00+00:00")
    assert next_fire("@yearly", None, now, now).at == next_fire("@annually", None, now, now).at
    paris = load_zone("Europe/Paris")
    got = next_fire("0 0 12 * * *", paris, now, now)
    assert got.repeat and format_rfc3339nano(got.at, got.zone) == "2026-12-03T12:00:00+01:00"
    # A cron time in the past skips ahead from now (a long downtime fires once).
    old = ns("2026-12-01T00:00:00+00:00")
    assert next_fire("0 0 * * * *", None, old, now).at == ns("2026-12-03T11:00:00+00:00")


def test_every() -> None:
    ts = ns("2026-12-03T10:10:34+00:00") + 600_000_000  # 34.6 s rounds up to 35
    assert next_fire("@every 1s", None, ts, ts) == Next(ns("2026-12-03T10:10:36+00:00"), True)
    assert next_fire("@every 1m30s", None, ts, ts).at == ns("2026-12-03T10:12:05+00:00")
    assert next_fire("@every 1.5s", None, ts, ts).at == ns("2026-12-03T10:10:36+00:00") + S // 2
    # Due long ago: round(now) + interval.
    now = ts + 3600 * S
    assert next_fire("@every 2s", None, ts, now).at == round_second(now) + 2 * S
    for bad in ("@every 999ms", "@every 0", "@every -5s", "@every bogus", "@every ", "@every 1"):
        with pytest.raises(ValueError):
            next_fire(bad, None, ts, ts)
    with pytest.raises(ValueError):
        next_fire("@every 5s", UTC, ts, ts)  # no time zone for @every


def test_at() -> None:
    now = ns("2026-12-03T10:00:00+00:00")
    want = Next(ns("2026-12-03T10:10:35+00:00"), False)
    assert next_fire("@at 2026-12-03T11:10:35+01:00", None, now, now) == want
    assert next_fire("@at 2020-01-01T00:00:00Z", None, now, now).at == ns("2020-01-01T00:00:00+00:00")
    with pytest.raises(ValueError):
        next_fire("@at 2026-12-03T11:10:35Z", UTC, now, now)  # no time zone for @at
    for bad in ("@at nope", "@at ", "@at  2026-12-03T11:10:35Z", "@at 2026-12-03 11:10:35Z", "@atx"):
        with pytest.raises(ValueError):
            next_fire(bad, None, now, now)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2026-12-03T11:10:35Z", "2026-12-03T11:10:35+00:00"),
        ("2026-12-03T11:10:35+01:00", "2026-12-03T10:10:35+00:00"),
        ("2026-12-03T11:10:35-05:30", "2026-12-03T16:40:35+00:00"),
        ("2026-12-03T01:10:35.25Z", "2026-12-03T01:10:35.250000+00:00"),
        ("2026-12-03T1:10:35Z", "2026-12-03T01:10:35+00:00"),  # Go's general parser: one-digit hour
        ("2026-12-03T01:10:35,5Z", "2026-12-03T01:10:35.500000+00:00"),  # and a comma fraction
        ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00+00:00"),
    ],
)
def test_rfc3339(text: str, want: str) -> None:
    expected = datetime.fromisoformat(want)
    assert parse_rfc3339(text) == int(expected.timestamp()) * S + expected.microsecond * 1000


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-03t11:10:35Z",
        "2026-12-03T11:10:35z",
        "2026-12-03T11:10:35",
        "2026-13-03T11:10:35Z",
        "2026-02-29T11:10:35Z",
        "2026-12-03T24:00:00Z",
        "2026-12-03T11:60:00Z",
        "2026-12-03T11:10:60Z",
        "2026-12-03T11:10:35+0100",
        "2026-12-03T11:10:35.Z",
        "26-12-03T11:10:35Z",
        "2026-12-03T11:10:35Z ",
    ],
)
def test_rfc3339_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(text)


def test_format_rfc3339nano() -> None:
    t = ns("2026-12-03T10:10:35+00:00")
    assert format_rfc3339nano(t) == "2026-12-03T10:10:35Z"
    assert format_rfc3339nano(t + 500_000_000) == "2026-12-03T10:10:35.5Z"
    assert format_rfc3339nano(t + 1) == "2026-12-03T10:10:35.000000001Z"
    assert format_rfc3339nano(t, load_zone("Europe/Paris")) == "2026-12-03T11:10:35+01:00"
    assert format_rfc3339nano(t, load_zone("America/St_Johns")) == "2026-12-03T06:40:35-03:30"
    assert format_rfc3339nano(t, load_zone("Europe/London")) == "2026-12-03T10:10:35Z"  # +00:00 is Z


def test_load_zone() -> None:
    assert load_zone("UTC") is UTC
    assert load_zone("Local") is not None
    assert str(load_zone("Europe/Paris")) == "Europe/Paris"
    for bad in (
        "",
        "Mars/Base",
        "America",
        "europe/paris",
        "+01:00",
        "../etc/passwd",
        "/etc/localtime",
        " UTC",
    ):
        with pytest.raises(ValueError):
            load_zone(bad)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("1s", S),
        ("1.5s", 3 * S // 2),
        ("1.s", S),
        (".5s", S // 2),
        ("1h2m3s", 3723 * S),
        ("+2m", 120 * S),
        ("-2m", -120 * S),
        ("0", 0),
        ("500ms", S // 2),
        ("3us", 3000),
        ("3µs", 3000),
        ("7ns", 7),
    ],
)
def test_parse_duration(text: str, want: int) -> None:
    assert parse_duration(text) == want


@pytest.mark.parametrize("text", ["", "1", "s", ".s", "1 s", "1d", "1sx", "--1s", "1e3s", "9999999999h"])
def test_parse_duration_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)

"""Scoped signing-key templates and connect times, case by case (orlop.server.user_claims).

The servers' behaviour is in test_operator_mode.py, on Orlop and nats-server alike; this
checks the corners a live test cannot reach at will: ranges across midnight and daylight
saving changes, tag combinations, the expansion limit.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from orlop.server.user_claims import (
    ScopeError,
    connect_window,
    has_own_permissions,
    limits_problem,
    scoped_claims,
)

UTC = dt.UTC


def _at(text: str, zone: dt.tzinfo = UTC) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def test_ranges_across_midnight() -> None:
    night = {"times": [{"start": "22:00:00", "end": "06:00:00"}], "times_location": "UTC"}
    assert connect_window(night, _at("2026-12-04T23:30:00")) == (True, 6.5 * 3600)
    assert connect_window(night, _at("2026-12-04T05:00:00")) == (True, 3600)
    assert connect_window(night, _at("2026-12-04T12:00:00")) == (False, 0.0)
    day = {"times": [{"start": "09:00:00", "end": "17:00:00"}], "times_location": "UTC"}
    assert connect_window(day, _at("2026-12-04T16:59:00")) == (True, 60)
    assert connect_window(day, _at("2026-12-04T17:00:00"))[0] is False  # the end is not inside
    assert connect_window({}, _at("2026-12-04T12:00:00")) == (True, 0.0)


def test_the_longest_range_that_holds_wins_and_bad_ranges_refuse() -> None:
    two = [{"start": "08:00:00", "end": "10:00:00"}, {"start": "07:00:00", "end": "12:00:00"}]
    assert connect_window({"times": two, "times_location": "UTC"}, _at("2026-12-04T09:00:00")) == (
        True,
        3 * 3600,
    )
    for bad in ({"start": "25:00:00", "end": "10:00:00"}, {"start": "8:00", "end": "10:00:00"}, "08-10"):
        assert connect_window({"times": [bad]}, _at("2026-12-04T09:00:00")) == (False, 0.0)
    assert connect_window({"times": two, "times_location": "Nowhere/Atlantis"}) == (False, 0.0)


def test_daylight_saving_changes_count_real_seconds() -> None:
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    claims = {"times": [{"start": "01:00:00", "end": "04:00:00"}], "times_location": "Europe/Berlin"}
    # 29 Mar 2026: clocks go from 02:00 to 03:00, so 01:30 to 04:00 is 1.5 hours, not 2.5.
    assert connect_window(claims, _at("2026-03-29T01:30:00", berlin)) == (True, 1.5 * 3600)


def test_tag_templates_expand_to_every_combination() -> None:
    template = {"pub": {"allow": ["{{tag(team)}}.{{tag(site)}}.{{name()}}"]}, "subs": 5}
    nats = {"type": "user", "pub": {}, "sub": {}, "tags": ["team:a", "team:b", "site:x", "site:y", "other:z"]}
    out = scoped_claims(template, nats, name="ann", subject="UKEY", account_name="APP", account_tags=[])
    assert out["pub"] == {"allow": ["a.x.ann", "a.y.ann", "b.x.ann", "b.y.ann"], "deny": None}
    assert (out["subs"], out["payload"], out["type"], out["tags"]) == (5, -1, "user", nats["tags"])


def test_expansion_is_limited() -> None:
    tags = [f"a:{i}" for i in range(100)] + [f"b:{i}" for i in range(100)]
    template = {"sub": {"allow": ["{{tag(a)}}.{{tag(b)}}"]}}  # 10,000 subjects
    with pytest.raises(ScopeError, match="exceeds limit"):
        scoped_claims(template, {"tags": tags}, name="n", subject="U", account_name="A", account_tags=[])


def test_what_counts_as_a_scoped_users_own_permissions() -> None:
    assert not has_own_permissions(
        {"type": "user", "version": 2, "pub": {}, "sub": {}, "issuer_account": "A"}
    )
    assert not has_own_permissions({"subs": 0, "bearer_token": False, "times_location": "", "resp": None})
    for own in ({"pub": {"allow": ["x"]}}, {"sub": {"deny": []}}, {"resp": {}}, {"src": []}, {"subs": -1}):
        assert has_own_permissions(own), own


def test_malformed_permissions_are_problems_not_freedom() -> None:
    assert limits_problem({"pub": {"allow": ["a.>"], "deny": None}, "sub": {}, "subs": -1}) == ""
    for bad in (
        {"pub": ["only.this"]},  # a list where an object belongs: read loosely, no restriction
        {"sub": {"deny": "secret.>"}},  # a string where a list belongs
        {"pub": {"allow": [1]}},
        {"resp": True},
        {"times": ["09:00:00-17:00:00"]},
        {"subs": "10"},
        {"allowed_connection_types": "STANDARD"},
        ["not", "an", "object"],
    ):
        assert limits_problem(bad), bad


def test_tag_templates_only_in_nats_servers_spelling() -> None:
    nats = {"tags": ["team:a"]}
    lower = {"pub": {"allow": ["t.{{tag(team)}}"]}}
    assert scoped_claims(lower, nats, name="n", subject="U", account_name="A", account_tags=[])["pub"] == {
        "allow": ["t.a"],
        "deny": None,
    }
    # nats-server recognises "Tag(" but strips only "tag(": the tag it looks for does not exist.
    upper = {"pub": {"allow": ["t.{{Tag(team)}}"]}}
    out = scoped_claims(upper, nats, name="n", subject="U", account_name="A", account_tags=[])
    assert out["pub"] == {"allow": None, "deny": [">"]}
    with pytest.raises(ScopeError):
        scoped_claims(
            {"pub": {"deny": ["t.{{Tag(team)}}"]}},
            nats,
            name="n",
            subject="U",
            account_name="A",
            account_tags=[],
        )


def test_zones_that_do_not_load_refuse_and_local_is_local() -> None:
    at = _at("2026-12-04T12:00:00")
    ranges = [{"start": "00:00:00", "end": "23:59:59"}]
    for zone in ("America", "x" * 300, "../etc/passwd"):  # a directory, too long, a path
        assert connect_window({"times": ranges, "times_location": zone}, at) == (False, 0.0), zone
    assert connect_window({"times": ranges, "times_location": "Local"}, at)[0] is True

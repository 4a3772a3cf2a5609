"""orlop.jsapi.consumer_config without a server: defaults, checks, update rules, ack bodies.

The behavioural tests (test_consumers_api.py) compare the same rules with
nats-server over the wire; these pin the pure functions directly.
"""

from __future__ import annotations

from typing import Any

import pytest

from orlop.errors import JetStreamError
from orlop.jsapi.consumer_config import (
    apply_defaults,
    check_update,
    configs_equal,
    filters,
    nak_delay,
    ordered,
    validate,
)

STREAM: dict[str, Any] = {"name": "S", "subjects": ["s.>"], "retention": "limits", "num_replicas": 1}


def normal(raw: dict[str, Any], ephemeral: bool = True) -> dict[str, Any]:
    cfg = apply_defaults(raw, STREAM, ephemeral=ephemeral)
    validate(cfg, STREAM)
    return ordered(cfg)


def test_defaults_pull_push_ack_policies() -> None:
    assert normal({"ack_policy": "explicit"}) == {
        "deliver_policy": "all",
        "ack_policy": "explicit",
        "ack_wait": 30_000_000_000,
        "max_deliver": -1,
        "replay_policy": "instant",
        "max_waiting": 512,
        "max_ack_pending": 1000,
        "inactive_threshold": 5_000_000_000,
        "num_replicas": 0,
    }
    push = normal({"deliver_subject": "d"}, ephemeral=False)
    assert "max_waiting" not in push and "ack_wait" not in push and "inactive_threshold" not in push
    assert normal({"ack_policy": "all", "backoff": [10, 20], "max_deliver": 5})["ack_wait"] == 10
    stream = {**STREAM, "consumer_limits": {"max_ack_pending": 7}}
    limited = apply_defaults({"ack_policy": "explicit"}, stream, ephemeral=False)
    assert limited["max_ack_pending"] == 7


@pytest.mark.parametrize(
    ("raw", "err_code"),
    [
        ({"deliver_subject": "s.x"}, 10081),
        ({"deliver_subject": "a.*"}, 10079),
        ({"deliver_subject": "d", "ack_policy": "none", "max_ack_pending": 3}, 10082),
        ({"num_replicas": 3}, 10074),
        ({"filter_subjects": ["a", ""]}, 10139),
        ({"deliver_policy": "new", "opt_start_time": "2024-01-01T00:00:00Z"}, 10094),
        ({"durable_name": "a", "name": "b"}, 10132),
        ({"backoff": [-1], "max_deliver": 3}, 10184),
        ({"ack_wait": -1, "ack_policy": "explicit"}, 10183),
    ],
)
def test_validation_errors(raw: dict[str, Any], err_code: int) -> None:
    cfg = apply_defaults(raw, STREAM, ephemeral=True)
    with pytest.raises(JetStreamError) as exc:
        validate(cfg, STREAM)
    assert exc.value.err_code == err_code


def test_update_rules_ignore_server_metadata() -> None:
    old = normal({"durable_name": "D", "ack_policy": "explicit"}, ephemeral=False)
    same = dict(old, metadata={"_nats.ver": "x"})
    assert configs_equal(old, same)
    check_update(old, same, bound=False)
    check_update(old, dict(old, max_ack_pending=5, description="d"), bound=False)
    for key, value, text in [
        ("deliver_policy", "new", "deliver policy can not be updated"),
        ("ack_policy", "all", "ack policy can not be updated"),
        ("deliver_subject", "x", "can not update pull consumer to push based"),
        ("max_waiting", 10, "max waiting can not be updated"),
    ]:
        with pytest.raises(JetStreamError) as exc:
            check_update(old, dict(old, **{key: value}), bound=False)
        assert (exc.value.err_code, exc.value.description) == (10012, text)


def test_filters_and_nak_delay() -> None:
    assert filters({"filter_subject": "a"}) == ["a"]
    assert filters({"filter_subjects": ["a", "b"]}) == ["a", "b"]
    assert filters({}) == []
    assert nak_delay(b"") == 0
    assert nak_delay(b'{"delay": 2000000000}') == 2_000_000_000
    assert nak_delay(b"500ms") == 500_000_000
    assert nak_delay(b"1.5s") == 1_500_000_000
    assert nak_delay(b"garbage") == 0

"""Consumer configuration: request schema, nats-server's defaults and checks, JSON order.

A config is a plain dict in the key order nats-server's ``ConsumerConfig`` struct
writes, so CONSUMER.INFO echoes what a Go client would get back. The pipeline
mirrors nats-server's create path: :func:`apply_defaults` is
``setConsumerConfigDefaults`` (max_deliver 0 -> -1, ack_wait 30 s for explicit/all,
max_ack_pending 1000 when acks are on, max_waiting 512 for pull, 5 s
inactive_threshold for ephemerals, 120 s priority_timeout for pinned_client,
flow control with a 1 s heartbeat for ``ack_policy: flow_control``),
:func:`validate` is ``checkConsumerCfg`` with the same error order and texts
(priority groups, ADR-42, last), :func:`check_update` is ``checkNewConsumerConfig``
(what an update may not change). Everything here is pure data: no stream or
server objects, only the stream's normalised config dict.

``ack_policy: flow_control`` (nats-server 2.14, API level 4) is the policy of the
consumers a sourcing stream reads through: a push consumer whose flow-control
answers carry the acknowledgement (``Nats-Last-Consumer``/``Nats-Last-Stream``),
so it has no ack wait, no backoff, no max_deliver and needs a max_ack_pending.
"""

from __future__ import annotations

import json
import re
from typing import Any

from orlop.errors import JetStreamError
from orlop.jsapi.errors import Err, js_error
from orlop.jsapi.keyorder import KeyOrder
from orlop.jsapi.schema import Enum, Schema
from orlop.jsapi.timefmt import parse_ts
from orlop.subjects import collide, has_wildcard, is_valid_subject

__all__ = [
    "CREATE_REQUEST_SCHEMA",
    "DEFAULT_ACK_WAIT",
    "DEFAULT_INACTIVE_THRESHOLD",
    "DEFAULT_MAX_ACK_PENDING",
    "DEFAULT_MAX_WAITING",
    "DEFAULT_PRIORITY_TIMEOUT",
    "FLOW_CONTROL_HEARTBEAT",
    "PRIORITY_POLICIES",
    "ack_req_level",
    "apply_defaults",
    "check_name",
    "check_update",
    "configs_equal",
    "filters",
    "is_valid_group_name",
    "nak_delay",
    "ordered",
    "priority_req_level",
    "sample_freq",
    "validate",
]

DEFAULT_ACK_WAIT = 30_000_000_000
DEFAULT_INACTIVE_THRESHOLD = 5_000_000_000
DEFAULT_MAX_ACK_PENDING = 1000
DEFAULT_MAX_WAITING = 512
DEFAULT_PRIORITY_TIMEOUT = 120_000_000_000  # nats-server's JsDefaultPinnedTTL
FLOW_CONTROL_HEARTBEAT = 1_000_000_000  # nats-server's sourceHealthHB, the only heartbeat allowed
MAX_DESCRIPTION_LEN = 4096
_MS100 = 100_000_000
_MS1 = 1_000_000
_BAD_NAME_CHARS = frozenset(" \t\r\n\f.*>\\/")
_BAD_NAME_TEXT = "consumer name can not contain '.', '*', '>', '\\', '/'"


def _choice(*allowed: str) -> Enum:
    def error(value: Any) -> str | None:
        if isinstance(value, str) and value in allowed:
            return None
        return "can not unmarshal " + json.dumps(json.dumps(value, separators=(",", ":")))

    return Enum("string", error)


def _time_error(value: Any) -> str | None:
    if not isinstance(value, str):
        return "json: cannot unmarshal number into Go value of type time.Time"
    try:
        parse_ts(value)
    except ValueError:
        return f'parsing time "\\"{value}\\"" as "\\"2006-01-02T15:04:05Z07:00\\"": cannot parse'
    return None


DELIVER_POLICIES = ("all", "last", "new", "by_start_sequence", "by_start_time", "last_per_subject")
ACK_POLICIES = ("none", "all", "explicit", "flow_control")
REPLAY_POLICIES = ("instant", "original")
PRIORITY_POLICIES = ("none", "overflow", "pinned_client", "prioritized")
_GROUP_NAME = re.compile(r"[a-zA-Z0-9/_=-]{1,16}")


def _priority_policy_error(value: Any) -> str | None:
    """Go's ``PriorityPolicy.UnmarshalJSON``: the raw JSON value in the text (even ``null``)."""
    if isinstance(value, str) and value in PRIORITY_POLICIES:
        return None
    raw = getattr(value, "literal", None)
    if not isinstance(raw, str):
        raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return f"unknown priority policy: {raw}"


def is_valid_group_name(name: str) -> bool:
    """A priority group name nats-server accepts: ``^[a-zA-Z0-9/_=-]{1,16}$``."""
    return _GROUP_NAME.fullmatch(name) is not None


CONSUMER_CONFIG_SCHEMA = Schema(
    "ConsumerConfig",
    {
        "durable_name": "string",
        "name": "string",
        "description": "string",
        "deliver_policy": _choice(*DELIVER_POLICIES),
        "opt_start_seq": "uint64",
        "opt_start_time": Enum("time.Time", _time_error),
        "ack_policy": _choice(*ACK_POLICIES),
        "ack_wait": "time.Duration",
        "max_deliver": "int",
        "backoff": "[]time.Duration",
        "filter_subject": "string",
        "filter_subjects": "[]string",
        "replay_policy": _choice(*REPLAY_POLICIES),
        "rate_limit_bps": "uint64",
        "sample_freq": "string",
        "max_waiting": "int",
        "max_ack_pending": "int",
        "flow_control": "bool",
        "headers_only": "bool",
        "max_batch": "int",
        "max_expires": "time.Duration",
        "max_bytes": "int",
        "deliver_subject": "string",
        "deliver_group": "string",
        "idle_heartbeat": "time.Duration",
        "inactive_threshold": "time.Duration",
        "num_replicas": "int",
        "mem_storage": "bool",
        "direct": "bool",
        "metadata": "map[string]string",
        "pause_until": Enum("time.Time", _time_error),
        "priority_groups": "[]string",
        "priority_policy": Enum("PriorityPolicy", _priority_policy_error),
        "priority_timeout": "time.Duration",
    },
)

CREATE_REQUEST_SCHEMA = Schema(
    "CreateConsumerRequest",
    {
        "stream_name": "string",
        "config": CONSUMER_CONFIG_SCHEMA,
        "action": _choice("", "create", "update"),
        "pedantic": "bool",
    },
)

# nats-server's ConsumerConfig field order; "?" marks omitempty fields.
_ORDER = (
    "durable_name?",
    "name?",
    "description?",
    "deliver_policy",
    "opt_start_seq?",
    "opt_start_time?",
    "ack_policy",
    "ack_wait?",
    "max_deliver?",
    "backoff?",
    "filter_subject?",
    "filter_subjects?",
    "replay_policy",
    "rate_limit_bps?",
    "sample_freq?",
    "max_waiting?",
    "max_ack_pending?",
    "flow_control?",
    "headers_only?",
    "max_batch?",
    "max_expires?",
    "max_bytes?",
    "deliver_subject?",
    "deliver_group?",
    "idle_heartbeat?",
    "inactive_threshold?",
    "num_replicas",
    "mem_storage?",
    "direct?",
    "metadata?",
    "pause_until?",
    "priority_groups?",
    "priority_policy?",
    "priority_timeout?",
)
_KEY_ORDER = KeyOrder(_ORDER, keep_unknown=False)
_KEYS = _KEY_ORDER.keys


def ordered(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` with keys in nats-server's order, empty omitempty keys dropped, unknown keys dropped."""
    return _KEY_ORDER.apply(cfg)


def _from_request(raw: dict[str, Any]) -> dict[str, Any]:
    """Go's zero values for absent/null fields, unknown keys dropped (the schema checked them)."""
    cfg: dict[str, Any] = {k: v for k, v in raw.items() if k in _KEYS and v is not None}
    cfg.setdefault("deliver_policy", "all")
    cfg.setdefault("ack_policy", "none")
    cfg.setdefault("replay_policy", "instant")
    cfg.setdefault("num_replicas", 0)
    for key in ("ack_wait", "max_deliver", "max_waiting", "max_ack_pending", "idle_heartbeat"):
        cfg[key] = int(cfg.get(key) or 0)
    cfg["inactive_threshold"] = int(cfg.get("inactive_threshold") or 0)
    cfg["opt_start_seq"] = int(cfg.get("opt_start_seq") or 0)
    if cfg.get("backoff"):
        cfg["backoff"] = [int(x) for x in cfg["backoff"]]
    return cfg


def apply_defaults(
    raw: dict[str, Any],
    stream_config: dict[str, Any],
    *,
    ephemeral: bool,
    account_max_ack_pending: int = -1,
    pedantic: bool = False,
) -> dict[str, Any]:
    """nats-server's defaults for a decoded ``config`` object (not yet validated).

    ``ephemeral`` is true when the consumer has no durable name (it then gets the 5 s
    inactive threshold when none is given). An account's ``max_ack_pending`` limit lowers
    the default as nats-server lowers it. ``ack_policy: flow_control`` turns flow control
    on with a 1 s heartbeat, whatever was asked (not when ``pedantic``: :func:`validate`
    then refuses other settings). Raises JetStreamError 10025 (a ``null`` priority policy,
    which Go's unmarshaller refuses) and, when ``pedantic``, 10157.
    """
    if "priority_policy" in raw and raw["priority_policy"] is None:
        raise js_error(Err.INVALID_JSON, err="unknown priority policy: null")
    cfg = _from_request(raw)
    _below_minus_one(cfg, pedantic=pedantic)
    _priority_defaults(cfg, pedantic=pedantic)
    limits = stream_config.get("consumer_limits") or {}
    push = bool(cfg.get("deliver_subject"))
    if not push and cfg["max_waiting"] == 0:
        cfg["max_waiting"] = DEFAULT_MAX_WAITING
    if cfg["ack_wait"] == 0 and cfg["ack_policy"] in ("explicit", "all"):
        cfg["ack_wait"] = DEFAULT_ACK_WAIT
    if cfg["max_deliver"] == 0:
        cfg["max_deliver"] = -1
    if cfg.get("backoff"):
        cfg["ack_wait"] = cfg["backoff"][0]
    if cfg["max_ack_pending"] == 0 and cfg["ack_policy"] != "none":
        cfg["max_ack_pending"] = int(limits.get("max_ack_pending") or 0)
        if cfg["max_ack_pending"] == 0:
            default = DEFAULT_MAX_ACK_PENDING
            if 0 < account_max_ack_pending < default:
                default = account_max_ack_pending
            cfg["max_ack_pending"] = default
    if cfg["inactive_threshold"] == 0 and limits.get("inactive_threshold"):
        cfg["inactive_threshold"] = int(limits["inactive_threshold"])
    if ephemeral and cfg["inactive_threshold"] == 0:
        cfg["inactive_threshold"] = DEFAULT_INACTIVE_THRESHOLD
    if cfg["ack_policy"] == "flow_control" and not pedantic:
        cfg["flow_control"] = True
        cfg["idle_heartbeat"] = FLOW_CONTROL_HEARTBEAT
    return cfg


def _below_minus_one(cfg: dict[str, Any], *, pedantic: bool) -> None:
    """``max_deliver`` and ``max_ack_pending`` below -1 mean -1 ("no limit"); pedantic: 10157."""
    for key in ("max_deliver", "max_ack_pending"):
        if cfg[key] < -1:
            if pedantic:
                raise js_error(Err.PEDANTIC, err=f"{key} must be set to -1")
            cfg[key] = -1


def _priority_defaults(cfg: dict[str, Any], *, pedantic: bool) -> None:
    """Policy ``none`` is omitted as Go omits it; a negative timeout is 0 (pedantic: 10157),
    then pinned_client gets the 120 s default."""
    if cfg.get("priority_policy") == "none":
        del cfg["priority_policy"]
    timeout = int(cfg.get("priority_timeout") or 0)
    if timeout < 0:
        if pedantic:
            raise js_error(Err.PEDANTIC, err="priority_timeout must not be negative")
        timeout = 0
    if cfg.get("priority_policy") == "pinned_client" and timeout == 0:
        timeout = DEFAULT_PRIORITY_TIMEOUT
    cfg["priority_timeout"] = timeout


def priority_req_level(raw: dict[str, Any]) -> int:
    """The API level priority groups need, judged on the request's config before defaults.

    nats-server sets ``_nats.req.level`` before its defaults, so a negative
    ``priority_timeout`` (later 0) still asks for level 1.
    """
    policy = raw.get("priority_policy") or "none"
    if policy != "none" or raw.get("priority_timeout") or raw.get("priority_groups"):
        return 1
    return 0


def ack_req_level(cfg: dict[str, Any]) -> int:
    """The API level the ack policy needs: 4 for ``flow_control`` (nats-server 2.14), else 0."""
    return 4 if cfg.get("ack_policy") == "flow_control" else 0


def filters(cfg: dict[str, Any]) -> list[str]:
    """The consumer's subject filters (``[]`` = the whole stream)."""
    if cfg.get("filter_subjects"):
        return list(cfg["filter_subjects"])
    if cfg.get("filter_subject"):
        return [cfg["filter_subject"]]
    return []


def check_name(name: str) -> None:
    """Consumer/durable name rules. Raises JetStreamError 10052.

    nats-server 2.15 accepts names longer than 255 characters; so do we (a file
    stream then fails to persist such a consumer and keeps it in memory only).
    """
    if any(c in _BAD_NAME_CHARS for c in name):
        raise js_error(Err.STREAM_INVALID_CONFIG, err=_BAD_NAME_TEXT)


def _policy(text: str) -> JetStreamError:
    return js_error(Err.CONSUMER_INVALID_POLICY, err=text)


def _check_push(cfg: dict[str, Any], stream_config: dict[str, Any]) -> None:
    ds = cfg["deliver_subject"]
    if has_wildcard(ds):
        raise js_error(Err.CONSUMER_DELIVER_TO_WILDCARDS)
    if not is_valid_subject(ds):
        raise js_error(Err.CONSUMER_INVALID_DELIVER_SUBJECT)
    if any(collide(ds, s) for s in stream_config.get("subjects") or []):
        raise js_error(Err.CONSUMER_DELIVER_CYCLE)
    if cfg["max_waiting"] != 0:
        raise js_error(Err.CONSUMER_PUSH_MAX_WAITING)
    if cfg["max_ack_pending"] > 0 and cfg["ack_policy"] == "none":
        raise js_error(Err.CONSUMER_MAX_PENDING_ACK_POLICY_REQUIRED)
    if 0 < cfg["idle_heartbeat"] < _MS100:
        raise js_error(Err.CONSUMER_SMALL_HEARTBEAT)


def _check_pull(cfg: dict[str, Any], stream_config: dict[str, Any]) -> None:
    if cfg["ack_policy"] == "none" and stream_config.get("retention") == "workqueue":
        raise js_error(Err.CONSUMER_PULL_REQUIRES_ACK)
    if cfg.get("rate_limit_bps"):
        raise js_error(Err.CONSUMER_PULL_WITH_RATE_LIMIT)
    if cfg["max_waiting"] < 0:
        raise js_error(Err.CONSUMER_MAX_WAITING_NEGATIVE)
    if cfg["idle_heartbeat"] > 0:
        raise js_error(Err.CONSUMER_HB_REQUIRES_PUSH)
    if cfg.get("flow_control"):
        raise js_error(Err.CONSUMER_FC_REQUIRES_PUSH)
    if int(cfg.get("max_batch") or 0) < 0:
        raise js_error(Err.CONSUMER_MAX_REQUEST_BATCH_NEGATIVE)
    if 0 != int(cfg.get("max_expires") or 0) < _MS1:
        raise js_error(Err.CONSUMER_MAX_REQUEST_EXPIRES_TOO_SMALL)


def _check_filters(cfg: dict[str, Any]) -> None:
    fs, many = cfg.get("filter_subject") or "", cfg.get("filter_subjects") or []
    if fs and many:
        raise js_error(Err.CONSUMER_DUPLICATE_FILTER_SUBJECTS)
    if fs and not is_valid_subject(fs):
        raise js_error(Err.STREAM_INVALID_CONFIG, err="consumer filter subject is not a valid subject")
    for i, f in enumerate(many):
        if not f:
            raise js_error(Err.CONSUMER_EMPTY_FILTER)
        if not is_valid_subject(f):
            raise js_error(Err.STREAM_INVALID_CONFIG, err="consumer filter subject is not a valid subject")
        if any(collide(f, g) for g in many[i + 1 :]):
            raise js_error(Err.CONSUMER_OVERLAPPING_SUBJECT_FILTERS)


def _check_start(cfg: dict[str, Any]) -> None:
    dp, seq, tm = cfg["deliver_policy"], cfg["opt_start_seq"], cfg.get("opt_start_time")
    words = {
        "all": "all",
        "last": "last",
        "new": "new",
        "last_per_subject": "last per subject",
        "by_start_sequence": "by start sequence",
        "by_start_time": "by start time",
    }[dp]

    def also(what: str) -> JetStreamError:
        return _policy(f"consumer delivery policy is deliver {words}, but optional start {what} is also set")

    def missing(what: str) -> JetStreamError:
        return _policy(f"consumer delivery policy is deliver {words}, but optional {what} is not set")

    if dp in ("all", "last", "new", "last_per_subject"):
        if seq > 0:
            raise also("sequence")
        if tm:
            raise also("time")
        if dp == "last_per_subject" and not filters(cfg):
            raise missing("filter subject")
    elif dp == "by_start_sequence":
        if seq == 0:
            raise missing("start sequence")
        if tm:
            raise also("time")
    elif dp == "by_start_time":
        if not tm:
            raise missing("start time")
        if seq:
            raise also("sequence")


def validate(cfg: dict[str, Any], stream_config: dict[str, Any]) -> None:
    """``checkConsumerCfg`` on a defaulted config, in nats-server's order. Raises JetStreamError."""
    replicas = cfg["num_replicas"]
    if replicas > 1:  # a single server, as nats-server outside a cluster
        raise js_error(Err.STREAM_REPLICAS_NOT_SUPPORTED)
    durable, name = cfg.get("durable_name") or "", cfg.get("name") or ""
    for n in (name, durable):
        if n:
            check_name(n)
    if replicas > 0 and replicas > int(stream_config.get("num_replicas") or 1):
        raise js_error(Err.CONSUMER_REPLICAS_EXCEEDS_STREAM)
    if replicas < 0:
        raise js_error(Err.REPLICAS_COUNT_CANNOT_BE_NEGATIVE)
    backoff = cfg.get("backoff") or []
    if any(b < 0 for b in backoff):
        raise js_error(Err.CONSUMER_BACKOFF_NEGATIVE)
    if cfg["ack_wait"] < 0:
        raise js_error(Err.CONSUMER_ACK_WAIT_NEGATIVE)
    if cfg["ack_policy"] == "flow_control":
        _check_ack_flow_control(cfg)
    if 0 in backoff:  # Orlop refuses a zero backoff (nats-server takes it as "no ack wait")
        raise js_error(Err.CONSUMER_BACKOFF_NEGATIVE)
    if backoff and cfg["max_deliver"] != -1 and len(backoff) > cfg["max_deliver"]:
        raise js_error(Err.CONSUMER_MAX_DELIVER_BACKOFF)
    if len(cfg.get("description") or "") > MAX_DESCRIPTION_LEN:
        raise js_error(Err.CONSUMER_DESCRIPTION_TOO_LONG, max=MAX_DESCRIPTION_LEN)
    if cfg.get("deliver_subject"):
        _check_push(cfg, stream_config)
    else:
        _check_pull(cfg, stream_config)
    _check_filters(cfg)
    _check_start(cfg)
    _check_sampling(cfg)
    if cfg.get("flow_control") and cfg["idle_heartbeat"] == 0:
        raise js_error(Err.CONSUMER_WITH_FLOW_CONTROL_NEEDS_HEARTBEATS)
    if durable and name and durable != name:
        raise js_error(Err.CONSUMER_CREATE_DURABLE_AND_NAME_MISMATCH)
    _check_priority(cfg)


def _check_ack_flow_control(cfg: dict[str, Any]) -> None:
    """``ack_policy: flow_control``: a flow-controlled push consumer with a 1 s heartbeat and
    a max_ack_pending, acknowledged only through flow control (no ack wait, backoff or
    max_deliver). Raises JetStreamError 10218-10222, 10052."""
    if not cfg.get("deliver_subject"):
        raise js_error(Err.CONSUMER_ACK_FC_REQUIRES_PUSH)
    if not cfg.get("flow_control"):
        raise js_error(Err.CONSUMER_ACK_FC_REQUIRES_FC)
    if cfg["idle_heartbeat"] != FLOW_CONTROL_HEARTBEAT:
        raise js_error(Err.STREAM_INVALID_CONFIG, err="flow control ack policy heartbeat needs to be 1s")
    if cfg["max_ack_pending"] <= 0:
        raise js_error(Err.CONSUMER_ACK_FC_REQUIRES_MAX_ACK_PENDING)
    if cfg["ack_wait"] != 0 or cfg.get("backoff"):
        raise js_error(Err.CONSUMER_ACK_FC_REQUIRES_NO_ACK_WAIT)
    if cfg["max_deliver"] > 0:
        raise js_error(Err.CONSUMER_ACK_FC_REQUIRES_NO_MAX_DELIVER)


def _check_priority(cfg: dict[str, Any]) -> None:
    """ADR-42 settings, after every other check (as nats-server orders them)."""
    groups = cfg.get("priority_groups") or []
    if cfg.get("priority_policy", "none") != "none":
        if cfg.get("deliver_subject"):
            raise js_error(Err.CONSUMER_PUSH_WITH_PRIORITY_GROUP)
        if not groups:
            raise js_error(Err.CONSUMER_PRIORITY_POLICY_WITHOUT_GROUP)
        for group in groups:
            if not group:
                raise js_error(Err.CONSUMER_EMPTY_GROUP_NAME)
            if not is_valid_group_name(group):
                raise js_error(Err.CONSUMER_INVALID_GROUP_NAME)
        return
    if groups:
        raise js_error(Err.CONSUMER_PRIORITY_GROUP_WITH_POLICY_NONE)
    if int(cfg.get("priority_timeout") or 0) > 0:
        raise js_error(Err.CONSUMER_PINNED_TTL_WITHOUT_PRIORITY_POLICY_NONE)


def _strip_server_meta(cfg: dict[str, Any]) -> dict[str, Any]:
    c = dict(cfg)
    meta = {k: v for k, v in (c.get("metadata") or {}).items() if not k.startswith("_nats.")}
    if meta:
        c["metadata"] = meta
    else:
        c.pop("metadata", None)
    return ordered(c)


def configs_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal as consumer configs, ignoring server-owned ``_nats.*`` metadata."""
    return _strip_server_meta(a) == _strip_server_meta(b)


def _fail(text: str) -> JetStreamError:
    return js_error(Err.CONSUMER_CREATE, err=text)


def check_update(old: dict[str, Any], new: dict[str, Any], *, bound: bool) -> None:
    """``checkNewConsumerConfig``: raise 10012 when ``new`` changes what may not change.

    ``bound`` says whether the old deliver subject currently has a subscriber.
    """
    if configs_equal(old, new):
        return
    rules = (
        ("deliver_policy", "deliver policy can not be updated"),
        ("opt_start_seq", "start sequence can not be updated"),
        ("opt_start_time", "start time can not be updated"),
        ("ack_policy", "ack policy can not be updated"),
        ("replay_policy", "replay policy can not be updated"),
        ("idle_heartbeat", "heart beats can not be updated"),
        ("flow_control", "flow control can not be updated"),
    )
    for key, text in rules:
        if (old.get(key) or None) != (new.get(key) or None):
            raise _fail(text)
    ods, nds = old.get("deliver_subject") or "", new.get("deliver_subject") or ""
    if ods != nds:
        if not ods:
            raise _fail("can not update pull consumer to push based")
        if not nds:
            raise _fail("can not update push consumer to pull based")
        if bound:
            raise _fail("can not update deliver subject for push consumer that is bound")
    if (old.get("max_waiting") or 0) != (new.get("max_waiting") or 0):
        raise _fail("max waiting can not be updated")
    backoff = new.get("backoff") or []
    if backoff and new["max_deliver"] != -1 and len(backoff) > new["max_deliver"]:
        raise js_error(Err.CONSUMER_MAX_DELIVER_BACKOFF)


_GO_INT = re.compile(r"[+-]?[0-9]+")


def _check_sampling(cfg: dict[str, Any]) -> None:
    """``sample_freq``: "N" or "N%", N a non-negative integer; 10095 with Go's words otherwise."""
    text = str(cfg.get("sample_freq") or "")
    if not text:
        return
    number = text.removesuffix("%")
    quoted = json.dumps(number, ensure_ascii=False)
    if not _GO_INT.fullmatch(number):
        err = f"strconv.Atoi: parsing {quoted}: invalid syntax"
    elif not -(2**63) <= int(number) < 2**63:
        err = f"strconv.Atoi: parsing {quoted}: value out of range"
    elif int(number) < 0:
        err = "<nil>"  # nats-server formats its nil error into the text
    else:
        return
    raise js_error(Err.CONSUMER_INVALID_SAMPLING, err=err)


def sample_freq(cfg: dict[str, Any]) -> int:
    """The share of acks ``sample_freq`` asks metrics for, in per cent (0: none)."""
    number = str(cfg.get("sample_freq") or "").removesuffix("%")
    return int(number) if _GO_INT.fullmatch(number) else 0


def nak_delay(rest: bytes) -> int:
    """The delay of ``-NAK {"delay": ns}`` (or ``-NAK 2s``-style Go durations); 0 when none."""
    rest = rest.strip()
    if not rest:
        return 0
    if rest.startswith(b"{"):
        try:
            value = json.loads(rest).get("delay", 0)
        except (ValueError, AttributeError):
            return 0
        return int(value) if isinstance(value, (int, float)) else 0
    return _go_duration(rest.decode(errors="replace"))


_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def _go_duration(text: str) -> int:
    """A single-unit Go duration (``500ms``, ``2s``, ``1.5m``); 0 when unparsable."""
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            try:
                return int(float(text[: -len(unit)]) * _UNITS[unit])
            except ValueError:
                return 0
    return 0

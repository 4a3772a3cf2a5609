"""Stream configuration: request schema, nats-server's normalisation and checks, JSON order.

A config is a plain dict in the key order nats-server writes (so STREAM.INFO
echoes exactly what a Go client would get back). :func:`normalise` applies
``checkStreamCfg``: defaults (``storage`` file, ``num_replicas`` 1, zero
limits to -1, the 2-minute duplicate window clamped by ``max_age``,
``subjects`` defaulting to the stream name) and every validation error with
its exact text. :func:`check_update` adds the rules of ``configUpdateCheck``
(what an update may not change; sealing forces its limits).

Server-owned metadata keys (``_nats.*``) are stamped by :func:`with_server_metadata`
and ignored when comparing configs, because clients echo them back on update.
"""

from __future__ import annotations

import json
from typing import Any

from orlop.errors import JetStreamError
from orlop.jsapi.errors import Err, js_error
from orlop.jsapi.keyorder import KeyOrder
from orlop.jsapi.schema import Enum, Schema, check
from orlop.jsapi.subject_transform import SubjectTransform
from orlop.subjects import collide, is_subset, is_valid_subject

__all__ = [
    "DEFAULT_DUPLICATE_WINDOW",
    "STREAM_CONFIG_SCHEMA",
    "check_update",
    "configs_equal",
    "normalise",
    "ordered",
    "required_level",
    "valid_name",
    "with_server_metadata",
]

DEFAULT_DUPLICATE_WINDOW = 120_000_000_000
MAX_NAME_LEN = 255
MAX_DESCRIPTION_LEN = 4096
MAX_METADATA_LEN = 128 * 1024
_MS100 = 100_000_000
_BAD_NAME_CHARS = frozenset(" \t\r\n\f.*>\\/")


def _choice(*allowed: str) -> Enum:
    def error(value: Any) -> str | None:
        if isinstance(value, str) and value.lower() in allowed:
            return None
        return "can not unmarshal " + json.dumps(json.dumps(value))

    return Enum("string", error)


def _exact_choice(*allowed: str) -> Enum:
    """A string enum compared exactly (Go's ``UnmarshalJSON`` for ``persist_mode`` is case-sensitive)."""

    def error(value: Any) -> str | None:
        if isinstance(value, str) and value in allowed:
            return None
        return "can not unmarshal " + json.dumps(json.dumps(value))

    return Enum("string", error)


def _compression_error(value: Any) -> str | None:
    if isinstance(value, str) and value.lower() in ("none", "s2", ""):
        return None
    return "unknown compression algorithm"


_SOURCE = Schema("StreamSource", lenient=True)
STREAM_CONFIG_SCHEMA = Schema(
    "StreamConfigRequest",
    {
        "name": "string",
        "description": "string",
        "subjects": "[]string",
        "retention": _choice("limits", "interest", "workqueue"),
        "max_consumers": "int",
        "max_msgs": "int64",
        "max_bytes": "int64",
        "max_age": "time.Duration",
        "max_msgs_per_subject": "int64",
        "max_msg_size": "int32",
        "discard": _choice("old", "new"),
        "storage": _choice("file", "memory"),
        "num_replicas": "int",
        "no_ack": "bool",
        "template_owner": "string",
        "duplicate_window": "time.Duration",
        "placement": Schema("Placement", {"cluster": "string", "tags": "[]string", "preferred": "string"}),
        "mirror": _SOURCE,
        "sources": "any",
        "compression": Enum("StoreCompression", _compression_error),
        "first_seq": "uint64",
        "subject_transform": Schema("SubjectTransformConfig", {"src": "string", "dest": "string"}),
        "republish": Schema("RePublish", {"src": "string", "dest": "string", "headers_only": "bool"}),
        "allow_direct": "bool",
        "mirror_direct": "bool",
        "discard_new_per_subject": "bool",
        "sealed": "bool",
        "deny_delete": "bool",
        "deny_purge": "bool",
        "allow_rollup_hdrs": "bool",
        "consumer_limits": Schema(
            "StreamConsumerLimits", {"inactive_threshold": "time.Duration", "max_ack_pending": "int"}
        ),
        "allow_msg_ttl": "bool",
        "subject_delete_marker_ttl": "time.Duration",
        "allow_msg_counter": "bool",
        "allow_atomic": "bool",
        "allow_msg_schedules": "bool",
        "allow_batched": "bool",
        "persist_mode": _exact_choice("default", "async", ""),
        "metadata": "map[string]string",
        "pedantic": "bool",
    },
)

# Output order = nats-server's StreamConfig struct order; "?" marks omitempty keys.
_ORDER = (
    "name", "description?", "subjects?", "retention", "max_consumers", "max_msgs",
    "max_bytes", "max_age", "max_msgs_per_subject", "max_msg_size?", "discard", "storage", "num_replicas",
    "no_ack?", "template_owner?", "duplicate_window?", "placement?", "mirror?", "sources?", "compression",
    "first_seq?", "subject_transform?", "republish?", "allow_direct", "mirror_direct",
    "discard_new_per_subject?", "sealed", "deny_delete", "deny_purge", "allow_rollup_hdrs", "consumer_limits",
    "allow_msg_ttl",
    "subject_delete_marker_ttl?", "allow_msg_counter?", "allow_atomic?", "allow_msg_schedules?",
    "persist_mode?", "allow_batched?", "metadata?",
)  # fmt: skip
_KEY_ORDER = KeyOrder(_ORDER, keep_unknown=True)

_DEFAULTS: dict[str, Any] = {
    "name": "", "subjects": [], "retention": "limits", "max_consumers": 0, "max_msgs": 0, "max_bytes": 0,
    "max_age": 0, "max_msgs_per_subject": 0, "max_msg_size": 0, "discard": "old", "storage": "",
    "num_replicas": 0, "duplicate_window": 0, "compression": "none", "allow_direct": False,
    "mirror_direct": False, "sealed": False, "deny_delete": False, "deny_purge": False,
    "allow_rollup_hdrs": False, "consumer_limits": {}, "allow_msg_ttl": False,
}  # fmt: skip

# Stream features of a later API level that this server does not do yet: refused with a clear
# error rather than accepted and ignored. A feature leaves this list in the commit that builds it.
_UNSUPPORTED_TRUE: tuple[str, ...] = ()


def valid_name(name: str) -> bool:
    """nats-server's ``isValidName`` for streams: non-empty, no ``. * > \\ /`` or whitespace."""
    return bool(name) and not (_BAD_NAME_CHARS & set(name))


def _invalid(text: str) -> JetStreamError:
    return js_error(Err.STREAM_INVALID_CONFIG, err=text)


def _from_request(body: dict[str, Any]) -> dict[str, Any]:
    """Defaults for absent/null keys, lower-cased enums; the request's ``pedantic`` dropped."""
    cfg = dict(_DEFAULTS)
    for k, v in body.items():
        if v is not None and k != "pedantic":
            cfg[k] = v
    for k in ("retention", "discard", "storage", "compression"):
        cfg[k] = str(cfg[k]).lower()
    if cfg.get("persist_mode") in ("", "default"):
        cfg.pop("persist_mode")  # omitted when default, as nats-server writes it
    if cfg["compression"] == "":
        cfg["compression"] = "none"
    cfg["subjects"] = list(cfg.get("subjects") or [])
    return cfg


def _check_basics(cfg: dict[str, Any]) -> None:
    name = cfg["name"]
    if not valid_name(name):
        raise _invalid("stream name is required and can not contain '.', '*', '>', '\\', '/'")
    if len(name) > MAX_NAME_LEN:
        raise _invalid(f"stream name is too long, maximum allowed is {MAX_NAME_LEN}")
    if len(cfg.get("description", "")) > MAX_DESCRIPTION_LEN:
        raise _invalid(f"stream description is too long, maximum allowed is {MAX_DESCRIPTION_LEN}")
    meta = cfg.get("metadata") or {}
    if sum(len(k) + len(v) for k, v in meta.items()) > MAX_METADATA_LEN:
        raise _invalid(f"stream metadata exceeds maximum size of {MAX_METADATA_LEN} bytes")
    for key in _UNSUPPORTED_TRUE:
        if cfg.pop(key, False):
            raise _invalid(f"{key} is not supported by this server")
    if cfg.get("mirror") or cfg.get("sources"):
        raise _invalid("stream mirrors and sources are not supported by this server")


def _apply_limits_defaults(cfg: dict[str, Any]) -> None:
    if not cfg["storage"]:
        cfg["storage"] = "file"
    if cfg["num_replicas"] == 0:
        cfg["num_replicas"] = 1
    if cfg["num_replicas"] > 5:
        raise _invalid("maximum replicas is 5")
    if cfg["num_replicas"] < 0:
        raise js_error(Err.REPLICAS_COUNT_CANNOT_BE_NEGATIVE)
    for key in ("max_msgs", "max_msgs_per_subject", "max_bytes", "max_msg_size", "max_consumers"):
        if cfg[key] == 0:
            cfg[key] = -1
    if cfg["duplicate_window"] == 0:
        age = cfg["max_age"]
        small_age = age != 0 and age < DEFAULT_DUPLICATE_WINDOW
        cfg["duplicate_window"] = age if small_age else DEFAULT_DUPLICATE_WINDOW


def _check_counters(cfg: dict[str, Any]) -> None:
    """ADR-49: a counter stream keeps every increment, so nothing may discard or expire one silently."""
    if not cfg.get("allow_msg_counter"):
        return
    if cfg["discard"] == "new":
        raise _invalid("counter stream cannot use discard new")
    if cfg.get("allow_msg_ttl"):
        raise _invalid("counter stream cannot use message TTLs")
    if cfg.get("allow_msg_schedules"):
        raise _invalid("counter stream cannot use message schedules")
    if cfg["retention"] != "limits":
        raise _invalid("counter stream can only use limits retention")


def _check_schedules_and_persist(cfg: dict[str, Any], pedantic: bool) -> None:
    """ADR-51 schedules need roll-ups (a new schedule replaces the old); the persist-mode rules."""
    if cfg.get("allow_msg_schedules"):
        if cfg["discard"] == "new":
            raise _invalid("message scheduling cannot use discard new")
        if not cfg["allow_rollup_hdrs"]:
            if pedantic:  # nats-server reports it as an invalid config, not as a pedantic error
                raise _invalid("message scheduling cannot be set if roll-ups are disabled")
            cfg.update(allow_rollup_hdrs=True, deny_purge=False)
    if cfg.get("persist_mode") == "async":
        if cfg["storage"] != "file":
            raise _invalid("async persist mode is only supported on file storage")
        if cfg["num_replicas"] > 1:
            raise _invalid("async persist mode is not supported on replicated streams")
        if cfg.get("allow_atomic"):
            raise _invalid("async persist mode is not supported with atomic batch publish")


def _check_windows(cfg: dict[str, Any]) -> None:
    age, dup = cfg["max_age"], cfg["duplicate_window"]
    if age < 0:
        raise _invalid("max age can not be negative")
    if 0 < age < _MS100:
        raise _invalid("max age needs to be >= 100ms")
    if dup < 0:
        raise _invalid("duplicates window can not be negative")
    if age != 0 and dup > age:
        raise _invalid("duplicates window can not be larger then max age")
    if 0 < dup < _MS100:
        raise _invalid("duplicates window needs to be >= 100ms")
    marker = cfg.get("subject_delete_marker_ttl", 0)
    if marker < 0:
        raise _invalid("subject delete marker TTL must not be negative")
    if marker > 0:
        if marker < 1_000_000_000:
            raise _invalid("subject delete marker TTL must be at least 1 second")
        # Markers are TTL'd rollup messages, so nats-server turns on what they need.
        cfg.update(allow_msg_ttl=True, allow_rollup_hdrs=True, deny_purge=False)
    if cfg["deny_purge"] and cfg["allow_rollup_hdrs"]:
        raise _invalid("roll-ups require the purge permission")
    if cfg.get("discard_new_per_subject"):
        if cfg["discard"] != "new":
            raise _invalid("discard new per subject requires discard new policy to be set")
        if cfg["max_msgs_per_subject"] <= 0:
            raise _invalid("discard new per subject requires max msgs per subject > 0")


def _check_subjects(cfg: dict[str, Any]) -> None:
    subjects: list[str] = cfg["subjects"]
    if not subjects:
        subjects.append(cfg["name"])
        return
    for subj in subjects:
        if not is_valid_subject(subj):
            raise _invalid("invalid subject")
        if subj == ">":
            if not cfg.get("no_ack"):
                raise _invalid("capturing all subjects requires no-ack to be true")
            if cfg["num_replicas"] != 1:
                raise _invalid("capturing all subjects requires replicas of 1")
        in_api = is_subset(subj, "$JS.>") or is_subset(subj, "$JSC.>")
        if not cfg.get("no_ack") and in_api and not is_subset(subj, "$JS.EVENT.>"):
            raise _invalid("subjects that overlap with jetstream api require no-ack to be true")
        if not cfg.get("no_ack") and is_subset(subj, "$SYS.>") and not is_subset(subj, "$SYS.ACCOUNT.>"):
            raise _invalid("subjects that overlap with system api require no-ack to be true")
    if len(subjects) > 1:
        for i, a in enumerate(subjects):
            for j, b in enumerate(subjects):
                if i != j and collide(a, b):
                    raise _invalid(f"subject {json.dumps(a)} overlaps with {json.dumps(b)}")


def _check_republish(cfg: dict[str, Any]) -> None:
    """``republish``: ``src`` defaults to ``>``; no cycle into the stream; a mappable transform."""
    rp = cfg.get("republish")
    if not rp:
        return
    rp = dict(rp)
    rp["src"] = rp.get("src") or ">"
    dest = rp.get("dest") or ""
    if dest and any(collide(dest, subj) for subj in cfg["subjects"]):
        raise _invalid("stream configuration for republish destination forms a cycle")
    try:
        SubjectTransform(rp["src"], dest)
    except ValueError:
        raise _invalid(
            f"stream configuration for republish with transform from '{rp['src']}' to '{dest}' not valid"
        ) from None
    order = ("src", "dest", "headers_only")
    cfg["republish"] = {k: rp[k] for k in order if rp.get(k) not in (None, False)}


def _check_input_transform(cfg: dict[str, Any]) -> None:
    """``subject_transform`` rewrites incoming subjects before they are stored (10155/10156)."""
    tr = cfg.get("subject_transform")
    if not tr:
        return
    src, dest = tr.get("src") or "", tr.get("dest") or ""
    if src and not is_valid_subject(src):
        raise js_error(Err.STREAM_TRANSFORM_INVALID_SOURCE, err=f"invalid subject {src}")
    try:
        SubjectTransform(src or ">", dest)
    except ValueError:
        raise js_error(Err.STREAM_TRANSFORM_INVALID_DESTINATION, err="invalid subject") from None
    cfg["subject_transform"] = {"src": src, "dest": dest}


def normalise(body: dict[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """Check a decoded StreamConfigRequest and return the normalised config (ordered).

    Raises JetStreamError: 10025 (schema), 10052 (invalid config, nats-server's text), 10133.
    """
    check(body, STREAM_CONFIG_SCHEMA, strict=strict)
    cfg = _from_request(body)
    _check_basics(cfg)
    _apply_limits_defaults(cfg)
    _check_counters(cfg)
    _check_windows(cfg)
    _check_schedules_and_persist(cfg, bool(body.get("pedantic")))
    _check_subjects(cfg)
    _check_republish(cfg)
    _check_input_transform(cfg)
    if (cfg.get("placement") or {}).get("preferred"):
        raise _invalid("preferred server not permitted in placement")
    if cfg.get("metadata"):
        cfg["metadata"] = dict(sorted(cfg["metadata"].items()))
    return ordered(cfg)


def ordered(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` with keys in nats-server's order; empty omitempty keys dropped; unknown keys last."""
    return _KEY_ORDER.apply(cfg)


def _strip_server_meta(cfg: dict[str, Any]) -> dict[str, Any]:
    c = dict(cfg)
    meta = {k: v for k, v in (c.get("metadata") or {}).items() if not k.startswith("_nats.")}
    if meta:
        c["metadata"] = meta
    else:
        c.pop("metadata", None)
    return c


def configs_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal as configs, ignoring server-owned ``_nats.*`` metadata."""
    return _strip_server_meta(a) == _strip_server_meta(b)


def required_level(cfg: dict[str, Any]) -> int:
    """The API level a stream config needs (nats-server's ``setStaticStreamMetadata``): the highest
    level among the features it uses."""
    if cfg.get("allow_batched"):
        return 4
    level2 = ("allow_msg_counter", "allow_atomic", "allow_msg_schedules")
    if any(cfg.get(k) for k in level2) or cfg.get("persist_mode") == "async":
        return 2
    return 1 if cfg.get("allow_msg_ttl") or cfg.get("subject_delete_marker_ttl") else 0


def with_server_metadata(cfg: dict[str, Any], version: str, api_level: int) -> dict[str, Any]:
    """``cfg`` with ``_nats.level``/``_nats.req.level``/``_nats.ver`` set (sorted, as Go writes maps)."""
    meta = {k: v for k, v in (cfg.get("metadata") or {}).items() if not k.startswith("_nats.")}
    req_level = required_level(cfg)
    meta.update({"_nats.level": str(api_level), "_nats.req.level": str(req_level), "_nats.ver": version})
    out = dict(cfg)
    out["metadata"] = dict(sorted(meta.items()))
    return ordered(out)


def check_update(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Validate an update of ``old`` (normalised) to ``new`` (normalised); returns the config to apply.

    Raises JetStreamError 10052 with nats-server's texts.
    """
    if new["name"] != old["name"]:
        raise _invalid("stream configuration name must match original")
    if new["storage"] != old["storage"]:
        raise _invalid("stream configuration update can not change storage type")
    if new["retention"] != old["retention"] and "workqueue" in (old["retention"], new["retention"]):
        raise _invalid("stream configuration update can not change retention policy to/from workqueue")
    if old.get("sealed") and not new.get("sealed"):
        raise _invalid("stream configuration update can not unseal a sealed stream")
    if old.get("deny_delete") and not new.get("deny_delete"):
        raise _invalid("stream configuration update can not cancel deny message deletes")
    if old.get("deny_purge") and not new.get("deny_purge"):
        raise _invalid("stream configuration update can not cancel deny purge")
    if old.get("allow_msg_ttl") and not new.get("allow_msg_ttl"):
        raise _invalid("message TTL status can not be disabled")
    if bool(old.get("allow_msg_counter")) != bool(new.get("allow_msg_counter")):
        raise _invalid("stream configuration update can not change message counter setting")
    if old.get("allow_msg_schedules") and not new.get("allow_msg_schedules"):
        raise _invalid("message schedules can not be disabled")
    if old.get("persist_mode", "default") != new.get("persist_mode", "default"):
        raise _invalid("stream configuration update can not change persist mode")
    cfg = dict(new)
    if cfg.get("sealed"):
        cfg.update(max_age=0, discard="new", deny_delete=True, deny_purge=True, allow_rollup_hdrs=False)
    return ordered(cfg)

"""The ``jetstream { ... }`` block (or ``jetstream: true/enabled``).

Encryption at rest takes nats-server's spellings (``cipher``, ``key``/``ek``/
``encryption_key``, ``prev_key``/``prev_ek``/``prev_encryption_key``; see
:mod:`orlop.server.jetstream.atrest`). A TPM-held key and the server-wide
``limits`` other than ``batch`` are refused until Orlop implements them: limits that
would not be enforced, or a key that would not be used, must not start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from orlop.errors import ConfigError
from orlop.server.config.values import as_bool, as_int, as_seconds, as_str, bad, where
from orlop.server.options import ServerOptions

__all__ = ["set_jetstream"]

log = logging.getLogger("orlop.server.config")

_REFUSED_JETSTREAM = {
    "tpm": "encryption at rest with a TPM",
}
_REFUSED_LIMITS = {
    "max_request_batch": "the largest pull request batch",
    "max_ack_pending": "the server-wide max ack pending",
    "max_ha_assets": "the number of replicated assets",
    "duplicate_window": "the largest duplicate window",
}


def _key_text(block: Mapping[str, Any], sub: str) -> str:
    """A key as text (nats-server takes the string as it is; a number is its digits)."""
    value = block[sub]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad(block, sub, "a string")
    text = str(value)
    if not text:
        raise ConfigError(f"{where(block, sub)}: jetstream.{sub} is empty")
    return text


def set_jetstream(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    value = conf[key]
    if isinstance(value, bool):
        o.jetstream = value
    elif isinstance(value, str) and value.lower() in ("enabled", "enable", "disabled", "disable"):
        o.jetstream = value.lower().startswith("enable")
    elif isinstance(value, Mapping):
        o.jetstream = True
        for sub in value:
            _set_jetstream_key(value, sub, o)
    else:
        raise bad(conf, key, "true, false, enabled, disabled or a map")


def _set_jetstream_key(block: Mapping[str, Any], sub: str, o: ServerOptions) -> None:
    low = sub.lower()
    if low == "enabled":
        o.jetstream = as_bool(block, sub)
    elif low in ("store_dir", "storedir", "store"):
        o.store_dir = as_str(block, sub)
    elif low in ("max_memory_store", "max_mem_store", "max_mem"):
        o.max_memory_store = as_int(block, sub)
    elif low in ("max_file_store", "max_file"):
        o.max_file_store = as_int(block, sub)
    elif low == "store_reserve":  # Orlop's own: free space kept on the store's disk
        o.store_reserve = as_int(block, sub)
    elif low in ("key", "ek", "encryption_key"):
        o.jetstream_key = _key_text(block, sub)
    elif low in ("prev_key", "prev_ek", "prev_encryption_key"):
        o.jetstream_prev_key = _key_text(block, sub)
    elif low == "cipher":
        name = as_str(block, sub).lower()
        if name not in ("chacha", "chachapoly", "aes"):
            raise ConfigError(f'{where(block, sub)}: Unknown cipher type: "{block[sub]}"')
        o.jetstream_cipher = "aes" if name == "aes" else "chachapoly"
    elif low == "limits":
        _set_limits(block, sub, o)
    elif low in _REFUSED_JETSTREAM:
        raise ConfigError(
            f"{where(block, sub)}: jetstream.{sub} ({_REFUSED_JETSTREAM[low]}) is not "
            "supported by Orlop yet; refusing to start without what it configures"
        )
    elif low in ("sync", "sync_interval"):  # nats-server accepts both spellings
        if isinstance(block[sub], str) and block[sub].lower() == "always":
            o.sync_always = True
        else:
            o.sync_interval = as_seconds(block, sub)
    else:
        log.warning("%s: jetstream.%s is not supported by Orlop; ignored", where(block, sub), sub)


def _set_limits(block: Mapping[str, Any], sub: str, o: ServerOptions) -> None:
    """``limits { batch { max_msgs, max_inflight_per_stream, max_inflight_total, timeout } }``."""
    limits = block[sub]
    if not isinstance(limits, Mapping):
        raise bad(block, sub, "a map")
    for name in limits:
        low = name.lower()
        if low == "batch":
            _set_batch_limits(limits, name, o)
        elif low in _REFUSED_LIMITS:
            raise ConfigError(
                f"{where(limits, name)}: jetstream.limits.{name} ({_REFUSED_LIMITS[low]}) is not "
                "supported by Orlop yet; refusing to start without what it configures"
            )
        else:
            raise ConfigError(f"{where(limits, name)}: unknown field {name!r} in jetstream.limits")


def _set_batch_limits(limits: Mapping[str, Any], sub: str, o: ServerOptions) -> None:
    batch = limits[sub]
    if not isinstance(batch, Mapping):
        raise bad(limits, sub, "a map")
    for name in batch:
        low = name.lower()
        if low == "max_msgs":
            o.batch_max_msgs = _positive(batch, name)
        elif low == "max_inflight_per_stream":
            o.batch_max_inflight_per_stream = _positive(batch, name)
        elif low == "max_inflight_total":
            o.batch_max_inflight_total = _positive(batch, name)
        elif low == "timeout":
            o.batch_timeout = as_seconds(batch, name)
            if o.batch_timeout <= 0:
                raise bad(batch, name, "a positive duration")
        else:
            raise ConfigError(f"{where(batch, name)}: unknown field {name!r} in jetstream.limits.batch")


def _positive(block: Mapping[str, Any], key: str) -> int:
    value = as_int(block, key)
    if value <= 0:
        raise bad(block, key, "a positive number")
    return value

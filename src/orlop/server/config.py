"""nats-server configuration files -> ServerOptions.

Two steps, two modules: :mod:`orlop.server.confparse` reads the syntax into dicts
(every value typed the way nats-server types it); this module maps the keys Orlop
understands onto :class:`ServerOptions`, with nats-server's key names and aliases,
matched case-insensitively as nats-server does. A key that nats-server knows but
Orlop does not implement (``cluster``, ``websocket``...) or a key nobody knows is
logged as a warning and ignored, so a real nats-server file still starts Orlop. Security
settings Orlop lacks (``accounts``, ``tls``, ``authorization.users``...) are errors
instead: ignoring them would start a server more open than the file asks for. A key we
do implement with a value of the wrong type is a ConfigError naming the file and line.

Intervals accept an integer (seconds) or a Go duration string (``"2m"``, ``"1h30m"``,
``"500ms"``); note that an *unquoted* ``2m`` is the integer 2,000,000 in nats-server's
syntax, so durations should be quoted. Sizes accept an integer (``1GB`` is already an
integer after parsing) or a size string (``"1GB"``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from orlop.errors import ConfigError
from orlop.jsapi.timefmt import format_go_duration
from orlop.server.confparse import ConfMap, parse_text
from orlop.server.options import ServerOptions

__all__ = ["load_config", "options_from_config", "parse_config", "parse_duration", "parse_size"]

log = logging.getLogger("orlop.server.config")

# nats-server keys Orlop accepts but does not act on: one warning, no error.
_UNSUPPORTED = frozenset(
    {
        "cluster",
        "gateway",
        "leafnodes",
        "leaf",
        "websocket",
        "mqtt",
        "system_account",
        "https",
        "https_port",
        "logtime",
        "logtime_utc",
        "syslog",
        "remote_syslog",
        "pid_file",
        "max_traced_msg_len",
        "logfile_size_limit",
        "log_size_limit",
        "connect_error_reports",
        "reconnect_error_reports",
        "client_advertise",
        "no_header_support",
        "disable_sublist_cache",
        "no_sublist_cache",
        "http_base_path",
        "prof_port",
        "server_tags",
        "default_js_domain",
        "mappings",
        "maps",
        "trace_verbose",
        "trace_headers",
        "logfile_max_num",
        "log_max_num",
        "prof_block_rate",
        "proxy_protocol",
        "write_timeout",
        "no_system_account",
        "no_system",
        "no_sys_acc",
        "server_metadata",
        "feature_flags",
        "no_fast_producer_stall",
        "max_closed_clients",
        "system",
    }
)
# Security settings Orlop does not implement: ignoring them would run a server more open than
# the file asks for, so they are errors.
_REFUSED = frozenset(
    {
        "accounts",
        "operator",
        "operators",
        "roots",
        "root",
        "root_operators",
        "root_operator",
        "resolver",
        "account_resolver",
        "accounts_resolver",
        "resolver_preload",
        "resolver_tls",
        "resolver_pinned_accounts",
        "tls",
        "ocsp",
        "ocsp_cache",
        "trusted",
        "trusted_keys",
        "no_auth_user",
        "default_sentinel",
        "proxies",
    }
)
# The same inside ``jetstream {}``: a store written in plaintext while the file asks for encryption,
# or limits that would not be enforced.
_REFUSED_JETSTREAM = {
    "key": "encryption at rest",
    "ek": "encryption at rest",
    "encryption_key": "encryption at rest",
    "prev_key": "encryption at rest",
    "prev_ek": "encryption at rest",
    "prev_encryption_key": "encryption at rest",
    "cipher": "encryption at rest",
    "tpm": "encryption at rest with a TPM",
    "limits": "server-wide JetStream limits",
}
_REFUSED_AUTH = frozenset({"users", "permissions", "default_permissions", "auth_callout", "nkeys"})

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_config(
    text: str, *, base_dir: str = ".", env: Mapping[str, str] | None = None, source: str = "<config>"
) -> dict[str, Any]:
    """Parse configuration text; ``include`` paths are relative to ``base_dir``.

    ``env`` supplies ``$VAR`` values not defined in the text (default: ``os.environ``).
    Returns the top-level map (a :class:`ConfMap`, i.e. a dict that also knows each
    key's file:line). Raises ConfigError("source:line: message").
    """
    return parse_text(text, source=source, base_dir=base_dir, env=os.environ if env is None else env)


def load_config(path: str, *, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read and parse a configuration file. Raises ConfigError when unreadable or invalid."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path!r}: {exc.strerror}") from exc
    return parse_config(text, base_dir=os.path.dirname(os.path.abspath(path)), env=env, source=path)


# ---------------------------------------------------------------------------------------------
# value conversions


def parse_duration(value: str) -> float:
    """A Go duration (``"1h30m"``, ``"2.5s"``, ``"-1s"``, ``"0"``) in seconds. Raises ValueError."""
    text = value.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if not m:
            raise ValueError(f"invalid duration {value!r}")
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not text:
        raise ValueError("empty duration")
    return sign * total


def parse_size(value: str) -> int:
    """A size string with nats-server's suffixes (``"1GB"``, ``"512MiB"``, ``"1k"``). Raises ValueError."""
    try:
        return int(parse_config(f"v: {value.strip()}", env={})["v"])
    except (ConfigError, TypeError) as exc:
        raise ValueError(f"invalid size {value!r}") from exc


def _where(conf: Mapping[str, Any], key: str) -> str:
    return conf.where(key) if isinstance(conf, ConfMap) else "config"


def _bad(conf: Mapping[str, Any], key: str, expected: str) -> ConfigError:
    value = conf[key]
    return ConfigError(f"{_where(conf, key)}: {key}: expected {expected}, got {value!r}")


def _int(conf: Mapping[str, Any], key: str) -> int:
    value = conf[key]
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str):
            try:
                return parse_size(value)
            except ValueError:
                pass
        raise _bad(conf, key, "an integer")
    return value


def _str(conf: Mapping[str, Any], key: str) -> str:
    value = conf[key]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _bad(conf, key, "a string")
    return str(value)


def _bool(conf: Mapping[str, Any], key: str) -> bool:
    value = conf[key]
    if not isinstance(value, bool):
        raise _bad(conf, key, "true or false")
    return value


def _seconds(conf: Mapping[str, Any], key: str) -> float:
    value = conf[key]
    if isinstance(value, bool):
        raise _bad(conf, key, "a duration")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            pass
    raise _bad(conf, key, 'a duration such as "2m" or a number of seconds')


def _host_port(conf: Mapping[str, Any], key: str) -> tuple[str, int | None]:
    """``"host:port"``, ``":port"``, ``"host"`` or a bare port number."""
    value = conf[key]
    if isinstance(value, int) and not isinstance(value, bool):
        return "", value
    text = _str(conf, key)
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, None
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise _bad(conf, key, "host:port") from None


# ---------------------------------------------------------------------------------------------
# mapping


def _set_listen(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    host, port = _host_port(conf, key)
    if host:
        o.host = host
    if port is not None:
        o.port = port


def _set_http(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    host, port = _host_port(conf, key)
    if host:
        o.http_host = host
    if port is not None:
        o.http_port = port


def _set_port(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    o.port = _int(conf, key)


def _set_http_port(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    o.http_port = _int(conf, key)


def _set_host(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    o.host = _str(conf, key)


def _attr(name: str, conv: Callable[[Mapping[str, Any], str], Any]) -> Callable[..., None]:
    def setter(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
        setattr(o, name, conv(conf, key))

    return setter


def go_duration_text(seconds: float) -> str:
    """``seconds`` as Go prints a duration (:func:`orlop.jsapi.timefmt.format_go_duration`)."""
    return format_go_duration(round(seconds * 1e9))


# nats-server refuses a shorter lame duck duration (opts.go).
MIN_LAME_DUCK_DURATION = 30.0


def _set_lame_duck_duration(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    seconds = _seconds(conf, key)
    if seconds < MIN_LAME_DUCK_DURATION:
        text = go_duration_text(seconds)
        raise ConfigError(f"{_where(conf, key)}: invalid lame_duck_duration of {text}, minimum is 30 seconds")
    o.lame_duck_duration = seconds


def _set_lame_duck_grace_period(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    seconds = _seconds(conf, key)
    if seconds < 0:
        raise ConfigError(f"{_where(conf, key)}: invalid lame_duck_grace_period, needs to be positive")
    o.lame_duck_grace_period = seconds


def _set_auth(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    block = conf[key]
    if not isinstance(block, Mapping):
        raise _bad(conf, key, "a map { user, password, token }")
    for sub in block:
        low = sub.lower()
        if low in ("user", "username"):
            o.auth.user = _str(block, sub)
        elif low in ("password", "pass"):
            o.auth.password = _str(block, sub)
        elif low == "token":
            o.auth.token = _str(block, sub)
        elif low == "timeout":
            o.auth.timeout = _seconds(block, sub)
        elif low in _REFUSED_AUTH:
            raise ConfigError(
                f"{_where(block, sub)}: authorization.{sub} is not supported by Orlop "
                "(only a single user/password or a token); refusing to start less secure"
            )
        else:
            log.warning("%s: authorization.%s is not supported by Orlop; ignored", _where(block, sub), sub)


def _set_jetstream(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
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
        raise _bad(conf, key, "true, false, enabled, disabled or a map")


def _set_jetstream_key(block: Mapping[str, Any], sub: str, o: ServerOptions) -> None:
    low = sub.lower()
    if low == "enabled":
        o.jetstream = _bool(block, sub)
    elif low in ("store_dir", "storedir", "store"):
        o.store_dir = _str(block, sub)
    elif low in ("max_memory_store", "max_mem_store", "max_mem"):
        o.max_memory_store = _int(block, sub)
    elif low in ("max_file_store", "max_file"):
        o.max_file_store = _int(block, sub)
    elif low == "store_reserve":  # Orlop's own: free space kept on the store's disk
        o.store_reserve = _int(block, sub)
    elif low in _REFUSED_JETSTREAM:
        raise ConfigError(
            f"{_where(block, sub)}: jetstream.{sub} ({_REFUSED_JETSTREAM[low]}) is not "
            "supported by Orlop yet; refusing to start without what it configures"
        )
    elif low in ("sync", "sync_interval"):  # nats-server accepts both spellings
        if isinstance(block[sub], str) and block[sub].lower() == "always":
            o.sync_always = True
        else:
            o.sync_interval = _seconds(block, sub)
    else:
        log.warning("%s: jetstream.%s is not supported by Orlop; ignored", _where(block, sub), sub)


_HANDLERS: dict[str, Callable[[Mapping[str, Any], str, ServerOptions], None]] = {
    "listen": _set_listen,
    "host": _set_host,
    "net": _set_host,
    "port": _set_port,
    "http": _set_http,
    "monitor": _set_http,
    "http_port": _set_http_port,
    "monitor_port": _set_http_port,
    "server_name": _attr("server_name", _str),
    "max_payload": _attr("max_payload", _int),
    "max_connections": _attr("max_connections", _int),
    "max_conn": _attr("max_connections", _int),
    "max_control_line": _attr("max_control_line", _int),
    "max_pending": _attr("max_pending", _int),
    "max_subscriptions": _attr("max_subscriptions", _int),
    "max_subs": _attr("max_subscriptions", _int),
    "max_sub_tokens": _attr("max_sub_tokens", _int),
    "max_subscription_tokens": _attr("max_sub_tokens", _int),
    "ping_interval": _attr("ping_interval", _seconds),
    "ping_max": _attr("max_pings_out", _int),
    "max_pings_out": _attr("max_pings_out", _int),
    "write_deadline": _attr("write_deadline", _seconds),
    "lame_duck_duration": _set_lame_duck_duration,
    "lame_duck_grace_period": _set_lame_duck_grace_period,
    "ports_file_dir": _attr("ports_file_dir", _str),
    "jetstream": _set_jetstream,
    "authorization": _set_auth,
    "debug": _attr("debug", _bool),
    "trace": _attr("trace", _bool),
    "logfile": _attr("log_file", _str),
    "log_file": _attr("log_file", _str),
}


def options_from_config(conf: Mapping[str, Any], options: ServerOptions) -> ServerOptions:
    """Apply a parsed configuration to ``options`` (changed in place and returned).

    As nats-server, the monitoring host follows the client host unless ``http`` names one.
    Raises ConfigError (with file:line) for a supported key with an invalid value.
    """
    used: set[str] = getattr(conf, "variables_used", set())
    http_host_given = False
    for key in conf:
        low = key.lower()
        handler = _HANDLERS.get(low)
        if handler is not None:
            handler(conf, key, options)
            if low in ("http", "monitor"):
                http_host_given = http_host_given or _host_port(conf, key)[0] != ""
        elif low in _REFUSED:
            raise ConfigError(
                f"{_where(conf, key)}: {key!r} is not supported by Orlop; refusing to start "
                "without the security it configures"
            )
        elif low in _UNSUPPORTED:
            log.warning("%s: %r is not supported by Orlop; ignored", _where(conf, key), key)
        elif key not in used:
            log.warning("%s: unknown configuration key %r; ignored", _where(conf, key), key)
    if not http_host_given and any(k.lower() in ("listen", "host", "net") for k in conf):
        options.http_host = options.host
    if options.max_payload <= 0:
        raise ConfigError(f"max_payload must be positive, got {options.max_payload}")
    return options

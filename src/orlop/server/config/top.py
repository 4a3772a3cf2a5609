"""The top level of a configuration file: listen, ports, limits, logging, and the blocks.

:func:`options_from_config` walks the keys; each block's keys live in its own
module (:mod:`.authorization`, :mod:`.jetstream`, :mod:`.accounts`, :mod:`.tls`,
:mod:`.audit`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from orlop.errors import ConfigError
from orlop.server.config import accounts, operator, tls
from orlop.server.config.audit import set_audit
from orlop.server.config.authorization import set_authorization, set_no_auth_user
from orlop.server.config.jetstream import set_jetstream
from orlop.server.config.values import (
    Setter,
    as_bool,
    as_int,
    as_seconds,
    as_str,
    attr,
    host_port,
    where,
)
from orlop.server.options import ServerOptions, go_duration_text

__all__ = ["MIN_LAME_DUCK_DURATION", "options_from_config"]

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
    }
)


def _set_listen(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    host, port = host_port(conf, key)
    if host:
        o.host = host
    if port is not None:
        o.port = port


def _set_http(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    host, port = host_port(conf, key)
    if host:
        o.http_host = host
    if port is not None:
        o.http_port = port


def _set_https(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    host, port = host_port(conf, key)
    if host:
        o.http_host = host
    if port is not None:
        o.https_port = port


def _set_port(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    o.port = as_int(conf, key)


def _set_http_port(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    o.http_port = as_int(conf, key)


def _set_host(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    o.host = as_str(conf, key)


# nats-server refuses a shorter lame duck duration (opts.go).
MIN_LAME_DUCK_DURATION = 30.0


def _set_lame_duck_duration(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    seconds = as_seconds(conf, key)
    if seconds < MIN_LAME_DUCK_DURATION:
        text = go_duration_text(seconds)
        raise ConfigError(f"{where(conf, key)}: invalid lame_duck_duration of {text}, minimum is 30 seconds")
    o.lame_duck_duration = seconds


def _set_lame_duck_grace_period(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    seconds = as_seconds(conf, key)
    if seconds < 0:
        raise ConfigError(f"{where(conf, key)}: invalid lame_duck_grace_period, needs to be positive")
    o.lame_duck_grace_period = seconds


_HANDLERS: dict[str, Setter] = {
    "listen": _set_listen,
    "host": _set_host,
    "net": _set_host,
    "port": _set_port,
    "http": _set_http,
    "monitor": _set_http,
    "http_port": _set_http_port,
    "https": _set_https,
    "https_port": attr("https_port", as_int),
    "monitor_port": _set_http_port,
    "server_name": attr("server_name", as_str),
    "max_payload": attr("max_payload", as_int),
    "max_connections": attr("max_connections", as_int),
    "max_conn": attr("max_connections", as_int),
    "max_control_line": attr("max_control_line", as_int),
    "max_pending": attr("max_pending", as_int),
    "max_subscriptions": attr("max_subscriptions", as_int),
    "max_subs": attr("max_subscriptions", as_int),
    "max_sub_tokens": attr("max_sub_tokens", as_int),
    "max_subscription_tokens": attr("max_sub_tokens", as_int),
    "ping_interval": attr("ping_interval", as_seconds),
    "ping_max": attr("max_pings_out", as_int),
    "max_pings_out": attr("max_pings_out", as_int),
    "write_deadline": attr("write_deadline", as_seconds),
    "lame_duck_duration": _set_lame_duck_duration,
    "lame_duck_grace_period": _set_lame_duck_grace_period,
    "ports_file_dir": attr("ports_file_dir", as_str),
    "jetstream": set_jetstream,
    "authorization": set_authorization,
    "no_auth_user": set_no_auth_user,
    "debug": attr("debug", as_bool),
    "trace": attr("trace", as_bool),
    "logfile": attr("log_file", as_str),
    "log_file": attr("log_file", as_str),
    "audit": set_audit,
    **accounts.KEYS,
    **operator.KEYS,
    **tls.KEYS,
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
            if low in ("http", "monitor", "https"):
                http_host_given = http_host_given or host_port(conf, key)[0] != ""
        elif low in _UNSUPPORTED:
            log.warning("%s: %r is not supported by Orlop; ignored", where(conf, key), key)
        elif key not in used:
            log.warning("%s: unknown configuration key %r; ignored", where(conf, key), key)
    if not http_host_given and any(k.lower() in ("listen", "host", "net") for k in conf):
        options.http_host = options.host
    if options.max_payload <= 0:
        raise ConfigError(f"max_payload must be positive, got {options.max_payload}")
    operator.check_operator(options)
    return options

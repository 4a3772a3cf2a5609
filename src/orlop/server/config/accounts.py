"""The ``accounts`` block (isolated tenants).

As nats-server reads it: ``accounts { NAME: { users: [...], jetstream: enabled,
default_permissions, limits: { max_connections, max_subscriptions, max_payload },
exports, imports } }`` (see orlop.server.config.exports).
Each account has its own subject space and its own JetStream
(streams, consumers, object stores; store directory ``<store_dir>/jetstream/<NAME>``).
With accounts configured, only those with ``jetstream: enabled`` (or ``true``) have
JetStream, and users of the ``authorization`` block stay in the global account ``$G``,
which then has none, as in nats-server.

``jetstream`` may be a map of limits: ``max_mem`` and ``max_store`` (totals: 10028/10047
for a stream whose max_bytes does not fit, 10002 for a publish past them),
``max_streams``, ``max_consumers``, ``max_ack_pending`` (10121), ``max_bytes_required``,
``mem_max_stream_bytes``, ``disk_max_stream_bytes`` (with nats-server's errors 10027,
10026, 10113, 10122). Not implemented yet, and refused rather than ignored: account
``nkey``, ``mappings`` and message tracing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orlop.errors import ConfigError
from orlop.server.config.authorization import parse_permissions, parse_users
from orlop.server.config.exports import check_imports, parse_exports, parse_imports
from orlop.server.config.values import Setter, as_bool, as_int, bad, where
from orlop.server.options import ClientLimits, Export, Import, ServerOptions, User

__all__ = ["KEYS", "set_accounts"]

_ACCOUNT_REFUSED = frozenset(
    {
        "nkey",
        "mappings",
        "maps",
        "msg_trace",
        "trace_dest",
    }
)


def set_accounts(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    block = conf[key]
    if not isinstance(block, Mapping):
        raise bad(conf, key, "a map of accounts { NAME: { users, jetstream } }")
    users: list[User] = list(o.auth.users or [])
    exports: dict[str, list[tuple[Export, str]]] = {}
    imports: dict[str, list[tuple[Import, str]]] = {}
    for name in block:
        if name == "$G":
            raise ConfigError(f"{where(block, name)}: the global account $G cannot be configured")
        entry = block[name]
        if not isinstance(entry, Mapping):
            raise bad(block, name, "an account map { users, jetstream }")
        jetstream = False
        defaults = None
        members: list[User] = []
        for field in entry:
            low = field.lower()
            if low == "users":
                members = parse_users(entry, field)
            elif low == "jetstream":
                value = entry[field]
                if isinstance(value, str) and value.lower() in ("enabled", "enable", "true"):
                    jetstream = True
                elif isinstance(value, str) and value.lower() in ("disabled", "disable", "false"):
                    jetstream = False
                elif isinstance(value, bool):
                    jetstream = value
                elif isinstance(value, Mapping):
                    jetstream = True
                    o.account_limits[name] = _limits(value, name)
                else:
                    raise bad(entry, field, "enabled, disabled or a map of limits")
            elif low == "exports":
                exports[name] = parse_exports(entry, field)
            elif low == "imports":
                imports[name] = parse_imports(entry, field)
            elif low == "limits":
                o.account_client_limits[name] = _client_limits(entry, field)
            elif low in ("default_permissions", "default_permission"):
                defaults = parse_permissions(entry, field)
            elif low in _ACCOUNT_REFUSED:
                raise ConfigError(
                    f"{where(entry, field)}: accounts.{name}.{field} is not supported by Orlop yet;"
                    " refusing to start without what it configures"
                )
            else:
                raise ConfigError(f'{where(entry, field)}: unknown field "{field}"')
        for u in members:
            perms = u.permissions if u.permissions is not None else defaults
            users.append(User(u.name, u.password, perms, u.nkey, account=name))
        o.accounts[name] = jetstream
    check_imports(set(block), exports, imports)
    o.exports = {name: tuple(e for e, _ in items) for name, items in exports.items()}
    o.imports = {name: tuple(i for i, _ in items) for name, items in imports.items()}
    o.auth.users = users


def _client_limits(entry: Mapping[str, Any], key: str) -> ClientLimits:
    block = entry[key]
    if not isinstance(block, Mapping):
        raise bad(entry, key, "a map { max_connections, max_subscriptions, max_payload }")
    limits = ClientLimits()
    for field in block:
        low = field.lower()
        if low in ("max_connections", "max_conn"):
            limits.max_connections = as_int(block, field)
        elif low in ("max_subscriptions", "max_subs"):
            limits.max_subscriptions = as_int(block, field)
        elif low in ("max_payload", "max_pay"):
            limits.max_payload = as_int(block, field)
        elif low in ("max_leafnodes", "max_leafs"):
            as_int(block, field)  # Orlop accepts no leaf nodes at all: any limit on them holds
        else:
            raise ConfigError(f'{where(block, field)}: Unknown field "{field}" parsing account limits')
    return limits


# nats-server's account JetStream limits Orlop enforces -> AccountLimits fields.
_LIMITS = {
    "max_memory": "max_memory",
    "max_mem": "max_memory",
    "mem": "max_memory",
    "memory": "max_memory",
    "max_store": "max_storage",
    "max_file": "max_storage",
    "max_disk": "max_storage",
    "store": "max_storage",
    "disk": "max_storage",
    "max_ack_pending": "max_ack_pending",
    "max_streams": "max_streams",
    "streams": "max_streams",
    "max_consumers": "max_consumers",
    "consumers": "max_consumers",
    "mem_max_stream_bytes": "memory_max_stream_bytes",
    "memory_max_stream_bytes": "memory_max_stream_bytes",
    "disk_max_stream_bytes": "storage_max_stream_bytes",
    "store_max_stream_bytes": "storage_max_stream_bytes",
}
_LIMITS_FLAG = {"max_bytes_required", "max_stream_bytes", "max_bytes"}
_LIMITS_REFUSED = {"cluster_traffic"}


def _limits(block: Mapping[str, Any], account: str) -> dict[str, int | bool]:
    limits: dict[str, int | bool] = {}
    for field in block:
        low = field.lower()
        if low in _LIMITS:
            limits[_LIMITS[low]] = as_int(block, field)
        elif low in _LIMITS_FLAG:
            limits["max_bytes_required"] = as_bool(block, field)
        elif low in _LIMITS_REFUSED:
            raise ConfigError(
                f"{where(block, field)}: accounts.{account}.jetstream.{field} is not supported by Orlop"
                " yet; refusing to start with a limit it would not keep"
            )
        else:
            raise ConfigError(f'{where(block, field)}: unknown field "{field}"')
    return limits


KEYS: dict[str, Setter] = {"accounts": set_accounts}

"""The ``accounts`` block (isolated tenants), and the operator/resolver keys (refused for now).

As nats-server reads it: ``accounts { NAME: { users: [...], jetstream: enabled,
default_permissions } }``. Each account has its own subject space and its own JetStream
(streams, consumers, object stores; store directory ``<store_dir>/jetstream/<NAME>``).
With accounts configured, only those with ``jetstream: enabled`` (or ``true``) have
JetStream, and users of the ``authorization`` block stay in the global account ``$G``,
which then has none, as in nats-server.

Not implemented yet, and refused rather than ignored: account JetStream limits (a map
for ``jetstream``), ``exports``/``imports``, account ``nkey``, ``mappings`` and
connection limits; operators, resolvers and trusted keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orlop.errors import ConfigError
from orlop.server.config.authorization import parse_permissions, parse_users
from orlop.server.config.values import Setter, bad, refuse, where
from orlop.server.options import ServerOptions, User

__all__ = ["KEYS", "set_accounts"]

_ACCOUNT_TODO = frozenset(
    {
        "exports",
        "imports",
        "nkey",
        "mappings",
        "max_connections",
        "max_subscriptions",
        "max_payload",
        "limits",
    }
)


def set_accounts(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    block = conf[key]
    if not isinstance(block, Mapping):
        raise bad(conf, key, "a map of accounts { NAME: { users, jetstream } }")
    users: list[User] = list(o.auth.users or [])
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
                else:
                    raise ConfigError(
                        f"{where(entry, field)}: accounts.{name}.jetstream limits are not supported by Orlop"
                        " yet (use enabled); refusing to start without the limits the file sets"
                    )
            elif low in ("default_permissions", "default_permission"):
                defaults = parse_permissions(entry, field)
            elif low in _ACCOUNT_TODO:
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
    o.auth.users = users


KEYS: dict[str, Setter] = {
    "accounts": set_accounts,
    **{
        key: refuse
        for key in (
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
            "trusted",
            "trusted_keys",
            "default_sentinel",
        )
    },
}

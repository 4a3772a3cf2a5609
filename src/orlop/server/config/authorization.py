"""The ``authorization { ... }`` block and ``no_auth_user``: users, passwords, tokens, permissions.

As nats-server's ``opts.go`` reads them (``parseAuthorization``, ``parseUsers``,
``parseUserPermissions``): ``users`` is a list of ``{user, password, permissions}``;
``permissions`` (also ``default_permissions``) in the block is the default for users that
have none; a permission is ``{publish, subscribe, allow_responses}`` where publish and
subscribe are a subject, a list (allow) or ``{allow, deny}``, and subscribe entries may
name a queue (``"subject queue"``). Passwords may be bcrypt hashes (``$2a$…``).

A user may be an NKEY public key instead (``{nkey: U…}``; see :mod:`orlop.server.nkey`).
Auth callouts and ``allowed_connection_types`` come later with the rest of the security
work; until then they are refused (ConfigError), never ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from orlop.errors import ConfigError
from orlop.server.config.values import as_seconds, as_str, bad, parse_duration, where
from orlop.server.nkey import is_user_key
from orlop.server.options import ServerOptions, User
from orlop.server.permissions import Permissions, ResponsePermission, SubjectPermission, split_queue
from orlop.subjects import is_valid_subject

__all__ = ["parse_permissions", "parse_users", "set_authorization", "set_no_auth_user"]

log = logging.getLogger("orlop.server.config")

_REFUSED_AUTH = frozenset({"auth_callout", "auth_hook", "nkeys", "proxy_required"})
_REFUSED_USER = frozenset({"allowed_connection_types", "connection_types", "clients", "proxy_required"})


def set_authorization(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    block = conf[key]
    if not isinstance(block, Mapping):
        raise bad(conf, key, "a map { user, password, token, users, permissions }")
    for sub in block:
        low = sub.lower()
        if low in ("user", "username"):
            o.auth.user = as_str(block, sub)
        elif low in ("password", "pass"):
            o.auth.password = as_str(block, sub)
        elif low == "token":
            o.auth.token = as_str(block, sub)
        elif low == "timeout":
            o.auth.timeout = as_seconds(block, sub)
        elif low == "users":
            # Users of accounts parsed earlier in the file stay; these join the global account.
            o.auth.users = [u for u in o.auth.users or [] if u.account] + parse_users(block, sub)
        elif low in ("default_permission", "default_permissions", "permissions"):
            o.auth.permissions = parse_permissions(block, sub)
        elif low in _REFUSED_AUTH:
            raise ConfigError(
                f"{where(block, sub)}: authorization.{sub} is not supported by Orlop yet;"
                " refusing to start less secure"
            )
        else:
            raise ConfigError(f'{where(block, sub)}: unknown field "{sub}"')
    if o.auth.users is not None and o.auth.permissions is not None:
        # The block's permissions are the default of every user without its own.
        default = o.auth.permissions
        o.auth.users = [
            u if u.permissions is not None or u.account else User(u.name, u.password, default, u.nkey)
            for u in o.auth.users
        ]


def set_no_auth_user(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    o.auth.no_auth_user = as_str(conf, key)


def parse_users(block: Mapping[str, Any], key: str) -> list[User]:
    """A ``users`` list: ``{user, password, permissions}`` or ``{nkey, permissions}`` entries."""
    entries = block[key]
    if not isinstance(entries, list):
        raise ConfigError(f"{where(block, key)}: Expected users field to be an array, got {entries!r}")
    users = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where(block, key)}: Expected user entry to be a map/struct, got {entry!r}")
        name = password = nkey = ""
        perms: Permissions | None = None
        for field in entry:
            low = field.lower()
            if low == "nkey":
                nkey = as_str(entry, field)
            elif low in ("user", "username"):
                name = as_str(entry, field)
            elif low in ("pass", "password"):
                password = as_str(entry, field)
            elif low in ("permission", "permissions", "authorization"):
                perms = parse_permissions(entry, field)
            elif low in _REFUSED_USER:
                raise ConfigError(
                    f"{where(entry, field)}: users[].{field} is not supported by Orlop yet;"
                    " refusing to start less secure"
                )
            else:
                raise ConfigError(f'{where(entry, field)}: unknown field "{field}"')
        if nkey:
            if not is_user_key(nkey):
                raise ConfigError(f"{where(block, key)}: Not a valid public nkey for a user")
            if name or password:
                raise ConfigError(f"{where(block, key)}: Nkey users do not take usernames or passwords")
            users.append(User(nkey, "", perms, nkey=nkey))
            continue
        if not name:
            raise ConfigError(f"{where(block, key)}: User entry requires a user")
        users.append(User(name, password, perms))
    return users


def parse_permissions(conf: Mapping[str, Any], key: str) -> Permissions:
    """``{publish, subscribe, allow_responses}`` (also ``pub``/``sub``), as nats-server reads it."""
    block = conf[key]
    if not isinstance(block, Mapping):
        raise ConfigError(f"{where(conf, key)}: Expected permissions to be a map/struct, got {block!r}")
    publish = subscribe = None
    response: ResponsePermission | None = None
    for field in block:
        low = field.lower()
        if low in ("pub", "publish", "import"):
            publish = _subject_permission(block, field, queues=False)
        elif low in ("sub", "subscribe", "export"):
            subscribe = _subject_permission(block, field, queues=True)
        elif low in ("publish_allow_responses", "allow_responses"):
            response = _responses(block, field)
        else:
            raise ConfigError(f'{where(block, field)}: Unknown field "{field}" parsing permissions')
    if response is not None and (publish is None or publish.allow is None):
        # Answering replies turns the blanket publish allow off (nats-server does the same).
        publish = SubjectPermission(allow=(), deny=publish.deny if publish else ())
    return Permissions(publish, subscribe, response)


def _subject_permission(conf: Mapping[str, Any], key: str, *, queues: bool) -> SubjectPermission | None:
    value = conf[key]
    if isinstance(value, Mapping):
        if not value:
            return None
        allow: tuple[str, ...] | None = None
        deny: tuple[str, ...] = ()
        for field in value:
            low = field.lower()
            if low == "allow":
                allow = _subjects(value, field, queues=queues)
            elif low == "deny":
                deny = _subjects(value, field, queues=queues)
            else:
                raise ConfigError(
                    f'{where(value, field)}: Unknown field name "{field}" parsing subject permissions,'
                    " only 'allow' or 'deny' are permitted"
                )
        return SubjectPermission(allow, deny)
    return SubjectPermission(allow=_subjects(conf, key, queues=queues))


def _subjects(conf: Mapping[str, Any], key: str, *, queues: bool) -> tuple[str, ...]:
    value = conf[key]
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ConfigError(
            f"{where(conf, key)}: Expected subject permissions to be a subject, or array of subjects,"
            f" got {type(value).__name__}"
        )
    out = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"{where(conf, key)}: Subject in permissions array cannot be cast to string")
        if not is_valid_subject(item):
            subject, queue = split_queue(item)
            if not queues or not queue:
                raise ConfigError(f'{where(conf, key)}: subject "{item}" is not a valid subject')
            if not is_valid_subject(subject):
                raise ConfigError(f'{where(conf, key)}: subject "{subject}" is not a valid subject')
            if not is_valid_subject(queue):
                raise ConfigError(f'{where(conf, key)}: queue "{queue}" is not a valid queue')
        out.append(item)
    return tuple(out)


def _responses(conf: Mapping[str, Any], key: str) -> ResponsePermission | None:
    value = conf[key]
    if isinstance(value, bool):
        return ResponsePermission() if value else None
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{where(conf, key)}: error parsing response permissions, expected a boolean or a map"
        )
    max_msgs, expires = ResponsePermission().max_msgs, ResponsePermission().expires
    for field in value:
        low = field.lower()
        if low in ("max", "max_msgs", "max_messages", "max_responses"):
            n = value[field]
            if not isinstance(n, int) or isinstance(n, bool):
                raise bad(value, field, "an integer")
            if n != 0:
                max_msgs = n
        elif low in ("expires", "expiration", "ttl"):
            text = value[field]
            if not isinstance(text, str):
                raise ConfigError(f"{where(value, field)}: error parsing expires, not a duration string")
            try:
                seconds = parse_duration(text)
            except ValueError as exc:
                raise ConfigError(f"{where(value, field)}: error parsing expires: {exc}") from exc
            if seconds != 0:
                expires = seconds
        else:
            raise ConfigError(f'{where(value, field)}: Unknown field "{field}" parsing permissions')
    return ResponsePermission(max_msgs, expires)

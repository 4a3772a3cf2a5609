"""Operator mode: ``operator``, ``resolver``, ``resolver_preload`` and ``system_account``.

As nats-server reads them (opts.go, jwt.go validateTrustedOperators): ``operator`` is the
operator's JWT or a file holding it (a list of them is accepted); ``resolver: MEMORY``
with ``resolver_preload { <account public key>: <account JWT> }``, or ``resolver { type:
full, dir: "./jwt", allow_delete: false }`` (account JWTs kept as ``<dir>/<key>.jwt``,
updated by ``$SYS.REQ.CLAIMS.UPDATE``). The system account is ``system_account`` or the
operator's own choice. Refused, as nats-server refuses them: operators without a
resolver, ``accounts`` or ``authorization`` users beside an operator, ``no_auth_user``,
a full resolver without a system account, a ``system_account`` the operator contradicts.
Refused because Orlop does not do them: URL and cache resolvers, ``trusted_keys``
without an operator JWT, pinned resolver accounts, resolver TLS.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from orlop.errors import ConfigError
from orlop.server.config.values import Setter, as_bool, as_str, refuse, where
from orlop.server.jwt import JwtError, decode
from orlop.server.operator import decode_problem
from orlop.server.options import OperatorOptions, ServerOptions

__all__ = ["KEYS", "check_operator"]

_DECORATED = re.compile(r"-{3,}[^\n]*BEGIN[^\n]*-{3,}\s*\n(.+?)\n\s*-{3,}[^\n]*END", re.S)


def _operator_of(o: ServerOptions) -> OperatorOptions:
    if o.operator is None:
        o.operator = OperatorOptions()
    return o.operator


def _read_jwt(text: str) -> str:
    """A JWT given inline or as a file (possibly decorated, as nsc writes them)."""
    if os.path.isfile(text):
        with open(text, encoding="utf-8") as f:
            content = f.read()
        found = _DECORATED.search(content)
        return (found.group(1) if found else content).strip()
    if text.startswith("eyJ"):
        return text.strip()
    raise ConfigError(f"error parsing operator JWT: open {text}: no such file or directory")


def set_operator(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    value = conf[key]
    items = value if isinstance(value, list) else [value]
    tokens = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"{where(conf, key)}: {key}: expected a JWT or a file, got {item!r}")
        token = _read_jwt(item)
        try:
            decode(token, "operator")
        except JwtError as exc:
            raise ConfigError(f"{where(conf, key)}: error parsing operator JWT: {exc}") from None
        tokens.append(token)
    _operator_of(o).operators = tuple(tokens)


def set_resolver(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    value = conf[key]
    op = _operator_of(o)
    if isinstance(value, str):
        if re.search(r"(?i)MEM(ORY)?", value) and not value.upper().startswith("URL"):
            op.resolver = "memory"
            return
        if value.upper().startswith("URL"):
            raise ConfigError(
                f"{where(conf, key)}: resolver {value}: URL resolvers are not supported by Orlop"
            )
    elif isinstance(value, Mapping):
        kind = ""
        for field in value:
            low = field.lower()
            if low == "type":
                kind = as_str(value, field).lower()
            elif low == "dir":
                op.resolver_dir = as_str(value, field)
            elif low == "allow_delete":
                op.allow_delete = as_bool(value, field)
            elif low in ("interval", "limit", "timeout"):
                pass  # synchronisation between servers: one Orlop server has nobody to sync with
            elif low in ("hard_delete", "ttl"):
                raise ConfigError(f"{where(value, field)}: resolver {field} is not supported by Orlop")
            else:
                raise ConfigError(f'{where(value, field)}: unknown field "{field}"')
        if kind in ("mem", "memory"):
            op.resolver = "memory"
            return
        if kind == "full":
            if not op.resolver_dir:
                raise ConfigError(f"{where(conf, key)}: dir has no value and needs to point to a directory")
            op.resolver = "full"
            return
        if kind == "cache":
            raise ConfigError(f"{where(conf, key)}: resolver type cache is not supported by Orlop (use full)")
    raise ConfigError(
        f'{where(conf, key)}: error parsing account resolver, should be MEM or  URL("url") or a map'
        " containing dir and type state=[FULL|CACHE])"
    )


def set_preload(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    value = conf[key]
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where(conf, key)}: preload should be a map of account_public_key:account_jwt")
    preload = {}
    for account in value:
        token = value[account]
        if not isinstance(token, str):
            raise ConfigError(f"{where(value, account)}: preload map value should be a string JWT")
        try:
            claims = decode(token, "account")
        except JwtError:
            raise ConfigError(f"{where(value, account)}: invalid account JWT") from None
        if decode_problem(claims.nats):  # what jwt's decoder refuses, nats-server at start
            raise ConfigError(f"{where(value, account)}: invalid account JWT")
        preload[account] = token.strip()
    _operator_of(o).preload = preload


def set_system_account(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    value = conf[key]
    if not isinstance(value, str):
        raise ConfigError(f"{where(conf, key)}: system account name must be a string")
    o.system_account = value


def check_operator(o: ServerOptions) -> None:
    """The rules that need the whole file (nats-server's validateTrustedOperators)."""
    op = o.operator
    if op is None:
        return
    if not op.operators:
        raise ConfigError("resolver configured without an operator: Orlop needs the operator's JWT")
    if not op.resolver:
        raise ConfigError("operators require an account resolver to be configured")
    if o.accounts:
        raise ConfigError("operators do not allow Accounts to be configured directly")
    if o.auth.users is not None:
        raise ConfigError("operators do not allow users to be configured directly")
    if o.auth.no_auth_user:
        raise ConfigError("no_auth_user not compatible with Trusted Operator")
    chosen = {str(decode(t, "operator").nats.get("system_account") or "") for t in op.operators} - {""}
    if o.system_account and chosen and o.system_account not in chosen:
        raise ConfigError("system_account in config and operator JWT must be identical")
    op.system_account = o.system_account or (sorted(chosen)[0] if chosen else "")
    if op.resolver == "full" and not op.system_account:
        raise ConfigError(
            "using nats based account resolver - the system account needs to be specified in"
            " configuration or the operator jwt"
        )
    if op.resolver == "memory" and op.system_account and op.system_account not in op.preload:
        raise ConfigError("Can't set system account: account missing from resolver_preload")


KEYS: dict[str, Setter] = {
    **{
        k: set_operator for k in ("operator", "operators", "root", "roots", "root_operators", "root_operator")
    },
    **{k: set_resolver for k in ("resolver", "account_resolver", "accounts_resolver")},
    "resolver_preload": set_preload,
    "system_account": set_system_account,
    "system": set_system_account,
    **{
        key: refuse
        for key in ("trusted", "trusted_keys", "resolver_tls", "resolver_pinned_accounts", "default_sentinel")
    },
}

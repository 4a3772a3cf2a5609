"""The ``accounts``, ``operator`` and resolver blocks: multi-tenancy and decentralized auth.

Orlop routes every connection through an account already; configuring accounts,
operators and resolvers comes with the security work. Until then each of these
keys is refused (it would otherwise start a server more open than the file asks for).
"""

from __future__ import annotations

from orlop.server.config.values import Setter, refuse

__all__ = ["KEYS"]

KEYS: dict[str, Setter] = {
    key: refuse
    for key in (
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
        "trusted",
        "trusted_keys",
        "default_sentinel",
    )
}

"""The ``authorization { ... }`` block: one user and password, or a token, and the CONNECT timeout.

Several users, permissions, nkeys and auth callouts come with the security work;
until then they are refused (ConfigError), never ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from orlop.errors import ConfigError
from orlop.server.config.values import as_seconds, as_str, bad, where
from orlop.server.options import ServerOptions

__all__ = ["set_authorization"]

log = logging.getLogger("orlop.server.config")

_REFUSED_AUTH = frozenset({"users", "permissions", "default_permissions", "auth_callout", "nkeys"})


def set_authorization(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    block = conf[key]
    if not isinstance(block, Mapping):
        raise bad(conf, key, "a map { user, password, token }")
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
        elif low in _REFUSED_AUTH:
            raise ConfigError(
                f"{where(block, sub)}: authorization.{sub} is not supported by Orlop "
                "(only a single user/password or a token); refusing to start less secure"
            )
        else:
            log.warning("%s: authorization.%s is not supported by Orlop; ignored", where(block, sub), sub)

"""Client authentication: CONNECT credentials -> the account the client joins.

Kept apart from the connection so the rules (today one user/password or one
token, as ``authorization {}`` in nats-server; later users and accounts) live
in one place with no socket code. Comparisons are constant-time.

nats-server's wire behaviour, which the connection implements around this:
with auth required INFO carries ``auth_required: true``; any op before CONNECT,
or refused credentials, get ``-ERR 'Authorization Violation'`` and a close;
no CONNECT within :data:`AUTH_TIMEOUT` seconds gets ``-ERR 'Authentication Timeout'``.
INFO carries no ``nonce``: nats-server sends one only when a client must sign it
(nkey or JWT users), never for user/password or token, and neither does Orlop.
"""

from __future__ import annotations

import hmac
from typing import Any

from orlop.server.options import AuthOptions

__all__ = ["AUTH_TIMEOUT", "Authenticator"]

AUTH_TIMEOUT = 2.0  # nats-server's default (seconds)


class Authenticator:
    """Checks CONNECT options against :class:`AuthOptions`; ``account`` names where clients go."""

    def __init__(self, auth: AuthOptions, account: str) -> None:
        self.auth = auth
        self.account = account

    @property
    def required(self) -> bool:
        return self.auth.required

    def authenticate(self, connect: dict[str, Any]) -> str | None:
        """The account name for these CONNECT options, or None when the credentials are refused."""
        auth = self.auth
        if not auth.required:
            return self.account
        if auth.token:
            ok = _same(connect.get("auth_token"), auth.token)
        else:
            ok = _same(connect.get("user"), auth.user) & _same(connect.get("pass", ""), auth.password)
        return self.account if ok else None


def _same(given: Any, want: str) -> bool:
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode(), want.encode())

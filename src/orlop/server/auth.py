"""Client authentication: CONNECT credentials -> who the client is and what it may do.

Kept apart from the connection so the rules (one user/password or one token, or a
``users`` list with permissions, as ``authorization {}`` in nats-server) live in one
place with no socket code. Plain passwords and tokens are compared in constant time;
bcrypt hashes (``$2a$``, ``$2b$``, ``$2x$``, ``$2y$``) are checked with the ``bcrypt``
package. A bcrypt check costs tens of milliseconds by design, so the connection runs it
off the event loop (:meth:`Authenticator.needs_slow_check`, :meth:`check_slow`) and
remembers the pairs it has verified (a reconnecting client does not pay twice).

nats-server's wire behaviour, which the connection implements around this:
with auth required INFO carries ``auth_required: true``; any op before CONNECT,
or refused credentials, get ``-ERR 'Authorization Violation'`` and a close;
no CONNECT within :data:`AUTH_TIMEOUT` seconds gets ``-ERR 'Authentication Timeout'``.
INFO carries a ``nonce`` only when NKEY users are configured (they sign it: see
:mod:`orlop.server.nkey`), as nats-server does; never for user/password or token alone.
``no_auth_user``: a client that presents no credentials at all is that user.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orlop.server import nkey
from orlop.server.options import AuthOptions, User
from orlop.server.permissions import Permissions

if TYPE_CHECKING:
    from orlop.server.peercert import PeerCert

__all__ = ["AUTH_TIMEOUT", "Authenticator", "Identity", "is_bcrypt"]

AUTH_TIMEOUT = 2.0  # nats-server's default (seconds)
_BCRYPT = re.compile(r"^\$2[abxy]\$\d{2}\$.*")
_VERIFIED_MAX = 1024


def is_bcrypt(secret: str) -> bool:
    return bool(_BCRYPT.match(secret))


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated client: its account, its user name ('' when none) and permissions."""

    account: str
    user: str = ""
    permissions: Permissions | None = None
    # Operator mode: when the user's JWT expires (unix seconds, 0 never) and its own limits.
    expires: float = 0.0
    expiry: str = "User Authentication Expired"  # what the client is told then
    max_subscriptions: int = -1
    max_payload: int = -1


@dataclass(frozen=True, slots=True)
class _Claim:
    """What a CONNECT claims: the stored secret to check the given one against, and who it is."""

    stored: str
    given: str
    identity: Identity


class Authenticator:
    """Checks CONNECT options against :class:`AuthOptions`; ``account`` names where clients go."""

    def __init__(self, auth: AuthOptions, account: str, *, tls_map: bool = False) -> None:
        self.auth = auth
        self.account = account
        # TLS verify_and_map: the client certificate names the user (see orlop.server.peercert).
        self.tls_map = tls_map
        self._users: dict[str, User] = {u.name: u for u in auth.users or () if not u.nkey}
        self._nkeys: dict[str, User] = {u.nkey: u for u in auth.users or () if u.nkey}
        # INFO carries a nonce for every client when NKEY users exist (they sign it).
        self.needs_nonce = bool(self._nkeys)
        self._verified: set[bytes] = set()  # digests of (hash, password) pairs bcrypt accepted

    @property
    def required(self) -> bool:
        return self.auth.required

    def inherit(self, older: Authenticator) -> None:
        """Keep the bcrypt checks ``older`` already did (a reload must not re-hash every client)."""
        self._verified |= older._verified

    def recheck(
        self, connect: dict[str, Any], nonce: str, cert: PeerCert | None = None, host: str = ""
    ) -> Identity | None:
        """Who a connected client is under these rules (bcrypt checked here, synchronously: reloads only)."""
        identity = self.authenticate(connect, nonce, cert, host)
        if identity is None and self.needs_slow_check(connect, nonce):
            identity = self.check_slow(connect, nonce)
        return identity

    def authenticate(
        self, connect: dict[str, Any], nonce: str = "", cert: PeerCert | None = None, host: str = ""
    ) -> Identity | None:
        """Who the client is, or None when the credentials are refused (fast checks only).

        A claim resting on a bcrypt hash not verified before returns None here when
        :meth:`needs_slow_check` is true for it: call :meth:`check_slow` (off the loop) then.
        ``cert`` is the client's TLS certificate, when it presented one; ``host`` its address.
        """
        claim = self._claim(connect, nonce, cert)
        if claim is None:
            return None
        if is_bcrypt(claim.stored):
            return claim.identity if self._key(claim) in self._verified else None
        return claim.identity if _same(claim.given, claim.stored) else None

    def needs_slow_check(self, connect: dict[str, Any], nonce: str = "") -> bool:
        """Whether refusing now would be premature: a bcrypt hash must be checked first."""
        claim = self._claim(connect, nonce)
        return claim is not None and is_bcrypt(claim.stored) and self._key(claim) not in self._verified

    def check_slow(self, connect: dict[str, Any], nonce: str = "") -> Identity | None:
        """:meth:`authenticate` including bcrypt; run it on a worker thread (bcrypt releases the GIL)."""
        claim = self._claim(connect, nonce)
        if claim is None:
            return None
        if not is_bcrypt(claim.stored):
            return claim.identity if _same(claim.given, claim.stored) else None
        import bcrypt

        try:
            ok = bcrypt.checkpw(claim.given.encode(), claim.stored.encode())
        except ValueError:  # a hash bcrypt cannot read: never a match
            ok = False
        if not ok:
            return None
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified.add(self._key(claim))
        return claim.identity

    def _claim(self, connect: dict[str, Any], nonce: str, cert: PeerCert | None = None) -> _Claim | None:
        auth = self.auth
        if not auth.required:
            return _Claim("", "", Identity(self.account))
        given_nkey = _text(connect.get("nkey"))
        if given_nkey and self._nkeys:
            # An NKEY user proves itself by signing this connection's nonce; nothing else counts.
            holder = self._nkeys.get(given_nkey)
            if holder is None or not nkey.verify(given_nkey, nonce, _text(connect.get("sig")) or ""):
                return None
            return _Claim("", "", Identity(holder.account or self.account, holder.name, holder.permissions))
        if self.tls_map and auth.users is not None:
            # The certificate is the credential; a user or password in CONNECT is not looked at.
            mapped = self._mapped(cert)
            if mapped is None:
                return None
            return _Claim("", "", Identity(mapped.account or self.account, mapped.name, mapped.permissions))
        given_user = _text(connect.get("user"))
        given_pass = _text(connect.get("pass"))
        given_token = _text(connect.get("auth_token"))
        if auth.users is not None:
            if auth.no_auth_user and not (given_user or given_pass or given_token or given_nkey):
                user = self._users.get(auth.no_auth_user) or self._nkeys.get(auth.no_auth_user)
                if user is None:
                    return None
                return _Claim("", "", Identity(user.account or self.account, user.name, user.permissions))
            found = self._users.get(given_user or "")
            if found is None:
                return None
            return _Claim(
                found.password,
                given_pass or "",
                Identity(found.account or self.account, found.name, found.permissions),
            )
        if auth.token:
            return _Claim(auth.token, given_token or "", Identity(self.account))
        if given_user != auth.user:
            return None
        return _Claim(auth.password, given_pass or "", Identity(self.account, auth.user, auth.permissions))

    def _mapped(self, cert: PeerCert | None) -> User | None:
        """The user a certificate names: a SAN or the subject as written, else the subject's DN."""
        if cert is None:
            return None
        for name in cert.names():
            if name in self._users:
                return self._users[name]
        for user in self._users.values():
            if cert.subject_is(user.name):
                return user
        return None

    @staticmethod
    def _key(claim: _Claim) -> bytes:
        return hashlib.sha256(f"{claim.stored}\0{claim.given}".encode()).digest()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _same(given: str, want: str) -> bool:
    return hmac.compare_digest(given.encode(), want.encode())

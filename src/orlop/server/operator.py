"""Operator mode: accounts and users proven by JWTs, as ``nsc`` and nats-server arrange them.

The configuration trusts operators (their JWTs); an account exists when an operator (or
one of its signing keys) signed its JWT, and the resolver knows it: ``MEMORY`` (the
``resolver_preload`` map) or ``full`` (``<dir>/<account>.jwt`` files, updated at run time
by ``$SYS.REQ.CLAIMS.UPDATE`` from the system account). A user connects with its JWT
and the signature of INFO's nonce (nats-py's ``user_credentials``, a ``.creds`` file).

The checks, in nats-server's order (auth.go processClientOrLeafAuthentication), each
refusal an ``Authorization Violation``: the user JWT is valid and not expired; its
account resolves, is signed by a trusted operator key and not expired; the user was
issued by the account or one of its signing keys; the nonce signature is the user's
(unless the user is a bearer token and the account allows those); the account has not
revoked it (``revocations``: key or ``*`` -> time, against the JWT's ``iat``); its
``src`` networks contain the client's address; ``allowed_connection_types`` includes
``STANDARD``. Then the claims apply: the user's ``pub``/``sub``/``resp`` permissions (or
the account's ``default_permissions``), the user's and account's ``subs`` and ``payload``,
the account's ``conn`` and JetStream limits (JetStream exists for an account whose
``mem_storage`` or ``disk_storage`` is not 0). A user JWT that expires ends its
connection with ``-ERR 'User Authentication Expired'`` (its account's JWT, with ``Account
Authentication Expired``); an account update that revokes
a connected user ends it with ``-ERR 'User Authentication Revoked'``.

A user signed by a scoped signing key gets its scope's template instead of its own
permissions and limits, and a user with connect ``times`` gets in only inside them
(:mod:`orlop.server.user_claims`). Private exports (``token_req``) are imported with
an activation token (:mod:`orlop.server.activation`), until it expires. An account JWT
that a live update makes expire sooner than the sessions' timers is applied at their
next connect. Exports and imports of account JWTs are wired as
the configuration's are (:mod:`orlop.server.imports`), when the account is first used
and again when a JWT changes.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orlop.server.activation import check_activation, token_problem
from orlop.server.auth import Authenticator, Identity
from orlop.server.jwt import Claims, JwtError, decode
from orlop.server.nkey import decode_signature, raw_key, signed_by
from orlop.server.options import AuthOptions, ClientLimits, Export, Import, OperatorOptions
from orlop.server.permissions import Permissions, ResponsePermission, SubjectPermission
from orlop.server.user_claims import (
    ScopeError,
    connect_window,
    has_own_permissions,
    limits_problem,
    scoped_claims,
)
from orlop.subjects import is_subset

__all__ = ["AccountClaims", "OperatorAuth", "decode_problem"]

log = logging.getLogger("orlop.server")

_USER_PREFIX = 20 << 3  # nkeys.PREFIX_BYTE_USER
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class AccountClaims:
    """What an account JWT says, in the forms the server applies."""

    claims: Claims
    signing_keys: frozenset[str]
    revocations: dict[str, int]
    limits: ClientLimits
    jetstream: dict[str, int | bool] | None  # AccountLimits fields; None: no JetStream
    default_permissions: Permissions | None
    disallow_bearer: bool
    exports: tuple[Export, ...] = ()
    imports: tuple[Import, ...] = ()
    # Scoped signing keys (also in signing_keys): key -> the template its users get.
    scopes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.claims.subject

    def revoked(self, user: str, issued_at: int) -> bool:
        """nats-server's isRevoked: a revocation at or after the JWT's issue time (0 counts as revoked)."""
        for who in (user, "*"):
            at = self.revocations.get(who)
            if at is not None and (issued_at == 0 or at >= issued_at):
                return True
        return False


def decode_problem(nats: dict[str, Any]) -> str:
    """What in an account JWT's claims jwt's decoder refuses ("" when nothing): an unknown
    signing key scope, a scope template or default permissions of the wrong shapes (read
    loosely, those would restrict nothing). nats-server will not start with such a JWT
    preloaded, and refuses the account when it meets one later."""
    for entry in nats.get("signing_keys") or ():
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            if entry.get("kind") != "user_scope":
                return f"unknown signing key scope {entry.get('kind')!r}"
            template = entry.get("template")
            problem = limits_problem({} if template is None else template)
            if problem:
                return f"scoped signing key {entry['key']}: {problem}"
    problem = limits_problem(nats.get("default_permissions") or {})
    return f"default_permissions: {problem}" if problem else ""


def account_claims(claims: Claims) -> AccountClaims:
    nats = claims.nats
    problem = decode_problem(nats)
    if problem:
        raise JwtError(problem)
    keys = set()
    scopes: dict[str, dict[str, Any]] = {}
    for entry in nats.get("signing_keys") or ():
        if isinstance(entry, str):
            keys.add(entry)
        elif isinstance(entry, dict) and isinstance(entry.get("key"), str):
            keys.add(entry["key"])
            scopes[entry["key"]] = entry.get("template") or {}
    imports = _jwt_imports(nats.get("imports") or ())
    for imp in imports:
        # An import's activation token that does not fit it invalidates the account JWT (jwt's
        # Import.Validate); one that expired or was revoked only loses that import, when wired.
        problem = token_problem(imp, claims.subject) if imp.token else ""
        if problem:
            raise JwtError(problem)
    limits = nats.get("limits") or {}
    revocations = {str(k): v for k, v in (nats.get("revocations") or {}).items() if isinstance(v, int)}
    return AccountClaims(
        claims=claims,
        signing_keys=frozenset(keys),
        revocations=revocations,
        limits=ClientLimits(
            max_connections=_limit(limits, "conn"),
            max_subscriptions=_limit(limits, "subs"),
            max_payload=_limit(limits, "payload"),
        ),
        jetstream=_jetstream(limits),
        default_permissions=_permissions(nats.get("default_permissions") or {}),
        disallow_bearer=bool(limits.get("disallow_bearer")),
        exports=_jwt_exports(nats.get("exports") or ()),
        imports=imports,
        scopes=scopes,
    )


_RESPONSE_TYPES = {"singleton": "singleton", "stream": "stream", "chunked": "chunked"}


def _jwt_exports(entries: Any) -> tuple[Export, ...]:
    """An account JWT's exports (``token_req`` ones only to importers with an activation token)."""
    out = []
    for e in entries if isinstance(entries, list) else ():
        if not isinstance(e, dict) or e.get("type") not in ("stream", "service") or not e.get("subject"):
            continue
        revoked = e.get("revocations")
        revoked = revoked if isinstance(revoked, dict) else {}
        revocations = tuple((str(k), v) for k, v in revoked.items() if isinstance(v, int))
        threshold = e.get("response_threshold")
        out.append(
            Export(
                kind=e["type"],
                subject=str(e["subject"]),
                response=_RESPONSE_TYPES.get(str(e.get("response_type", "")).lower(), "singleton"),
                threshold=threshold / _NS if isinstance(threshold, int) and threshold > 0 else 120.0,
                token_position=int(e.get("account_token_position") or 0),
                token_req=bool(e.get("token_req")),
                revocations=revocations,
            )
        )
    return tuple(out)


def _jwt_imports(entries: Any) -> tuple[Import, ...]:
    """An account JWT's imports (jwt v2: ``subject`` is the exporter's, ``local_subject`` ours)."""
    out = []
    for i in entries if isinstance(entries, list) else ():
        if not isinstance(i, dict) or i.get("type") not in ("stream", "service"):
            continue
        if not i.get("subject") or not i.get("account"):
            continue
        token = str(i.get("token") or "")
        local = str(i.get("local_subject") or "")
        legacy = str(i.get("to") or "")  # deprecated: a stream import's prefix, a service's local subject
        if i["type"] == "stream":
            out.append(
                Import(
                    "stream",
                    str(i["account"]),
                    str(i["subject"]),
                    to=local,
                    prefix="" if local else legacy,
                    token=token,
                )
            )
        else:
            service = Import("service", str(i["account"]), str(i["subject"]), to=local or legacy, token=token)
            out.append(service)
    return tuple(out)


def _limit(limits: dict[str, Any], key: str) -> int:
    """A JWT limit: -1 unlimited; a missing key decodes as 0, which is a limit of none (as nats-server)."""
    value = limits.get(key, 0)
    return max(-1, min(int(value), 2**31 - 1)) if isinstance(value, int) else 0


def _jetstream(limits: dict[str, Any]) -> dict[str, int | bool] | None:
    if limits.get("tiered_limits"):
        raise JwtError("tiered JetStream limits are not supported by Orlop")
    mem, disk = _limit(limits, "mem_storage"), _limit(limits, "disk_storage")
    if mem == 0 and disk == 0:
        return None

    def positive(key: str) -> int:
        value = limits.get(key, 0)
        return int(value) if isinstance(value, int) and value > 0 else -1

    return {
        "max_memory": mem,
        "max_storage": disk,
        "max_streams": positive("streams"),
        "max_consumers": positive("consumer"),
        "max_ack_pending": positive("max_ack_pending"),
        "memory_max_stream_bytes": positive("mem_max_stream_bytes"),
        "storage_max_stream_bytes": positive("disk_max_stream_bytes"),
        "max_bytes_required": bool(limits.get("max_bytes_required")),
    }


def _permissions(nats: dict[str, Any]) -> Permissions | None:
    """``pub``/``sub``/``resp`` of a user JWT (or an account's default_permissions); None when empty."""

    def side(block: Any) -> SubjectPermission | None:
        if not isinstance(block, dict):
            return None
        allow = block.get("allow")
        deny = block.get("deny")
        if not allow and not deny:
            return None
        return SubjectPermission(
            allow=tuple(str(s) for s in allow) if allow else None,
            deny=tuple(str(s) for s in deny or ()),
        )

    publish, subscribe = side(nats.get("pub")), side(nats.get("sub"))
    resp = nats.get("resp")
    response = None
    if isinstance(resp, dict):
        max_msgs = int(resp.get("max") or 0)
        ttl = int(resp.get("ttl") or 0)
        response = ResponsePermission(
            max_msgs=max_msgs if max_msgs != 0 else 1,
            expires=ttl / _NS if ttl != 0 else 120.0,
        )
        if publish is None or publish.allow is None:
            publish = SubjectPermission(allow=(), deny=publish.deny if publish else ())
    if publish is None and subscribe is None and response is None:
        return None
    return Permissions(publish, subscribe, response)


class _Resolver:
    """Account JWTs by public key: the preload map, and the directory of a full resolver."""

    def __init__(self, op: OperatorOptions) -> None:
        self.kind = op.resolver
        self.dir = Path(op.resolver_dir) if op.resolver == "full" else None
        self._memory = dict(op.preload)
        if self.dir is not None:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            for key, token in op.preload.items():
                self._save_if_newer(key, token)

    def _path(self, key: str) -> Path:
        assert self.dir is not None
        return self.dir / f"{key}.jwt"

    def lookup(self, key: str) -> str | None:
        if self.dir is None:
            return self._memory.get(key)
        if not key.isalnum():
            return None
        try:
            return self._path(key).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None

    def save(self, key: str, token: str) -> None:
        """Keep ``token`` (full: written to the directory atomically, mode 0600; memory: in the map)."""
        if self.dir is None:
            self._memory[key] = token
            return
        path = self._path(key)
        tmp = path.with_suffix(".jwt.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(token)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def _save_if_newer(self, key: str, token: str) -> None:
        current = self.lookup(key)
        if current is not None:
            try:
                if decode(current, "account").issued_at >= decode(token, "account").issued_at:
                    return
            except JwtError:
                pass
        self.save(key, token)


class OperatorAuth(Authenticator):
    """The authenticator of operator mode (see the module docstring)."""

    def __init__(self, op: OperatorOptions) -> None:
        super().__init__(AuthOptions(), "$G")
        self.op = op
        self.needs_nonce = True
        self.trusted: set[str] = set()
        for token in op.operators:
            operator = decode(token, "operator")
            self.trusted.add(operator.subject)
            self.trusted.update(str(k) for k in operator.nats.get("signing_keys") or () if isinstance(k, str))
        self.resolver = _Resolver(op)
        self._accounts: dict[str, AccountClaims] = {}
        self.on_update: Callable[[AccountClaims], None] | None = None
        # Per account: when the first activation token its imports use expires (unix s, 0 never),
        # as of its last imports_of; the server wires its imports again then.
        self.activations_expire: dict[str, int] = {}
        self._altered: dict[str, frozenset[str]] = {}  # per account: scoped keys its last update changed

    @property
    def required(self) -> bool:
        return True

    # -- accounts ------------------------------------------------------------------------------

    def lookup(self, key: str) -> AccountClaims | None:
        """The account's verified claims (loaded from the resolver on first use), None when unusable."""
        known = self._accounts.get(key)
        if known is None:
            token = self.resolver.lookup(key)
            if token is None:
                return None
            try:
                known = self._verify_account(key, token)
            except JwtError as exc:
                log.warning("account %s: %s", key, exc)
                return None
            self._accounts[key] = known
        return None if known.claims.expired() else known

    def _verify_account(self, key: str, token: str) -> AccountClaims:
        claims = decode(token, "account")
        if claims.subject != key:
            raise JwtError("account validation failed: the JWT is about another account")
        if claims.issuer not in self.trusted:
            raise JwtError("account validation failed: not signed by a trusted operator")
        return account_claims(claims)

    def jetstream_limits(self, key: str) -> dict[str, int | bool] | None:
        acc = self.lookup(key)
        return acc.jetstream if acc is not None else None

    def client_limits(self, key: str) -> ClientLimits | None:
        acc = self.lookup(key)
        return acc.limits if acc is not None else None

    def imports_of(self, key: str) -> list[tuple[Import, Export]]:
        """Account ``key``'s imports that its exporters' JWTs authorize, each with that export
        (a private export only with a valid activation token; see ``activations_expire``)."""
        acc = self.lookup(key)
        self.activations_expire[key] = 0
        if acc is None:
            return []
        out = []
        earliest = 0
        for imp in acc.imports:
            exporter = self.lookup(imp.account)
            # nats-server's choice (checkStreamExportApproved): the export of exactly this
            # subject, else one that contains it; that one export decides.
            kinds = [e for e in exporter.exports if e.kind == imp.kind] if exporter is not None else []
            found = next((e for e in kinds if e.subject == imp.subject), None) or next(
                (e for e in kinds if is_subset(imp.subject, e.subject)), None
            )
            toks = imp.subject.split(".")
            position = found.token_position if found is not None else 0
            if position and not (len(toks) >= position and toks[position - 1] == key):
                found = None  # the subject must carry the importer's own key at that token
            if found is None or exporter is None:
                log.warning(
                    "account %s: import of %s from %s is not exported to it", key, imp.subject, imp.account
                )
                continue
            if found.token_req and not found.token_position:
                why, expires = check_activation(imp, found, exporter.key, exporter.signing_keys)
                if why:
                    log.warning("account %s: %s", key, why)
                    continue
                if expires and (not earliest or expires < earliest):
                    earliest = expires
            out.append((imp, found))
        self.activations_expire[key] = earliest
        return out

    def update(self, token: str, expected: str = "") -> tuple[str, str]:
        """Apply an account JWT pushed at run time: ``(account, "")`` or ``(account, error text)``."""
        try:
            claims = decode(token, "account")
        except JwtError as exc:
            return "n/a", f"jwt update resulted in error - {exc}"
        key = claims.subject
        if expected and expected != key:
            return key, "jwt update resulted in error - subject does not match jwt content"
        try:
            acc = self._verify_account(key, token)
        except JwtError as exc:
            return key, f"jwt validation failed - {exc}"
        self.resolver.save(key, token)
        old = self._accounts.get(key)
        # Scoped keys whose template changed or went: their users are disconnected (they
        # connect again under the new scope), as nats-server evicts them.
        before = old.scopes if old is not None else {}
        self._altered[key] = frozenset(k for k, template in before.items() if acc.scopes.get(k) != template)
        self._accounts[key] = acc
        if self.on_update is not None:
            self.on_update(acc)
        return key, ""

    # -- users ---------------------------------------------------------------------------------

    def authenticate(
        self, connect: dict[str, Any], nonce: str = "", cert: Any = None, host: str = ""
    ) -> Identity | None:
        token = connect.get("jwt")
        if not isinstance(token, str) or not token:
            return None
        try:
            user = decode(token, "user")
        except JwtError as exc:
            log.debug("user JWT not valid: %s", exc)
            return None
        nats = user.nats
        if user.expired() or user.premature():
            return None
        problem = limits_problem(nats)
        if problem:  # jwt's decoder refuses such a token; read loosely it would restrict nothing
            log.debug("user JWT not valid: %s", problem)
            return None
        issuer_account = nats.get("issuer_account")
        key = issuer_account if isinstance(issuer_account, str) and issuer_account else user.issuer
        acc = self.lookup(key)
        if acc is None:
            return None
        if user.issuer != acc.key and user.issuer not in acc.signing_keys:
            return None
        template = acc.scopes.get(user.issuer)
        if template is not None:
            # nats-server's order: the scope replaces the user's permissions and limits
            # before bearer, connection types, src and times are checked.
            if has_own_permissions(nats):
                log.debug("user %s: scoped users require no permissions or limits set", user.subject)
                return None
            tags = acc.claims.nats.get("tags")
            try:
                nats = scoped_claims(
                    template,
                    nats,
                    name=user.name,
                    subject=user.subject,
                    account_name=acc.claims.name,
                    account_tags=[str(t) for t in tags] if isinstance(tags, list) else [],
                )
            except ScopeError as exc:
                log.debug("user %s: its scope generated invalid permissions: %s", user.subject, exc)
                return None
        bearer = bool(nats.get("bearer_token"))
        if bearer and acc.disallow_bearer:
            return None
        if not bearer:
            raw = raw_key(user.subject, _USER_PREFIX)
            signature = decode_signature(str(connect.get("sig") or ""))
            if raw is None or signature is None or not nonce or not signed_by(raw, nonce.encode(), signature):
                return None
        if acc.revoked(user.subject, user.issued_at):
            return None
        if not _source_allowed(nats.get("src"), host):
            return None
        allowed, valid_for = connect_window(nats)
        if not allowed:
            log.info("user %s: outside its connect times", user.subject)
            return None
        types = nats.get("allowed_connection_types")
        if types and "STANDARD" not in {str(t).upper() for t in types}:
            return None
        permissions = _permissions(nats)
        if permissions is None:
            permissions = acc.default_permissions
        # The session ends with the user's JWT or its account's, whichever expires first.
        expires, expiry = float(user.expires), "User Authentication Expired"
        if valid_for and (not expires or time.time() + valid_for < expires):
            expires = time.time() + valid_for  # the end of its connect-times range
        if acc.claims.expires and (not expires or acc.claims.expires < expires):
            expires, expiry = float(acc.claims.expires), "Account Authentication Expired"
        return Identity(
            account=acc.key,
            user=user.name or user.subject,
            permissions=permissions,
            expires=expires,
            expiry=expiry,
            max_subscriptions=_limit(nats, "subs") if "subs" in nats else -1,
            max_payload=_limit(nats, "payload") if "payload" in nats else -1,
        )

    def needs_slow_check(self, connect: dict[str, Any], nonce: str = "") -> bool:
        return False

    def scope_altered(self, connect: dict[str, Any], account: str) -> bool:
        """Whether this (already admitted) CONNECT's user was signed by a scoped key that the
        account's last update changed or removed."""
        altered = self._altered.get(account)
        token = connect.get("jwt")
        if not altered or not isinstance(token, str):
            return False
        try:
            return decode(token, "user").issuer in altered
        except JwtError:
            return True

    def revoked(self, connect: dict[str, Any], account: str) -> bool:
        """Whether the account now revokes the user of this (already admitted) CONNECT."""
        acc = self._accounts.get(account)
        token = connect.get("jwt")
        if acc is None or not isinstance(token, str):
            return False
        try:
            user = decode(token, "user")
        except JwtError:
            return True
        return acc.revoked(user.subject, user.issued_at)


def _source_allowed(src: Any, host: str) -> bool:
    """``src``: CIDR blocks (a list, or one comma-separated string) the client must connect from."""
    if not src:
        return True
    blocks = src.split(",") if isinstance(src, str) else list(src)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    for block in blocks:
        try:
            if address in ipaddress.ip_network(str(block).strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def update_response(server: dict[str, Any], account: str, error: str) -> bytes:
    """nats-server's reply to a claims update (ServerAPIClaimUpdateResponse)."""
    if error:
        failure = {"account": account, "code": 500, "description": error}
        body: dict[str, Any] = {"server": server, "error": failure}
    else:
        body = {"server": server, "data": {"account": account, "code": 200, "message": "jwt updated"}}
    return json.dumps(body).encode()

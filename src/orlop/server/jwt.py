"""NATS JWTs (version 2): decoded, their signature and issuer checked, their times read.

A NATS JWT is ``base64url(header).base64url(claims).base64url(signature)`` without
padding; the header says ``{"typ": "JWT", "alg": "ed25519-nkey"}`` and the signature is
the issuer's ed25519 signature of ``header.claims`` (nats-io/jwt v2 decoder.go). The
issuer (``iss``) is an NKEY public key whose prefix must suit the claim: operators sign
themselves and accounts, accounts (or their signing keys) sign users and the activation
tokens that let another account import a private export. Claims carry ``nats.type``
(operator, account, user, activation) and ``nats.version`` 2; version-1 tokens (with a
top-level ``type``) are refused. Only decoding and verification live here: what the
claims allow is orlop.server.operator's business.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass, field
from typing import Any

import nkeys

from orlop.server.nkey import raw_key, signed_by

__all__ = ["Claims", "JwtError", "decode"]

_MAX_JWT = 1 << 20  # nats-io/jwt refuses larger tokens

# The key types (prefix bytes) allowed to issue each kind of claim.
_ISSUERS = {
    "operator": (nkeys.PREFIX_BYTE_OPERATOR,),
    "account": (nkeys.PREFIX_BYTE_OPERATOR, nkeys.PREFIX_BYTE_ACCOUNT),
    "user": (nkeys.PREFIX_BYTE_ACCOUNT,),
    # The exporter or its signing key lets an importer in (jwt also decodes operator-signed
    # ones; they are then refused as not the exporter's, which loses only that import).
    "activation": (nkeys.PREFIX_BYTE_OPERATOR, nkeys.PREFIX_BYTE_ACCOUNT),
}
_SUBJECTS = {
    "operator": nkeys.PREFIX_BYTE_OPERATOR,
    "account": nkeys.PREFIX_BYTE_ACCOUNT,
    "user": nkeys.PREFIX_BYTE_USER,
    "activation": nkeys.PREFIX_BYTE_ACCOUNT,  # the importing account
}


class JwtError(ValueError):
    """A token that is not a valid NATS JWT of the expected kind (the text says why)."""


@dataclass(frozen=True, slots=True)
class Claims:
    """A verified JWT: who issued it, about whom, when, and its ``nats`` section."""

    kind: str
    subject: str
    issuer: str
    name: str
    issued_at: int
    expires: int  # unix seconds; 0: never
    not_before: int
    nats: dict[str, Any] = field(default_factory=dict)
    token: str = ""

    def expired(self, now: float | None = None) -> bool:
        return self.expires > 0 and (time.time() if now is None else now) > self.expires

    def premature(self, now: float | None = None) -> bool:
        return self.not_before > 0 and self.not_before > (time.time() if now is None else now)


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def decode(token: str, kind: str) -> Claims:
    """Decode and verify ``token`` as a ``kind`` ("operator", "account", "user") claim.

    Raises JwtError when it is malformed, not signed by its issuer, issued by the wrong
    kind of key, about the wrong kind of key, or of another kind or version.
    """
    token = token.strip()
    if len(token) > _MAX_JWT:
        raise JwtError("token too large")
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError("expected 3 chunks")
    try:
        header = json.loads(_b64(parts[0]))
        claims = json.loads(_b64(parts[1]))
        signature = _b64(parts[2])
    except (binascii.Error, ValueError) as exc:
        raise JwtError(f"cannot decode: {exc}") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JwtError("not a JWT")
    if str(header.get("typ", "")).upper() != "JWT" or header.get("alg") != "ed25519-nkey":
        raise JwtError("not a version 2 NATS JWT (header)")
    if "type" in claims:
        raise JwtError("version 1 JWTs are not supported; reissue it with nsc")
    issuer = claims.get("iss")
    if not isinstance(issuer, str):
        raise JwtError("no issuer")
    raw = next((k for p in _ISSUERS[kind] if (k := raw_key(issuer, p)) is not None), None)
    if raw is None:
        raise JwtError(f"unable to validate expected prefixes - {issuer!r} cannot issue {kind} claims")
    if not signed_by(raw, f"{parts[0]}.{parts[1]}".encode(), signature):
        raise JwtError("claim failed V2 signature verification")
    nats = claims.get("nats")
    if not isinstance(nats, dict):
        raise JwtError("no nats claims")
    if nats.get("type") != kind:
        raise JwtError(f"not a {kind} JWT (type {nats.get('type')!r})")
    version = nats.get("version")
    if version not in (1, 2):
        raise JwtError(f"library supports version 2 or less - received {version}")
    subject = claims.get("sub")
    if not isinstance(subject, str) or raw_key(subject, _SUBJECTS[kind]) is None:
        raise JwtError(f"subject is not a valid {kind} public key")
    return Claims(
        kind=kind,
        subject=subject,
        issuer=issuer,
        name=str(claims.get("name") or ""),
        issued_at=_int(claims.get("iat")),
        expires=_int(claims.get("exp")),
        not_before=_int(claims.get("nbf")),
        nats=nats,
        token=token,
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0

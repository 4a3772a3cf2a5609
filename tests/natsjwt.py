"""Just enough of NATS's JWTs (v2) to run a server (Orlop or nats-server) in operator mode in a test.

An operator signs an account, the account signs a user; ``creds_file`` writes the user's
JWT and seed in the ``.creds`` layout nats-py and natscli read. JWTs are
``base64url(header).base64url(claims).base64url(ed25519 signature)``, unpadded, signed
with the issuer's NKEY (``{"typ": "JWT", "alg": "ed25519-nkey"}``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import nkeys


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass
class Identity:
    seed: bytes
    public: str

    @classmethod
    def new(cls, prefix: int) -> Identity:
        seed = nkeys.encode_seed(os.urandom(32), prefix)
        return cls(seed, nkeys.from_seed(seed).public_key.decode())

    def sign_jwt(
        self, subject: str, name: str, nats: dict[str, Any], *, exp: int = 0, iat: int = 0, nbf: int = 0
    ) -> str:
        header = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
        claims: dict[str, Any] = {
            "iat": iat or int(time.time()),
            "iss": self.public,
            "name": name,
            "sub": subject,
            "nats": nats,
        }
        if exp:
            claims["exp"] = exp
        if nbf:
            claims["nbf"] = nbf
        claims["jti"] = (
            base64.b32encode(hashlib.sha256(json.dumps(claims, sort_keys=True).encode()).digest())
            .decode()
            .rstrip("=")
        )
        body = f"{header}.{_b64(json.dumps(claims).encode())}"
        signature = nkeys.from_seed(self.seed).sign(body.encode())
        return f"{body}.{_b64(signature)}"


UNLIMITED = {
    "subs": -1,
    "data": -1,
    "payload": -1,
    "imports": -1,
    "exports": -1,
    "wildcards": True,
    "conn": -1,
    "leaf": -1,
}
JETSTREAM = {"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}


def operator_setup(store_dir: str) -> tuple[str, bytes]:
    """A nats-server configuration in operator mode (memory resolver, JetStream on) and a user's creds."""
    operator = Identity.new(nkeys.PREFIX_BYTE_OPERATOR)
    account = Identity.new(nkeys.PREFIX_BYTE_ACCOUNT)
    system = Identity.new(nkeys.PREFIX_BYTE_ACCOUNT)
    user = Identity.new(nkeys.PREFIX_BYTE_USER)
    op_jwt = operator.sign_jwt(
        operator.public, "OP", {"type": "operator", "version": 2, "system_account": system.public}
    )
    acc_jwt = operator.sign_jwt(
        account.public, "APP", {"type": "account", "version": 2, "limits": {**UNLIMITED, **JETSTREAM}}
    )
    sys_jwt = operator.sign_jwt(system.public, "SYS", {"type": "account", "version": 2, "limits": UNLIMITED})
    user_jwt = account.sign_jwt(
        user.public,
        "ann",
        {"type": "user", "version": 2, "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1},
    )
    conf = (
        f"operator: {op_jwt}\n"
        f"system_account: {system.public}\n"
        "resolver: MEMORY\n"
        f"resolver_preload: {{\n  {account.public}: {acc_jwt}\n  {system.public}: {sys_jwt}\n}}\n"
        f"jetstream {{ store_dir: {store_dir!r} }}\n"
    )
    return conf, creds_file(user_jwt, user)


def creds_file(user_jwt: str, user: Identity) -> bytes:
    """A ``.creds`` file: the user's JWT and its seed, decorated as nsc writes them."""
    creds = (
        f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{user.seed.decode()}\n------END USER NKEY SEED------\n"
    )
    return creds.encode()


def user_claims(**extra: Any) -> dict[str, Any]:
    """A user's ``nats`` claims: unlimited, no permissions of its own, plus ``extra``."""
    return {
        "type": "user",
        "version": 2,
        "pub": {},
        "sub": {},
        "subs": -1,
        "data": -1,
        "payload": -1,
        **extra,
    }


def account_claims(*, jetstream: bool = True, **extra: Any) -> dict[str, Any]:
    """An account's ``nats`` claims: unlimited (with JetStream unless told), plus ``extra``.

    ``limits`` in ``extra`` are merged into the unlimited ones.
    """
    limits = {**UNLIMITED, **(JETSTREAM if jetstream else {}), **extra.pop("limits", {})}
    return {"type": "account", "version": 2, "limits": limits, **extra}


def sign_nonce(user: Identity, nonce: str) -> str:
    """The CONNECT ``sig`` of a nonce: the user's signature, URL-safe base64 without padding."""
    return _b64(nkeys.from_seed(user.seed).sign(nonce.encode()))

"""What every request handler needs: the config, the connection pool, metrics, and who is asking."""

from __future__ import annotations

import base64
import binascii
import time
import weakref
from dataclasses import dataclass

from fastapi import Request

from orlop.gateway.config import Credentials, GatewayConfig
from orlop.gateway.errors import unauthorized
from orlop.gateway.metrics import GatewayMetrics
from orlop.gateway.pool import ClientPool
from orlop.objects import Bucket, ObjectStoreClient

__all__ = ["Gateway", "client_for", "forget_bucket", "open_bucket"]

# Keys of the gateway's own NATS options that are credentials: a request's own replace them.
CREDENTIAL_KEYS = ("user", "password", "token", "user_credentials", "nkeys_seed", "nkeys_seed_str")


@dataclass
class Gateway:
    config: GatewayConfig
    auth: str  # the mode in force: none, passthrough, tokens
    pool: ClientPool
    metrics: GatewayMetrics

    def credentials(self, request: Request) -> Credentials:
        """Who this request is, as NATS credentials; 401 when it must say and does not."""
        if self.auth == "none":
            return Credentials()
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        value = value.strip()
        if not value:
            raise unauthorized()
        if scheme == "bearer":
            if self.auth == "tokens":
                mapped = self.config.tokens.get(value)
                if mapped is None:
                    raise unauthorized("unknown token")
                return mapped
            return Credentials(token=value)
        if scheme == "basic" and self.auth == "passthrough":
            try:
                user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise unauthorized("malformed basic credentials") from None
            if not sep or not user:
                raise unauthorized("malformed basic credentials")
            return Credentials(user=user, password=password)
        raise unauthorized()


_BUCKET_TTL = 2.0  # seconds an opened bucket is reused (its config read once, not per request)
_buckets: weakref.WeakKeyDictionary[ObjectStoreClient, dict[str, tuple[Bucket, float]]] = (
    weakref.WeakKeyDictionary()
)


async def open_bucket(client: ObjectStoreClient, name: str) -> Bucket:
    """``client.bucket(name)``, reused for a moment: every request would otherwise pay a
    STREAM.INFO round trip before its own. A bucket deleted meanwhile still fails its
    operations with BucketNotFound; an edit shows within ``_BUCKET_TTL``."""
    now = time.monotonic()
    known = _buckets.setdefault(client, {})
    cached = known.get(name)
    if cached is not None and now - cached[1] < _BUCKET_TTL:
        return cached[0]
    bucket = await client.bucket(name)
    known[name] = (bucket, now)
    return bucket


def forget_bucket(client: ObjectStoreClient, name: str) -> None:
    _buckets.get(client, {}).pop(name, None)


async def client_for(request: Request) -> ObjectStoreClient:
    """The NATS connection of the requester (a FastAPI dependency)."""
    gw: Gateway = request.app.state.gateway
    return await gw.pool.get(gw.credentials(request))

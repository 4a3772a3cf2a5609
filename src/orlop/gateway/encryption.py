"""Client-side encryption through the gateway: a key per request, or a key the gateway holds by id.

Two ways for a request to name its key (the two headers exclude each other):

* ``X-Orlop-Encryption-Key: <base64 of 32 bytes>`` (or 64 hex digits): the key travels
  with every request. The gateway sees it and the plaintext, so the gateway must be
  trusted and reached over TLS only; proxies must not log the header. The object is
  still encrypted before it reaches NATS, so the NATS servers, their disks and
  backups never see plaintext. ``X-Orlop-Key-Id`` names such a key (default
  ``default``).
* ``X-Orlop-Encryption-Key-Id: <id>``: a key from the gateway's config
  (``encryption_keys = { "2026" = "/etc/orlop/2026.key" }``, key files as
  ``Key.from_file`` reads them). Reads pick the object's own key id from the same
  table, so every configured key decrypts; the id given encrypts puts.

The key is a FastAPI dependency so both headers appear in the OpenAPI document of
every object route. A malformed key is 400; an unknown id is 400 too (a client
error, unlike a wrong key, which is DecryptionFailed: 422/10422).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from orlop.errors import BadRequest
from orlop.objects import Key, Keyring

__all__ = ["KEY_DOC", "RequestKey", "request_key"]

KEY_DOC = (
    "client-side encryption key, base64 of 32 bytes: travels with the request (TLS only; the gateway "
    "sees the plaintext); encrypts a put, decrypts a get"
)
_ID_DOC = "client-side encryption with the gateway's own key of this id (encryption_keys in its config)"


async def request_key(
    request: Request,
    x_orlop_encryption_key: Annotated[str | None, Header(description=KEY_DOC)] = None,
    x_orlop_encryption_key_id: Annotated[str | None, Header(description=_ID_DOC)] = None,
    x_orlop_key_id: Annotated[
        str | None, Header(description="the id recorded for an X-Orlop-Encryption-Key [default]")
    ] = None,
) -> Key | Keyring | None:
    """The key (or the gateway's keyring, the named key first) a request asks for; None without one.

    ``async`` although it never waits: FastAPI runs a plain ``def`` dependency on its thread
    pool, a thread hop on every request."""
    if x_orlop_encryption_key and x_orlop_encryption_key_id:
        raise BadRequest("give X-Orlop-Encryption-Key or X-Orlop-Encryption-Key-Id, not both")
    if x_orlop_encryption_key:
        return Key.from_text(x_orlop_encryption_key, id=x_orlop_key_id or "default")
    if x_orlop_encryption_key_id:
        keys: dict[str, Key] = request.app.state.gateway.config.encryption_keys
        chosen = keys.get(x_orlop_encryption_key_id)
        if chosen is None:
            raise BadRequest(f"the gateway holds no encryption key {x_orlop_encryption_key_id!r}")
        return Keyring([chosen, *(k for k in keys.values() if k is not chosen)])
    return None


RequestKey = Annotated[Key | Keyring | None, Depends(request_key)]

"""S3 server-side encryption headers: SSE-C honoured as client-side encryption, the rest refused.

**SSE-C** (``x-amz-server-side-encryption-customer-algorithm: AES256``, ``-key``: base64 of
32 bytes, ``-key-MD5``): the client sends its key with every request and S3 keeps only the
key's MD5. The gateway does better than keep it server-side: the object is encrypted with
``orlop.objects``' client-side encryption under that key (a fresh data key per object,
wrapped by the customer key, :mod:`orlop.objects.encryption`) before a byte reaches NATS,
so neither the NATS servers nor their disks ever hold the plaintext or the key. The key id
recorded in the object is ``s3-sse-c:<hex MD5 of the key>``, so a read with another key
is refused (``403 AccessDenied``) before anything is streamed, and a read without one is
``400 InvalidRequest``, as S3 answers. Copies take the source's key from
``x-amz-copy-source-server-side-encryption-customer-*``; a multipart upload remembers the
key's MD5 and every part and the completion must bring the same key.

**SSE-S3 and SSE-KMS** (``x-amz-server-side-encryption: AES256 | aws:kms``) promise
encryption with keys the service manages; the gateway has no key service, so they are
refused (``501 NotImplemented``, :mod:`.unkept`) rather than stored in the clear under a promise.

Objects that other Orlop clients encrypted with a key the gateway holds
(``encryption_keys`` in its config) are decrypted on read like the JSON API does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from orlop.errors import DecryptionFailed
from orlop.gateway.s3.context import S3Request
from orlop.gateway.s3.errors import S3Error
from orlop.objects import Bucket, Key, Keyring, ObjectInfo, ObjectReader
from orlop.objects.encryption import KEY_ID_HEADER

__all__ = [
    "COPY_SOURCE",
    "CUSTOMER",
    "CustomerKey",
    "customer_key",
    "open_reader",
    "read_key",
    "stored_md5",
]

CUSTOMER = "x-amz-server-side-encryption-customer-"
COPY_SOURCE = "x-amz-copy-source-server-side-encryption-customer-"
KEY_ID_PREFIX = "s3-sse-c:"


@dataclass(frozen=True)
class CustomerKey:
    """An SSE-C key as a request gave it."""

    key: Key
    md5: str  # base64 of the key's MD5, as S3 names the key

    def answer(self) -> dict[str, str]:
        """The headers S3 answers a request that used this key with."""
        return {CUSTOMER + "algorithm": "AES256", CUSTOMER + "key-MD5": self.md5}


def _key_id(md5: bytes) -> str:
    return KEY_ID_PREFIX + md5.hex()


def customer_key(ctx: S3Request, prefix: str = CUSTOMER) -> CustomerKey | None:
    """The SSE-C key of a request (``prefix``: :data:`COPY_SOURCE` for a copy's source); None
    when it gives none. InvalidArgument for a partial, malformed or mismatching one."""
    algorithm, text, md5_text = (ctx.header(prefix + n) for n in ("algorithm", "key", "key-md5"))
    if algorithm is None and text is None and md5_text is None:
        return None
    if algorithm is None or text is None or md5_text is None:
        raise S3Error(
            "InvalidArgument",
            "Requests specifying Server Side Encryption with Customer provided keys must provide"
            " the algorithm, the key and the key's MD5.",
        )
    if algorithm.strip() != "AES256":
        raise S3Error("InvalidEncryptionAlgorithmError", "The encryption request you specified is not valid.")
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        given_md5 = base64.b64decode(md5_text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw, given_md5 = b"", b""
    if len(raw) != 32:
        raise S3Error("InvalidArgument", "The secret key was invalid for the specified algorithm.")
    md5 = hashlib.md5(raw, usedforsecurity=False).digest()
    if not hmac.compare_digest(md5, given_md5):
        raise S3Error(
            "InvalidArgument", "The calculated MD5 hash of the key did not match the hash that was provided."
        )
    return CustomerKey(Key(raw, id=_key_id(md5)), base64.b64encode(md5).decode())


def stored_md5(info: ObjectInfo) -> str | None:
    """The base64 MD5 of the SSE-C key an object was stored with; None when it has none."""
    key_id = info.header(KEY_ID_HEADER) or ""
    if not key_id.startswith(KEY_ID_PREFIX):
        return None
    try:
        return base64.b64encode(bytes.fromhex(key_id[len(KEY_ID_PREFIX) :])).decode()
    except ValueError:
        return None


def read_key(
    info: ObjectInfo, given: CustomerKey | None, gateway_keys: Keyring | None
) -> Key | Keyring | None:
    """The key to read ``info`` with: the request's SSE-C key, or the gateway's own keys.

    400 InvalidRequest when the object needs an SSE-C key the request did not give, or the
    request gives one for an object that has none; 403 AccessDenied for another key.
    """
    key_id = info.header(KEY_ID_HEADER)
    if key_id is None:  # not encrypted
        if given is not None:
            raise S3Error("InvalidRequest", "The encryption parameters are not applicable to this object.")
        return None
    md5 = stored_md5(info)
    if md5 is not None:
        if given is None:
            raise S3Error(
                "InvalidRequest",
                "The object was stored using a form of Server Side Encryption. The correct parameters"
                " must be provided to retrieve the object.",
            )
        if given.md5 != md5:
            raise S3Error(
                "AccessDenied", "Access Denied: the SSE-C key is not the one the object was stored with"
            )
        return given.key
    if given is not None:
        raise S3Error("InvalidRequest", "The encryption parameters are not applicable to this object.")
    return gateway_keys  # another client's key: decrypted when the gateway holds it


async def open_reader(
    bucket: Bucket, name: str, revision: int | None, given: CustomerKey | None, gateway_keys: Keyring | None
) -> ObjectReader:
    """A reader of ``name`` (that revision), decrypted with the key :func:`read_key` picks.

    A plaintext object read without a key costs no extra lookup: the object store refuses
    an encrypted one at once (DecryptionFailed), and only then is its meta read for its key.
    """
    if given is None:
        try:
            return await bucket.get(name, revision=revision)
        except DecryptionFailed:
            pass
    info = await bucket.info(name, revision=revision)
    return await bucket.get(name, revision=info.revision, encryption=read_key(info, given, gateway_keys))

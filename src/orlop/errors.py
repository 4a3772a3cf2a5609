"""Every exception Orlop raises, in one tree.

Errors are data: each class carries the numbers a peer needs, and layers
translate with ``raise ... from`` rather than leaking a lower layer's type.

::

    OrlopError
    ├── ProtocolError            a peer broke the NATS wire protocol (text = nats-server's -ERR text)
    ├── ConfigError              invalid configuration file or flags
    ├── StartupError             the server could not start (a port taken, an unusable store directory)
    ├── AuthError                credentials refused
    ├── StoreError               the storage engine refused or failed
    │   ├── StoreLimitError          a discard-new limit was hit (max_msgs / max_bytes / per subject)
    │   ├── MsgTooLargeError         message above max_msg_size
    │   ├── StoreClosedError         the store was closed or deleted
    │   ├── DiskFullError            the OS refused the write (ENOSPC, EDQUOT)
    │   └── CorruptStoreError        a record failed its checksum and could not be skipped
    ├── JetStreamError           a JetStream API error: code, err_code, description (server side)
    └── ObjectStoreError         the Object Store layer (orlop.objects): seed codes 404/409/413/507
        ├── BucketNotFound, BucketExists
        ├── ObjectNotFound
        ├── ObjectAlreadyExists
        │   └── RevisionMismatch      a conditional put lost its race
        ├── ObjectTooLarge
        ├── StorageLimitExceeded
        ├── DigestMismatch
        ├── DecryptionFailed      wrong or missing key, or encrypted data tampered with (422/10422)
        ├── BadRequest
        ├── LinkError
        ├── BucketSealed
        └── ObjectStoreUnavailable   no answer from JetStream (timeout, no responders)
            └── JetStreamNotEnabled   nobody serves the JetStream API on this connection

Object Store errors render the seed's JSON shape through :meth:`ObjectStoreError.to_dict`.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthError",
    "BadRequest",
    "BucketExists",
    "BucketNotFound",
    "BucketSealed",
    "ConfigError",
    "CorruptStoreError",
    "DecryptionFailed",
    "DigestMismatch",
    "DiskFullError",
    "JetStreamError",
    "JetStreamNotEnabled",
    "LinkError",
    "MsgTooLargeError",
    "ObjectAlreadyExists",
    "ObjectNotFound",
    "ObjectStoreError",
    "ObjectStoreUnavailable",
    "ObjectTooLarge",
    "OrlopError",
    "PermissionDenied",
    "ProtocolError",
    "RevisionMismatch",
    "StartupError",
    "StorageLimitExceeded",
    "StoreClosedError",
    "StoreError",
    "StoreLimitError",
]


class OrlopError(Exception):
    """Base of every Orlop exception."""


class ProtocolError(OrlopError):
    """A NATS protocol violation.

    ``text`` is exactly what nats-server puts between the quotes of ``-ERR '...'``
    (for example ``Unknown Protocol Operation``). ``fatal`` says whether the
    connection must be closed after the error is sent.
    """

    def __init__(self, text: str, *, fatal: bool = True) -> None:
        super().__init__(text)
        self.text = text
        self.fatal = fatal


class ConfigError(OrlopError):
    """Invalid configuration; the message names the file, line and key where known."""


class StartupError(OrlopError):
    """The server could not start; the message is the log line naming what failed."""


class AuthError(OrlopError):
    """Credentials were refused (``Authorization Violation``)."""


class PermissionDenied(AuthError):
    """The server refused a subject to this user (``Permissions Violation for Publish to …``)."""


class StoreError(OrlopError):
    """The storage engine could not do what was asked."""


class StoreLimitError(StoreError):
    """A discard-new limit was hit. ``kind`` is ``"bytes"``, ``"msgs"`` or ``"subject"``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class MsgTooLargeError(StoreError):
    """The message exceeds the stream's max_msg_size."""


class StoreClosedError(StoreError):
    """The store was closed or deleted."""


class DiskFullError(StoreError):
    """The operating system refused a write: no space left (nothing was acknowledged)."""


class CorruptStoreError(StoreError):
    """Stored data failed verification and could not be recovered."""


class JetStreamError(OrlopError):
    """A JetStream API error as nats-server reports it."""

    def __init__(self, code: int, err_code: int, description: str) -> None:
        super().__init__(f"{description} (code={code}, err_code={err_code})")
        self.code = code
        self.err_code = err_code
        self.description = description

    def to_dict(self) -> dict[str, Any]:
        """The ``error`` object of a JetStream API response (only the three keys clients accept)."""
        return {"code": self.code, "err_code": self.err_code, "description": self.description}


class ObjectStoreError(OrlopError):
    """Base of the Object Store layer's errors, with the seed's codes.

    Subclasses set ``code``/``err_code``/``default_description``; an instance may
    carry a more specific ``description``. Classes with ``canonical`` set (the
    seed's 404/409/413/507 object errors) always describe themselves with
    ``default_description``, as the seed's error JSON requires; the specific text
    given is kept as ``detail`` (also ``str(err)``), which ``to_dict`` does not emit.
    """

    code: ClassVar[int] = 400
    err_code: ClassVar[int] = 10400
    default_description: ClassVar[str] = "bad request"
    canonical: ClassVar[bool] = False

    def __init__(self, description: str | None = None, *, detail: str | None = None) -> None:
        text = description or self.default_description
        self.description = self.default_description if self.canonical else text
        self.detail = detail or text
        super().__init__(self.detail)

    def to_dict(self) -> dict[str, Any]:
        """The seed's error JSON: ``{"error": {"code", "err_code", "description"}}``."""
        return {
            "error": {
                "code": self.code,
                "err_code": self.err_code,
                "description": self.description,
            }
        }


class BadRequest(ObjectStoreError):
    code, err_code, default_description = 400, 10400, "bad request"


class BucketNotFound(ObjectStoreError):
    code, err_code, default_description = 404, 10059, "bucket not found"


class BucketExists(ObjectStoreError):
    code, err_code, default_description = 409, 10058, "bucket already exists"


class BucketSealed(ObjectStoreError):
    code, err_code, default_description = 409, 10109, "bucket is sealed"


class ObjectNotFound(ObjectStoreError):
    code, err_code, default_description = 404, 10404, "object not found"
    canonical = True


class ObjectAlreadyExists(ObjectStoreError):
    code, err_code, default_description = 409, 10409, "object already exists"
    canonical = True


class RevisionMismatch(ObjectAlreadyExists):
    """A conditional put (``if_revision`` / ``create_only``) lost its race."""

    default_description = "object revision does not match"


class ObjectTooLarge(ObjectStoreError):
    code, err_code, default_description = 413, 10413, "object too large"
    canonical = True


class StorageLimitExceeded(ObjectStoreError):
    code, err_code, default_description = 507, 10507, "storage limit exceeded"
    canonical = True


class DigestMismatch(ObjectStoreError):
    code, err_code, default_description = 500, 10500, "object digest does not match"


class DecryptionFailed(ObjectStoreError):
    """A client-side encrypted object could not be decrypted (see :mod:`orlop.objects.encryption`).

    No key, no key with the object's key id, a wrong key, a key given for an object
    that is not encrypted, or chunks/headers that fail authentication (tampered,
    reordered, swapped or truncated). Never accompanied by any plaintext.
    """

    code, err_code, default_description = 422, 10422, "object could not be decrypted"


class LinkError(ObjectStoreError):
    code, err_code, default_description = 400, 10400, "invalid link"


class ObjectStoreUnavailable(ObjectStoreError):
    """The JetStream service did not answer (timeout, no responders, connection lost)."""

    code, err_code, default_description = 503, 10503, "object store unavailable"


class JetStreamNotEnabled(ObjectStoreUnavailable):
    """Nobody answers the JetStream API: the server (or account) runs without JetStream.

    Unlike a timeout this does not pass by itself, so no read waits for it to.
    """

    code, err_code, default_description = 503, 10076, "JetStream not enabled"

"""S3's errors: one table of codes and statuses, one XML shape, and the Object Store's mapped in.

``<Error><Code>NoSuchKey</Code><Message>…</Message><Resource>/b/k</Resource>
<RequestId>…</RequestId></Error>``. Handlers raise :class:`S3Error` with a code from
:data:`STATUS`; the Object Store's own errors (:mod:`orlop.errors`) are translated once,
in :func:`from_object_store`, so no handler needs to know both trees.
"""

from __future__ import annotations

from orlop.errors import (
    AuthError,
    BadRequest,
    BucketExists,
    BucketNotFound,
    BucketSealed,
    DecryptionFailed,
    DigestMismatch,
    ObjectAlreadyExists,
    ObjectNotFound,
    ObjectStoreError,
    ObjectStoreUnavailable,
    ObjectTooLarge,
    PermissionDenied,
    StorageLimitExceeded,
)

__all__ = ["STATUS", "S3Error", "from_object_store"]

# S3 error code -> HTTP status (the subset this gateway answers; see docs/s3.md).
STATUS = {
    "AccessDenied": 403,
    "AuthorizationHeaderMalformed": 400,
    "AuthorizationQueryParametersError": 400,
    "BadDigest": 400,
    "BucketAlreadyOwnedByYou": 409,
    "BucketNotEmpty": 409,
    "EntityTooLarge": 400,
    "EntityTooSmall": 400,
    "IncompleteBody": 400,
    "InternalError": 500,
    "InvalidAccessKeyId": 403,
    "InvalidArgument": 400,
    "InvalidBucketName": 400,
    "InvalidDigest": 400,
    "InvalidLocationConstraint": 400,
    "InvalidObjectState": 403,
    "InvalidPart": 400,
    "InvalidPartNumber": 416,
    "InvalidPartOrder": 400,
    "InvalidRange": 416,
    "InvalidRequest": 400,
    "KeyTooLongError": 400,
    "MalformedXML": 400,
    "MethodNotAllowed": 405,
    "MissingContentLength": 411,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
    "NoSuchVersion": 404,
    "NotImplemented": 501,
    "PreconditionFailed": 412,
    "QuotaExceeded": 403,
    "RequestTimeTooSkewed": 403,
    "ServiceUnavailable": 503,
    "SignatureDoesNotMatch": 403,
    "XAmzContentSHA256Mismatch": 400,
}


class S3Error(Exception):
    """An S3 error answer: ``code`` from :data:`STATUS`, a message, optional extra headers."""

    def __init__(self, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = STATUS.get(code, 400)
        self.headers = headers or {}


def from_object_store(exc: Exception) -> S3Error:
    """The S3 error for an Object Store (or NATS auth) error; InternalError for anything else."""
    text = getattr(exc, "detail", None) or str(exc)
    if isinstance(exc, PermissionDenied):
        return S3Error("AccessDenied", f"Access Denied: {text}")
    if isinstance(exc, AuthError):
        return S3Error("AccessDenied", "Access Denied: the NATS server refused this key's credentials")
    if not isinstance(exc, ObjectStoreError):
        return S3Error("InternalError", "We encountered an internal error. Please try again.")
    table: list[tuple[type[ObjectStoreError], str]] = [
        (BucketNotFound, "NoSuchBucket"),
        (ObjectNotFound, "NoSuchKey"),
        (BucketExists, "BucketAlreadyOwnedByYou"),
        (ObjectAlreadyExists, "PreconditionFailed"),  # only conditional writes raise it
        (ObjectTooLarge, "EntityTooLarge"),
        (StorageLimitExceeded, "QuotaExceeded"),
        (BucketSealed, "AccessDenied"),
        (DecryptionFailed, "InvalidObjectState"),
        (DigestMismatch, "InternalError"),
        (ObjectStoreUnavailable, "ServiceUnavailable"),
        (BadRequest, "InvalidArgument"),
    ]
    for cls, code in table:
        if isinstance(exc, cls):
            return S3Error(code, text)
    return S3Error("InvalidArgument", text)

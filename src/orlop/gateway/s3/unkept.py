"""Request headers that promise what the gateway cannot keep: refused, never ignored.

A client that asks S3 for server-side encryption with managed keys, an object lock
(retention or legal hold) or tags is told of a guarantee or a record it expects to exist.
Storing the object without it would break that promise silently, so such writes are
refused with ``501 NotImplemented`` and nothing is stored. (ACL headers are accepted: the
only ACL the gateway has is its owner's, so an ignored grant never opens access wider than
asked; SSE-C is honoured, :mod:`.sse`.)
"""

from __future__ import annotations

from orlop.gateway.s3.context import S3Request
from orlop.gateway.s3.errors import S3Error

__all__ = ["refuse_unkept"]

# header -> what it asks for, as the refusal says it
_OBJECT_PROMISES = {
    "x-amz-server-side-encryption": "server-side encryption with keys the gateway does not manage"
    " (use SSE-C, x-amz-server-side-encryption-customer-*: the gateway encrypts with it before NATS)",
    "x-amz-server-side-encryption-aws-kms-key-id": "SSE-KMS",
    "x-amz-object-lock-mode": "an object lock (retention)",
    "x-amz-object-lock-retain-until-date": "an object lock (retention)",
    "x-amz-object-lock-legal-hold": "a legal hold",
    "x-amz-tagging": "object tags (tagging is not supported: the tags would be lost)",
}
_BUCKET_PROMISES = {
    "x-amz-bucket-object-lock-enabled": "object lock on the bucket",
}


def refuse_unkept(ctx: S3Request, *, bucket: bool = False) -> None:
    """NotImplemented when the request asks for something in the tables above."""
    promises = _BUCKET_PROMISES if bucket else _OBJECT_PROMISES
    for header, what in promises.items():
        value = ctx.header(header)
        if value is None or (bucket and value.strip().lower() == "false"):
            continue
        raise S3Error(
            "NotImplemented", f"{header}: {value} asks for {what}; the Orlop gateway cannot keep it"
        )

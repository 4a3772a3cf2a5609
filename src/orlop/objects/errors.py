"""Translate JetStream and nats-py failures into the Object Store's error tree.

Every class lives in :mod:`orlop.errors`; this module only maps. The server
speaks nats-server's JetStream codes (10059 stream not found, 10071 wrong last
sequence, ...); users of :mod:`orlop.objects` see the seed's Object Store codes
(10404, 10409, 10413, 10507, ...). Callers translate with ``raise ... from`` so
the server's answer stays attached as ``__cause__``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import nats.errors

from orlop.errors import (
    BadRequest,
    BucketExists,
    BucketNotFound,
    BucketSealed,
    JetStreamError,
    JetStreamNotEnabled,
    ObjectNotFound,
    ObjectStoreError,
    ObjectStoreUnavailable,
    ObjectTooLarge,
    RevisionMismatch,
    StorageLimitExceeded,
)
from orlop.jsapi.errors import Err

__all__ = ["NOT_ENABLED", "WRONG_LAST_SEQUENCE", "from_jetstream", "from_transport", "translated"]

P = ParamSpec("P")
T = TypeVar("T")

WRONG_LAST_SEQUENCE = frozenset(
    {Err.STREAM_WRONG_LAST_SEQUENCE.err_code, Err.STREAM_WRONG_LAST_SEQUENCE_CONSTANT.err_code}
)
"""A conditional meta publish found another revision (``Nats-Expected-Last-Subject-Sequence``)."""
NOT_ENABLED = frozenset({Err.NOT_ENABLED_FOR_ACCOUNT.err_code, Err.NOT_ENABLED.err_code})
"""JetStream not enabled (for the account, for the server): a 503 that no wait mends."""

# nats-server err_codes that name a storage limit (discard-new limits, account resources).
_STORAGE_LIMIT = {
    Err.STREAM_STORE_FAILED.err_code,
    Err.STORAGE_RESOURCES_EXCEEDED.err_code,
    Err.INSUFFICIENT_RESOURCES.err_code,
    Err.MEMORY_RESOURCES_EXCEEDED.err_code,
    Err.MAXIMUM_STREAMS_LIMIT.err_code,
}


def from_jetstream(err: JetStreamError) -> ObjectStoreError:
    """The Object Store error for a JetStream API error (without raising it)."""
    code = err.err_code
    desc = err.description
    if code == Err.STREAM_NOT_FOUND.err_code:
        return BucketNotFound()
    if code == Err.STREAM_NAME_EXIST.err_code:
        return BucketExists()
    if code == Err.NO_MESSAGE_FOUND.err_code:
        return ObjectNotFound()
    if code in WRONG_LAST_SEQUENCE:
        return RevisionMismatch(f"object revision does not match ({desc})")
    if code in _STORAGE_LIMIT or "maximum bytes" in desc:
        return StorageLimitExceeded(f"storage limit exceeded ({desc})")
    if code == Err.STREAM_MESSAGE_EXCEEDS_MAXIMUM.err_code:
        return ObjectTooLarge(f"chunk exceeds the stream's maximum message size ({desc})")
    if code == Err.STREAM_SEALED.err_code:
        return BucketSealed()
    if code in NOT_ENABLED:
        return JetStreamNotEnabled(desc or None)
    if err.code == 503:
        return ObjectStoreUnavailable(desc or None)
    return BadRequest(f"{desc} (err_code={code})")


def from_transport(err: BaseException) -> ObjectStoreError:
    """The Object Store error for a nats-py transport failure (timeout, no responders, closed)."""
    if isinstance(err, nats.errors.NoRespondersError):
        return ObjectStoreUnavailable("no responders: JetStream is not enabled or the bucket is gone")
    if isinstance(err, nats.errors.TimeoutError | asyncio.TimeoutError):
        return ObjectStoreUnavailable("request timed out")
    if isinstance(err, nats.errors.MaxPayloadError):
        return BadRequest("message exceeds the server's max_payload")
    if isinstance(err, nats.errors.ConnectionClosedError):
        return ObjectStoreUnavailable("the connection to the NATS server closed")
    return ObjectStoreUnavailable(f"connection failure: {err!r}")


def translated(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Decorate a public coroutine: JetStreamError and nats-py's errors leave it as Object Store errors."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except JetStreamError as e:
            raise from_jetstream(e) from e
        except nats.errors.Error as e:
            raise from_transport(e) from e

    return wrapper

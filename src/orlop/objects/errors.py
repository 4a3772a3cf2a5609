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

__all__ = ["from_jetstream", "from_transport", "translated"]

P = ParamSpec("P")
T = TypeVar("T")

# nats-server err_codes that name a storage limit (discard-new limits, account resources).
_STORAGE_LIMIT = {10077, 10047, 10023, 10028, 10027}


def from_jetstream(err: JetStreamError) -> ObjectStoreError:
    """The Object Store error for a JetStream API error (without raising it)."""
    code = err.err_code
    desc = err.description
    if code == 10059:
        return BucketNotFound()
    if code == 10058:
        return BucketExists()
    if code == 10037:
        return ObjectNotFound()
    if code in (10071, 10164):
        return RevisionMismatch(f"object revision does not match ({desc})")
    if code in _STORAGE_LIMIT or "maximum bytes" in desc:
        return StorageLimitExceeded(f"storage limit exceeded ({desc})")
    if code == 10054:
        return ObjectTooLarge(f"chunk exceeds the stream's maximum message size ({desc})")
    if code == 10109:
        return BucketSealed()
    if code in (10039, 10076):
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

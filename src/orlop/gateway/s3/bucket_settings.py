"""CreateBucket's object store settings, from ``x-amz-meta-*`` request headers.

S3's CreateBucket has no place for a bucket's limits, so the gateway reads them from
``x-amz-meta-<setting>`` headers (S3 itself ignores user metadata on a bucket), mapped onto
:meth:`orlop.objects.ObjectStoreClient.create_bucket`'s options:

=================================  ==========================================================
header                             option
=================================  ==========================================================
``x-amz-meta-history``             ``history``: revisions kept per name, 1-64 (> 1: versioning ``Enabled``)
``x-amz-meta-max-object-size``     ``max_object_size``: bytes (``1048576``, ``10MiB``, ``1G``)
``x-amz-meta-max-bytes``           ``max_bytes``: the bucket's size limit, same units
``x-amz-meta-ttl``                 ``ttl``: objects expire this long after they are written
                                   (seconds, or ``90s`` ``30m`` ``24h`` ``7d``)
``x-amz-meta-compression``         ``compression``: ``s2`` / ``true``, or ``none`` / ``false``
``x-amz-meta-replicas``            ``num_replicas`` (a nats-server cluster's R3, …)
``x-amz-meta-storage``             ``storage``: ``file`` or ``memory``
``x-amz-meta-description``         ``description``
=================================  ==========================================================

Any other ``x-amz-meta-*`` header, or a value that is not one of these forms, is
``400 InvalidArgument``: a misspelt setting must not silently create a default bucket.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from orlop.errors import ConfigError
from orlop.gateway.s3.config import parse_seconds
from orlop.gateway.s3.errors import S3Error

__all__ = ["SETTINGS", "bucket_options"]

_PREFIX = "x-amz-meta-"
_SIZE = re.compile(r"^(\d+)\s*([kmgt]?)(i?b?)$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def _size(text: str) -> int:
    m = _SIZE.match(text.strip())
    if not m:
        raise ValueError("a size in bytes (1048576, 10MiB, 1G)")
    return int(m.group(1)) * int(1024 ** _POWERS[m.group(2).lower()])


def _count(text: str) -> int:
    if not text.strip().isdigit():
        raise ValueError("a whole number")
    return int(text)


def _seconds(text: str) -> float:
    try:
        return parse_seconds("ttl", text.strip() if not text.strip().isdigit() else int(text))
    except ConfigError:
        raise ValueError("seconds, or a duration like 30m, 24h, 7d") from None


def _compression(text: str) -> bool:
    value = text.strip().lower()
    if value in ("s2", "true", "yes", "on"):
        return True
    if value in ("none", "false", "no", "off", ""):
        return False
    raise ValueError("s2 or none")


def _storage(text: str) -> str:
    if text.strip().lower() not in ("file", "memory"):
        raise ValueError("file or memory")
    return text.strip().lower()


# header suffix -> (create_bucket option, parser)
SETTINGS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "history": ("history", _count),
    "max-object-size": ("max_object_size", _size),
    "max-bytes": ("max_bytes", _size),
    "ttl": ("ttl", _seconds),
    "compression": ("compression", _compression),
    "replicas": ("num_replicas", _count),
    "storage": ("storage", _storage),
    "description": ("description", str),
}


def bucket_options(headers: Mapping[str, str]) -> dict[str, Any]:
    """The create_bucket options the request's ``x-amz-meta-*`` headers give; InvalidArgument."""
    options: dict[str, Any] = {}
    for name, value in headers.items():
        lower = name.lower()
        if not lower.startswith(_PREFIX):
            continue
        setting = SETTINGS.get(lower[len(_PREFIX) :])
        if setting is None:
            known = ", ".join(_PREFIX + s for s in SETTINGS)
            raise S3Error("InvalidArgument", f"unknown bucket setting {name!r} (known: {known})")
        option, parse = setting
        try:
            options[option] = parse(value)
        except ValueError as exc:
            raise S3Error("InvalidArgument", f"{name}: expected {exc}") from None
    return options

"""S3's additional checksums (``x-amz-checksum-*``): which one a request carries, and computing it.

A PutObject or UploadPart may carry one checksum of its body: ``x-amz-checksum-crc32``
(boto3 and the AWS CLI send it by default), ``-crc32c``, ``-sha1`` or ``-sha256``, as a
header, or named by ``x-amz-trailer`` and sent after an aws-chunked body. The gateway
computes the named algorithm while the body streams (:mod:`.body`) and refuses the put
with BadDigest when it differs; the value is kept in the object's ``Orlop-S3-Checksum``
header (``CRC32 <base64>``), so CompleteMultipartUpload can check the checksums its part
list gives against the parts as they were stored, and answer the upload's composite
checksum (the checksum of the parts' checksums, ``-N``) as S3 does.

``x-amz-checksum-crc64nvme`` is refused (NotImplemented): no well-kept Python library
here computes it, and a checksum the client asked for is checked or refused, never
ignored. Two checksum headers on one request are InvalidRequest, as in S3.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import google_crc32c

from orlop.crc import crc32
from orlop.gateway.s3.errors import S3Error
from orlop.objects import ObjectInfo

__all__ = [
    "CHECKSUM_HEADER",
    "Checksum",
    "Running",
    "composite",
    "requested",
    "stored_checksum",
    "supported",
]

CHECKSUM_HEADER = "Orlop-S3-Checksum"
PREFIX = "x-amz-checksum-"
ALGORITHMS = ("crc32", "crc32c", "sha1", "sha256")
_UNSUPPORTED = ("crc64nvme",)
# x-amz-checksum-* headers that are no checksum of the body: CreateMultipartUpload's
# algorithm and type, GetObject's mode.
_NOT_VALUES = ("algorithm", "type", "mode")


@dataclass(frozen=True)
class Checksum:
    """A checksum a request promised: the algorithm, and its base64 value (None: in a trailer)."""

    algorithm: str  # lower case, one of ALGORITHMS
    value: str | None

    @property
    def header(self) -> str:
        return PREFIX + self.algorithm

    @property
    def name(self) -> str:
        return self.algorithm.upper()


def supported(algorithm: str, where: str) -> str:
    """``algorithm`` in lower case; NotImplemented for CRC64NVME, InvalidRequest for unknown ones."""
    algorithm = algorithm.strip().lower()
    if algorithm in _UNSUPPORTED:
        raise S3Error("NotImplemented", f"{where} {algorithm.upper()} is not supported by this gateway")
    if algorithm not in ALGORITHMS:
        raise S3Error("InvalidRequest", f"{where}: unknown checksum algorithm {algorithm!r}")
    return algorithm


def requested(headers: Any) -> Checksum | None:
    """The checksum a request's headers give or announce in ``x-amz-trailer``; None when none.

    ``headers`` is a case-insensitive mapping (Starlette's). InvalidRequest for two of them.
    """
    given = [
        (name.lower()[len(PREFIX) :], value)
        for name, value in headers.items()
        if name.lower().startswith(PREFIX) and name.lower()[len(PREFIX) :] not in _NOT_VALUES
    ]
    trailer = (headers.get("x-amz-trailer") or "").strip().lower()
    if trailer.startswith(PREFIX):
        given.append((trailer[len(PREFIX) :], None))
    if len(given) > 1:
        raise S3Error(
            "InvalidRequest",
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        )
    if not given:
        return None
    algorithm, value = given[0]
    return Checksum(supported(algorithm, "x-amz-checksum-"), value.strip() if value is not None else None)


class Running:
    """One checksum over a body's pieces in order; ``b64()`` its base64 value as S3 writes it."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._crc = 0
        self._hash = hashlib.new(algorithm) if algorithm in ("sha1", "sha256") else None

    def update(self, data: bytes) -> None:
        if self._hash is not None:
            self._hash.update(data)
        elif self.algorithm == "crc32":
            self._crc = crc32(data, self._crc)
        else:
            self._crc = google_crc32c.extend(self._crc, data)

    def digest(self) -> bytes:
        return self._hash.digest() if self._hash is not None else self._crc.to_bytes(4, "big")

    def b64(self) -> str:
        return base64.b64encode(self.digest()).decode()


def stored_checksum(info: ObjectInfo) -> Checksum | None:
    """The checksum kept with an object or part (``Orlop-S3-Checksum``), if it has one."""
    text = info.header(CHECKSUM_HEADER)
    if not text:
        return None
    algorithm, _, value = text.partition(" ")
    return Checksum(algorithm.lower(), value) if algorithm.lower() in ALGORITHMS and value else None


def composite(algorithm: str, values: list[str]) -> str:
    """S3's checksum of a multipart object: the checksum of the parts' raw checksums, ``-N``."""
    running = Running(algorithm)
    for value in values:
        running.update(base64.b64decode(value))
    return f"{running.b64()}-{len(values)}"

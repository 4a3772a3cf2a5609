"""Where the parts of a completed multipart upload lie, for GetObject/HeadObject ``partNumber``.

S3 serves ``?partNumber=N`` as a ranged GET of the N-th part of the upload the object was
completed from, so the part sizes must outlive the parts: CompleteMultipartUpload keeps
them in the object's ``Orlop-S3-Parts`` header (an ``Orlop-`` header, so metadata edits
keep it), run-length encoded because uploads cut a file into equal parts: ``5242880*39,1234``
is 39 parts of 5 MiB then one of 1,234 bytes (at most a few dozen bytes for 10,000 parts).
An object without the header (a single PutObject, a copy, an object of another client, or
one completed before the header existed) is one part, as S3 answers for single-part objects.
"""

from __future__ import annotations

import itertools

from orlop.gateway.s3.errors import S3Error
from orlop.objects import ObjectInfo

__all__ = ["PARTS_HEADER", "decode_sizes", "encode_sizes", "part_span", "requested_part"]

PARTS_HEADER = "Orlop-S3-Parts"
MAX_PARTS = 10_000


def encode_sizes(sizes: list[int]) -> str:
    """``size*count`` runs (``*1`` left out), comma separated."""
    runs = []
    for size, group in itertools.groupby(sizes):
        count = len(list(group))
        runs.append(f"{size}*{count}" if count > 1 else str(size))
    return ",".join(runs)


def decode_sizes(text: str) -> list[int] | None:
    """The part sizes of a header value; None when it is not one (the object is then one part)."""
    sizes: list[int] = []
    for run in text.split(","):
        size, _, count = run.strip().partition("*")
        if not size.isdigit() or (count and not count.isdigit()):
            return None
        sizes.extend([int(size)] * (int(count) if count else 1))
        if len(sizes) > MAX_PARTS:
            return None
    return sizes or None


def requested_part(text: str | None) -> int | None:
    """The ``partNumber`` asked for (None: none); InvalidArgument outside 1 to 10,000."""
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_PARTS:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
    return int(text)


def part_span(info: ObjectInfo, number: int) -> tuple[int, int, int | None]:
    """``(start, length, parts count or None for a single-part object)`` of part ``number``;
    416 InvalidPartNumber past the last part."""
    stored = info.header(PARTS_HEADER)
    sizes = decode_sizes(stored) if stored else None
    if sizes is not None and sum(sizes) != info.original_size:
        sizes = None  # not this object's parts (rewritten by another client): one part
    if number > (len(sizes) if sizes else 1):
        raise S3Error("InvalidPartNumber", "The requested partnumber is not satisfiable")
    if sizes is None:
        return 0, info.original_size, None
    return sum(sizes[: number - 1]), sizes[number - 1], len(sizes)

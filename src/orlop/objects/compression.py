"""Per-object compression: each chunk is a complete Snappy *framed* stream.

Rules (the contract other readers rely on):

* ``put(..., compression="s2")`` splits the data into logical chunks of
  ``chunk_size`` bytes (the last may be shorter) and stores each one as an
  independent Snappy framed stream (``cramjam.snappy.compress``: stream
  identifier + CRC-checked blocks). The framing format allows the stream
  identifier to repeat, so the concatenation of all chunk payloads is itself
  one valid framed stream: Go's ``s2.NewReader`` (which reads Snappy framing)
  or any Snappy framed reader decodes the whole object fetched by an official
  client. Per-chunk framing also keeps range reads exact: logical chunk *i*
  is chunk message *i*.
* The object's headers record it: ``Orlop-Compression: s2`` and
  ``Orlop-Original-Size: <decoded bytes>``. Orlop decodes transparently on get.
* ``size``, ``chunks`` and ``digest`` in the meta describe the **stored**
  (compressed) bytes, because that is what every other client downloads and
  verifies; ``options.max_chunk_size`` is the logical chunk size. Orlop
  verifies the digest over the stored bytes, then decodes.
* Framing adds at most 10 bytes plus 8 per 64 KiB block (incompressible data
  is stored raw inside the frame), so the logical chunk size is limited to
  what fits in ``max_payload`` after that overhead.
"""

from __future__ import annotations

import cramjam

from orlop.errors import BadRequest, DigestMismatch

__all__ = [
    "COMPRESSION_HEADER",
    "ORIGINAL_SIZE_HEADER",
    "check_codec",
    "compress_chunk",
    "decompress_chunk",
    "framing_overhead",
]

COMPRESSION_HEADER = "Orlop-Compression"
ORIGINAL_SIZE_HEADER = "Orlop-Original-Size"
_BLOCK = 65536


def check_codec(compression: object) -> str | None:
    """Normalise the ``compression=`` argument: None/"none"/False -> None, "s2"/"snappy"/True -> "s2"."""
    if compression in (None, False, "none", ""):
        return None
    if compression is True or (isinstance(compression, str) and compression.lower() in ("s2", "snappy")):
        return "s2"
    raise BadRequest(f"unsupported compression {compression!r}: use 's2' or None")


def framing_overhead(chunk_size: int) -> int:
    """Worst-case bytes the framing adds to one chunk of ``chunk_size`` bytes."""
    return 10 + 8 * (chunk_size // _BLOCK + 1)


def compress_chunk(data: bytes | memoryview) -> bytes:
    return bytes(cramjam.snappy.compress(bytes(data)))


def decompress_chunk(data: bytes) -> bytes:
    """Decode one stored chunk; DigestMismatch when the frame is corrupt."""
    try:
        return bytes(cramjam.snappy.decompress(data))
    except Exception as e:  # cramjam raises its own DecompressionError
        raise DigestMismatch(f"compressed chunk does not decode: {e}") from e

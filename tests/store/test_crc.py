"""orlop.crc: the store's CRC-32 is zlib's, value for value, whichever library computes it.

Records written before zlib-ng (or where it is missing) must verify after it, and the
other way round: any difference would turn every stored record into "corrupt".
"""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from orlop import crc
from orlop.store import records


def test_the_fast_crc_is_in_use() -> None:
    # make test installs zlib-ng; falling back silently would cost a third of the server's
    # CPU on big puts without any test noticing.
    assert crc.using == "zlib-ng"


@given(st.binary(max_size=70_000), st.integers(min_value=0, max_value=2**32 - 1))
def test_same_values_as_zlib(data: bytes, start: int) -> None:
    assert crc.crc32(data) == zlib.crc32(data)
    assert crc.crc32(data, start) == zlib.crc32(data, start)
    assert crc.crc32(memoryview(data)[1:], start) == zlib.crc32(data[1:], start)


@given(st.binary(max_size=300), st.binary(max_size=5_000))
def test_a_record_checksummed_by_zlib_still_verifies(subject: bytes, body: bytes) -> None:
    parts, total = records.encode_msg(
        7, 1_700_000_000_000_000_000, b"s." + subject, b"", body, 0, len(body), 0
    )
    record = b"".join(parts)
    assert len(record) == total
    # The record's first four bytes are the crc of the rest, as the standard library computes it.
    assert int.from_bytes(record[:4], "little") == zlib.crc32(record[4:])

"""A big put keeps about one chunk frame queued in nats-py, whatever the object's size.

Without the hand-off wait (``Wire.handed_off``) a put queues its whole PubAck
window (up to 64 MiB) in nats-py's pending list before the flusher writes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os

from orlop.objects import Bucket, ObjectStoreClient

CHUNK = 256 * 1024


async def test_put_queues_about_one_frame(client: ObjectStoreClient, bucket: Bucket) -> None:
    data = os.urandom(32 * 1024 * 1024)
    nc = client.nc
    peak = 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, nc.pending_data_size)
            await asyncio.sleep(0)

    sampler = asyncio.create_task(sample())
    try:
        info = await bucket.put("big.bin", data, chunk_size=CHUNK)
    finally:
        done.set()
        await sampler
    assert info.size == len(data) and info.chunks == len(data) // CHUNK
    # One frame (chunk plus PUB line and headers), and room for a second one being
    # queued while the first waits; the old behaviour reached 128 frames here.
    assert 0 < peak <= 2 * (CHUNK + 1024), peak
    assert hashlib.sha256(await bucket.get_bytes("big.bin")).digest() == hashlib.sha256(data).digest()

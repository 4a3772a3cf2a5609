"""A 1 GiB object through the gateway in constant memory: streamed in, streamed out.

The gateway process's resident memory is sampled (psutil) while the object goes up and
comes back; its peak must stay under 150 MB, so the gateway demonstrably never holds the
object (it could not: 1 GiB is far more than the limit). Bytes are checked end to end by
SHA-256. Run against Orlop's server, the embedded default.
"""

from __future__ import annotations

import asyncio
import hashlib
import os

import httpx
import psutil
import pytest

from orlop.testing import GatewayProcess, ServerProcess

SIZE = 1 << 30
PIECE = 1 << 20
LIMIT = 150 * 1024 * 1024


@pytest.mark.timeout(600)
async def test_one_gibibyte_up_and_down_in_constant_memory(
    orlop_server: ServerProcess, gateway_factory: type[GatewayProcess]
) -> None:
    gw = gateway_factory(orlop_server.url).start()
    assert gw.proc is not None
    process = psutil.Process(gw.proc.pid)
    peak = 0
    sampling = True

    async def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.05)

    block = os.urandom(PIECE)
    sent = hashlib.sha256()

    async def body() -> object:
        for i in range(SIZE // PIECE):
            piece = block[i % 251 :] + block[: i % 251]  # every MiB differs a little
            sent.update(piece)
            yield piece

    sampler = asyncio.create_task(sample())
    try:
        async with httpx.AsyncClient(base_url=gw.url + "/api/v1", timeout=300) as http:
            assert (await http.post("/buckets", json={"bucket": "big"})).status_code == 201
            put = await http.put("/buckets/big/objects/one.gib", content=body())
            assert put.status_code == 201, put.text
            assert put.json()["size"] == SIZE
            got = hashlib.sha256()
            received = 0
            async with http.stream("GET", "/buckets/big/objects/one.gib") as resp:
                assert resp.headers["content-length"] == str(SIZE)
                async for chunk in resp.aiter_bytes():
                    got.update(chunk)
                    received += len(chunk)
            assert received == SIZE and got.digest() == sent.digest()
    finally:
        sampling = False
        await sampler
    print(f"gateway peak RSS {peak / 2**20:.1f} MiB for a {SIZE >> 20} MiB object")
    assert peak < LIMIT, f"gateway peak RSS {peak / 2**20:.1f} MiB"

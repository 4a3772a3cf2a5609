"""512 MiB through the S3 API in constant memory: streamed in (UNSIGNED-PAYLOAD, a body
the client never holds) and streamed out (a presigned GET), the gateway's resident
memory sampled meanwhile; bytes and ETag checked end to end. Orlop's server only."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil
import pytest
from tests.s3.s3helpers import ACCESS_KEY, SECRET_KEY, make_client, sign_v4

from orlop.testing import GatewayProcess, ServerProcess

SIZE = 512 << 20
PIECE = 1 << 20
LIMIT = 150 * 1024 * 1024


@pytest.mark.timeout(600)
async def test_half_a_gibibyte_in_constant_memory(orlop_server: ServerProcess, tmp_path: Path) -> None:
    args = ["--s3-listen", "127.0.0.1:0", "--s3-access-key", ACCESS_KEY, "--s3-secret-key", SECRET_KEY]
    gw = GatewayProcess(orlop_server.url, args=args).start(tmp_path)
    url = f"http://127.0.0.1:{gw.s3_port}"
    try:
        assert gw.proc is not None
        process = psutil.Process(gw.proc.pid)
        peak, sampling = 0, True

        async def sample() -> None:
            nonlocal peak
            while sampling:
                peak = max(peak, process.memory_info().rss)
                await asyncio.sleep(0.05)

        block = os.urandom(PIECE)
        sent_sha, sent_md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)

        async def body() -> AsyncIterator[bytes]:
            for i in range(SIZE // PIECE):
                piece = block[i % 251 :] + block[: i % 251]
                sent_sha.update(piece)
                sent_md5.update(piece)
                yield piece

        s3 = make_client(url, signature_version="s3v4")
        await asyncio.to_thread(s3.create_bucket, Bucket="big")
        sampler = asyncio.create_task(sample())
        try:
            headers = sign_v4("PUT", url, "/big/half.gib", "UNSIGNED-PAYLOAD")
            headers["content-length"] = str(SIZE)
            async with httpx.AsyncClient(timeout=300) as http:
                put = await http.put(url + "/big/half.gib", content=body(), headers=headers)
                assert put.status_code == 200, put.text
                assert put.headers["etag"] == f'"{sent_md5.hexdigest()}"'
                link = s3.generate_presigned_url("get_object", Params={"Bucket": "big", "Key": "half.gib"})
                got, received = hashlib.sha256(), 0
                async with http.stream("GET", link) as resp:
                    assert resp.status_code == 200 and resp.headers["content-length"] == str(SIZE)
                    async for chunk in resp.aiter_bytes():
                        got.update(chunk)
                        received += len(chunk)
            assert received == SIZE and got.digest() == sent_sha.digest()
        finally:
            sampling = False
            await sampler
        print(f"gateway peak RSS {peak / 2**20:.1f} MiB for a {SIZE >> 20} MiB object")
        assert peak < LIMIT, f"gateway peak RSS {peak / 2**20:.1f} MiB"
    finally:
        gw.stop()

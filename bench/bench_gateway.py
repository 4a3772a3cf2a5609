"""The gateway against ``orlop.objects`` in-process, same run: what does HTTP cost?

Streaming (issue 14): a 512 MiB object (64 MiB with ``--quick``) PUT through
``orlop gateway`` and GET back with curl (a C client, as people use the gateway: the
figure is the gateway's, not a Python HTTP client's), file to ``/dev/null``, against the
same file through ``bucket.put(path)`` / ``bucket.download(name, path)`` of the library
on an open connection, alternating run by run, on each server kind. Target: the gateway
at >= 0.7x the library's MB/s.

Small objects: requests per second of ``GET`` of a 1 KiB object with 32 concurrent HTTP
clients (aiohttp, keep-alive), against 32 concurrent ``get_bytes`` of the library. Report
only (a HTTP round trip per request is the point of a gateway). aiohttp, not httpx: httpx
spent ~3.6 ms of CPU per request here, twice the gateway's own, so on two cores the row
measured the client (~280 req/s); aiohttp spends ~0.2 ms.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import MIB, Row, Settings, Target, both_servers, compare, make_row, random_file, run_loop
from orlop.objects import connect
from orlop.testing import GatewayProcess, ServerProcess

__all__ = ["run"]

_names = itertools.count()


def _curl(*args: str) -> float:
    """Seconds one curl run took; raises with its output when it fails."""
    started = time.perf_counter()
    proc = subprocess.run(["curl", "-sS", "--fail-with-body", *args], capture_output=True, timeout=600)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(
            f"curl {args[:2]} exited {proc.returncode}: {proc.stdout[-300:]!r}{proc.stderr[-300:]!r}"
        )
    return took


async def _measure(
    server: ServerProcess, gateway: GatewayProcess, src: Path, size: int, runs: int
) -> dict[str, Any]:
    base = gateway.url + "/api/v1/buckets/gwbench/objects/"
    out = src.with_name("out.bin")
    async with (
        connect(server.url, request_timeout=60) as client,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as http,
    ):
        bucket = await client.create_bucket("gwbench", exist_ok=True)

        async def http_put() -> dict[str, float]:
            name = f"http-{next(_names)}"
            # -T streams the file (--data-binary @file would read it all into memory first).
            took = await asyncio.to_thread(
                _curl,
                "-T",
                str(src),
                "-H",
                "Content-Type: application/octet-stream",
                "-o",
                "/dev/null",
                base + name,
            )
            await bucket.delete(name, purge=True)
            return {"put": size / MIB / took}

        async def lib_put() -> dict[str, float]:
            name = f"lib-{next(_names)}"
            started = time.perf_counter()
            await bucket.put(name, src)
            took = time.perf_counter() - started
            await bucket.delete(name, purge=True)
            return {"put": size / MIB / took}

        await bucket.put("source", src)

        async def http_get() -> dict[str, float]:
            took = await asyncio.to_thread(_curl, "-o", str(out), base + "source")
            assert out.stat().st_size == size
            out.unlink()
            return {"get": size / MIB / took}

        async def lib_get() -> dict[str, float]:
            started = time.perf_counter()
            await bucket.download("source", out)
            took = time.perf_counter() - started
            out.unlink()
            return {"get": size / MIB / took}

        puts = await compare({"http": http_put, "lib": lib_put}, runs, timeout=600, warmup=1)
        gets = await compare({"http": http_get, "lib": lib_get}, runs, timeout=600, warmup=1)
        small = await _small(bucket, http, base + "small.bin", runs)
        await client.delete_bucket("gwbench")
    return {"put": puts, "get": gets, "small": small}


async def _small(bucket: Any, http: aiohttp.ClientSession, url: str, runs: int) -> Any:
    body = os.urandom(1024)
    await bucket.put("small.bin", body)
    total = 3000

    async def http_rate() -> dict[str, float]:
        left = iter(range(total))

        async def worker() -> None:
            for _ in left:
                async with http.get(url) as response:
                    response.raise_for_status()
                    assert await response.read() == body

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(32)))
        return {"rps": total / (time.perf_counter() - started)}

    async def lib_rate() -> dict[str, float]:
        left = iter(range(total))

        async def worker() -> None:
            for _ in left:
                await bucket.get_bytes("small.bin")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(32)))
        return {"rps": total / (time.perf_counter() - started)}

    return await compare({"http": http_rate, "lib": lib_rate}, runs, timeout=600, warmup=1)


def run(settings: Settings) -> list[Row]:
    size = (64 if settings.quick else 512) * MIB
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp, both_servers(settings.kinds) as servers:
        src = random_file(Path(tmp) / "big.bin", size)
        for kind, server in servers.items():
            if isinstance(server, str):
                continue
            gateway = GatewayProcess(server.url).start(Path(tmp))
            try:
                sides = run_loop(
                    lambda s=server, g=gateway: _measure(s, g, src, size, settings.runs), settings.uvloop
                )
            finally:
                gateway.stop()
            for op in ("put", "get"):
                rows.append(
                    make_row(
                        "gateway",
                        f"gateway {op.upper()} {size // MIB} MiB object ({kind})",
                        "MB/s",
                        op,
                        sides[op]["http"],
                        sides[op]["lib"],
                        Target("ratio>=", 0.7),
                        labels=("gateway", "orlop.objects"),
                    )
                )
            rows.append(
                make_row(
                    "gateway",
                    f"GET 1 KiB, 32 concurrent clients ({kind})",
                    "req/s",
                    "rps",
                    sides["small"]["http"],
                    sides["small"]["lib"],
                    Target("info"),
                    labels=("gateway", "orlop.objects"),
                )
            )
    return rows


if __name__ == "__main__":  # pragma: no cover - python -m bench gateway is the usual way
    sys.exit("run it as: python -m bench gateway")

"""The gateway against ``orlop.objects`` in-process, same run: what does HTTP cost?

Streaming (issue 14): a 512 MiB object (64 MiB with ``--quick``) PUT through
``orlop gateway`` and GET back with curl (a C client, as people use the gateway: the
figure is the gateway's, not a Python HTTP client's), file to ``/dev/null``, against the
same file through ``bucket.put(path)`` / ``bucket.download(name, path)`` of the library
on an open connection, alternating run by run, on each server kind. Target: the gateway
at >= 0.7x the library's MB/s.

Where a PUT's CPU goes (report): CPU seconds per PUT of the gateway process against the
library's thread, of the server and curl against the server alone, and of receiving
the same PUT with uvicorn as the gateway runs it into an app that drops the body
(``bench.http_sink``). Two ``ceiling`` rows follow from them (see ``_put_cpu_rows``):
the gateway does on its one thread what the library's put does plus that receiving, and
the gateway, the server and curl together cannot use more CPU seconds than the cores
give; the lower of the two is the best any gateway PUT can reach on this machine.

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
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import (
    MIB,
    Row,
    Settings,
    Side,
    Target,
    both_servers,
    compare,
    make_row,
    random_file,
    run_loop,
)
from orlop.objects import connect
from orlop.testing import GatewayProcess, ServerProcess

__all__ = ["run"]

_names = itertools.count()
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children_cpu() -> float:
    """CPU seconds used by this process's children that have ended (the curl runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class _Sink:
    """``bench.http_sink`` as a subprocess: uvicorn as the gateway runs it, dropping bodies."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.http_sink"], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}/sink"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


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
    server: ServerProcess, gateway: GatewayProcess, sink: _Sink, src: Path, size: int, runs: int
) -> dict[str, Any]:
    base = gateway.url + "/api/v1/buckets/gwbench/objects/"
    out = src.with_name("out.bin")
    assert gateway.proc is not None and server.proc is not None
    gateway_pid, server_pid = gateway.proc.pid, server.proc.pid
    async with (
        connect(server.url, request_timeout=60) as client,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as http,
    ):
        bucket = await client.create_bucket("gwbench", exist_ok=True)

        async def curl_put(url: str, pid: int) -> dict[str, float]:
            """MB/s of one curl PUT, and the CPU seconds spent by ``pid``, the server and curl."""
            cpu, server_cpu, client_cpu = _cpu(pid), _cpu(server_pid), _children_cpu()
            # -T streams the file (--data-binary @file would read it all into memory first).
            took = await asyncio.to_thread(
                _curl, "-T", str(src), "-H", "Content-Type: application/octet-stream", "-o", "/dev/null", url
            )
            return {
                "put": size / MIB / took,
                "cpu": _cpu(pid) - cpu,
                "server_cpu": _cpu(server_pid) - server_cpu,
                "client_cpu": _children_cpu() - client_cpu,
            }

        async def http_put() -> dict[str, float]:
            name = f"http-{next(_names)}"
            figures = await curl_put(base + name, gateway_pid)
            await bucket.delete(name, purge=True)
            return figures

        async def sink_put() -> dict[str, float]:
            return await curl_put(sink.url, sink.proc.pid)

        async def lib_put() -> dict[str, float]:
            name = f"lib-{next(_names)}"
            started, cpu, server_cpu = time.perf_counter(), time.thread_time(), _cpu(server_pid)
            await bucket.put(name, src)
            took = time.perf_counter() - started
            figures = {
                "put": size / MIB / took,
                "cpu": time.thread_time() - cpu,
                "server_cpu": _cpu(server_pid) - server_cpu,
            }
            await bucket.delete(name, purge=True)
            return figures

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

        puts = await compare(
            {"http": http_put, "lib": lib_put, "sink": sink_put}, runs, timeout=600, warmup=1
        )
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


def _sums(*series: list[float]) -> list[float]:
    """Run by run sums of CPU figures (empty when any series is missing)."""
    if not series or any(not values for values in series):
        return []
    return [sum(run) for run in zip(*series, strict=True)]


def _put_cpu_rows(kind: str, size: int, puts: dict[str, Side]) -> list[Row]:
    """Where a PUT's CPU goes, and the two ceilings it puts on the PUT ratio (report only).

    One thread: the gateway's put runs on one thread, doing all the library does for a put
    (read, hash, publish) plus receiving the HTTP body, which the sink measures alone. The
    library's put is bound by its thread (its wall time is about its CPU time), so no
    gateway on one thread beats ``size / (library's seconds + receiving's CPU seconds)``.

    All cores: the gateway, the server and curl share the machine's cores, so no PUT
    through the gateway beats ``size / (their CPU seconds / cores)`` either, however it
    is threaded. On two cores with nats-server (Go, several threads) this is the tighter one.
    """
    http, lib, sink = puts["http"], puts["lib"], puts["sink"]
    mib = size // MIB
    rest = _sums(http.samples.get("server_cpu", []), http.samples.get("client_cpu", []))
    rows = [
        make_row(
            "gateway",
            f"PUT {mib} MiB, CPU s: gateway vs library thread ({kind})",
            "CPU s",
            "cpu",
            http,
            lib,
            Target("info"),
            labels=("gateway", "orlop.objects"),
        ),
        make_row(
            "gateway",
            f"PUT {mib} MiB, CPU s: server + curl vs server ({kind})",
            "CPU s",
            "rest",
            Side({"rest": rest}),
            Side({"rest": lib.samples.get("server_cpu", [])}),
            Target("info"),
            labels=("gateway", "orlop.objects"),
        ),
        make_row(
            "gateway",
            f"PUT {mib} MiB, CPU s: HTTP receive alone vs library thread ({kind})",
            "CPU s",
            "cpu",
            sink,
            lib,
            Target("info"),
            labels=("receive", "orlop.objects"),
        ),
    ]
    lib_rate, receive_cpu = lib.median("put"), sink.median("cpu")
    one_thread = None
    if lib_rate and receive_cpu is not None:
        one_thread = size / MIB / (size / MIB / lib_rate + receive_cpu)
    total = Side({"cpu": _sums(http.samples.get("cpu", []), rest)}).median("cpu")
    cores = os.cpu_count() or 1
    all_cores = size / MIB / (total / cores) if total else None
    for what, ceiling in (
        ("library + HTTP receive on one thread", one_thread),
        (f"gateway + server + curl CPU on {cores} cores", all_cores),
    ):
        rows.append(
            Row(
                "gateway",
                f"PUT {mib} MiB ceiling: {what} ({kind})",
                "MB/s",
                ceiling,
                lib_rate,
                Target("info"),
                orlop_label="ceiling",
                ref_label="orlop.objects",
            )
        )
    return rows


def run(settings: Settings) -> list[Row]:
    size = (64 if settings.quick else 512) * MIB
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp, both_servers(settings.kinds) as servers:
        src = random_file(Path(tmp) / "big.bin", size)
        for kind, server in servers.items():
            if isinstance(server, str):
                continue
            gateway = GatewayProcess(server.url).start(Path(tmp))
            sink = _Sink()
            try:
                sides = run_loop(
                    lambda s=server, g=gateway, k=sink: _measure(s, g, k, src, size, settings.runs),
                    settings.uvloop,
                )
            finally:
                sink.close()
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
            rows += _put_cpu_rows(kind, size, sides["put"])
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

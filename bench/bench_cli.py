"""``orlop object put/get`` of a big file against ``orlop.objects`` in-process, same run.

The question (issue 12): what does a person pay for the command line? The CLI side is
the wall time of the whole ``python -m orlop object … --no-progress`` process, from
spawn to exit (interpreter start, imports, connect, transfer, digest check, close). The
in-process side is one ``bucket.put(path)`` / ``bucket.download(name, path)`` call of
the library on an open connection. Both move the same 512 MiB file (64 MiB with
``--quick``) through the same server, alternating run by run, on each server kind.
Target: the CLI at >= 0.9x the library's MB/s.

A second row per operation takes the cost of starting a CLI process out: the median
wall time of ``orlop object info`` (interpreter start, imports, connect, one request,
exit), measured in the same run, is subtracted from each CLI sample. It shows whether
the command's own transfer path costs anything beyond starting a process.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import MIB, Row, Settings, Target, both_servers, compare, make_row, random_file, run_loop
from orlop.objects import connect
from orlop.testing import ServerProcess

__all__ = ["run"]

_names = itertools.count()


def _cli(url: str, *args: str) -> float:
    """Seconds the whole CLI process took; raises with its stderr when it fails."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "orlop", "object", "-s", url, *args], capture_output=True, timeout=600
    )
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"orlop object {args[0]} exited {proc.returncode}: {proc.stderr.decode()[-300:]}")
    return took


async def _measure(server: ServerProcess, src: Path, work: Path, size: int, runs: int) -> dict[str, Any]:
    url = server.url
    async with connect(url, request_timeout=60) as client:
        bucket = await client.create_bucket("clibench", exist_ok=True)
        await bucket.put("tiny", b"x")
        start = sorted(_cli(url, "info", "clibench", "tiny", "--json") for _ in range(5))[2]

        async def cli_put() -> dict[str, float]:
            name = f"cli-{next(_names)}"
            took = _cli(url, "put", "clibench", str(src), "--name", name, "--no-progress")
            await bucket.delete(name, purge=True)
            return {"put": size / MIB / took, "put_net": size / MIB / max(took - start, 1e-3)}

        async def lib_put() -> dict[str, float]:
            name = f"lib-{next(_names)}"
            started = time.perf_counter()
            await bucket.put(name, src)
            took = time.perf_counter() - started
            await bucket.delete(name, purge=True)
            return {"put": size / MIB / took, "put_net": size / MIB / took}

        await bucket.put("source", src)
        out = work / "out.bin"

        async def cli_get() -> dict[str, float]:
            took = _cli(url, "get", "clibench", "source", "-O", str(out), "-f", "--no-progress")
            out.unlink()
            return {"get": size / MIB / took, "get_net": size / MIB / max(took - start, 1e-3)}

        async def lib_get() -> dict[str, float]:
            started = time.perf_counter()
            await bucket.download("source", out)
            took = time.perf_counter() - started
            out.unlink()
            return {"get": size / MIB / took, "get_net": size / MIB / took}

        puts = await compare({"cli": cli_put, "lib": lib_put}, runs, timeout=600, warmup=1)
        gets = await compare({"cli": cli_get, "lib": lib_get}, runs, timeout=600, warmup=1)
        await client.delete_bucket("clibench")
    return {"put": puts, "get": gets, "start": start}


def run(settings: Settings) -> list[Row]:
    size = (64 if settings.quick else 512) * MIB
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        work = Path(tmp)
        src = random_file(work / "big.bin", size)
        with both_servers(settings.kinds) as servers:
            for kind, server in servers.items():
                if isinstance(server, str):
                    continue
                sides = run_loop(
                    lambda s=server: _measure(s, src, work, size, settings.runs), settings.uvloop
                )
                start_ms = sides["start"] * 1000
                for op in ("put", "get"):
                    cli, lib = sides[op]["cli"], sides[op]["lib"]
                    for metric, what in (
                        (op, "whole process"),
                        (f"{op}_net", f"less {start_ms:.0f} ms start"),
                    ):
                        rows.append(
                            make_row(
                                "cli",
                                f"orlop object {op} {size // MIB} MiB file, {what} ({kind})",
                                "MB/s",
                                metric,
                                cli,
                                lib,
                                Target("ratio>=", 0.9),
                                labels=("CLI", "orlop.objects"),
                            )
                        )
    return rows

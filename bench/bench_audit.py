"""What the object-store audit trail costs: a 512 MiB put through Orlop with audit on vs off.

Issue 15's target: with ``audit { file: ... }`` configured, a 512 MiB object put by
orlop.objects into Orlop's server runs at >= 0.9x the rate of the same put into an
Orlop server without audit, both servers up in the same run and measured alternately.
Audit is Orlop's own feature, so there is no nats-server side here: the ratio printed
is audit on / audit off. Wall-clock rates on a shared two-core machine are noisy, so
the server's own CPU time per put (user + system, from ``/proc``) is reported beside
them: it shows what the audit costs the server, independent of the client's luck.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from bench.bench_objects import _bucket_name, _data
from bench.common import MIB, Row, Settings, Target, compare, make_row, run_loop, running_server
from bench.objclients import open_client

__all__ = ["run"]


def _cpu(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


async def put_once(url: str, pid: int, size: int) -> dict[str, float]:
    """Put ``size`` random bytes with orlop.objects: MB/s, and the server's CPU seconds for it."""
    data = _data(size)
    bucket = _bucket_name("audit")
    client = await open_client("orlop.objects", url)
    try:
        await client.create_bucket(bucket)
        await client.put(bucket, "warm", data[: 2 * MIB])
        os.sync()  # no earlier run's dirty pages written back during this one
        cpu, start = _cpu(pid), time.perf_counter()
        await client.put(bucket, "big.bin", data)
        put_s, server_cpu = time.perf_counter() - start, _cpu(pid) - cpu
        await client.delete_bucket(bucket)
    finally:
        await client.close()
    return {"put_mbs": size / put_s / 1e6, "server_cpu_s": server_cpu}


async def _measure(settings: Settings, on: tuple[str, int], off: tuple[str, int]) -> list[Row]:
    size = (64 if settings.quick else 512) * MIB
    sides = await compare(
        {
            "audit on": lambda: put_once(on[0], on[1], size),
            "audit off": lambda: put_once(off[0], off[1], size),
        },
        settings.runs,
        900,
        warmup=1,
    )
    label = f"{size // MIB} MiB"
    got_on, got_off = sides["audit on"], sides["audit off"]
    labels = ("audit on", "audit off")
    return [
        make_row(
            "audit",
            f"orlop.objects put {label}",
            "MB/s",
            "put_mbs",
            got_on,
            got_off,
            Target("ratio>=", 0.9),
            labels,
        ),
        make_row(
            "audit", f"server CPU per {label} put", "s", "server_cpu_s", got_on, got_off, Target(), labels
        ),
    ]


def run(settings: Settings) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        log = Path(tmp) / "audit.log"
        conf = Path(tmp) / "audit.conf"
        conf.write_text(f"audit {{ file: {str(log)!r} }}\n")
        with running_server("orlop", ["-c", str(conf)]) as on, running_server("orlop") as off:
            assert on.proc is not None and off.proc is not None
            rows = run_loop(lambda: _measure(settings, (on.url, on.proc.pid), (off.url, off.proc.pid)), False)
        records = log.read_text().count("\n") if log.exists() else 0
        for row in rows:
            row.note = "; ".join(filter(None, [row.note, f"{records} audit records written"]))
        return rows

"""Restart time of a big store, Orlop vs nats-server: process start to serving, cold page cache.

Each server of each kind gets the same store, built through the client: a 5 GiB
stream of 128 KiB messages (objects' chunks) and a stream of 100,000 small
messages (1 GiB and 20,000 with ``--quick``). Then, ``runs`` times each:

* stop (SIGTERM), drop the page cache, start, and time until STREAM.INFO of
  both streams shows every message (the client port may open earlier; a server
  that answers before it has recovered does not count as serving);
* the same after SIGKILL (the crash path: no clean shutdown state).

Dropping the cache needs root (``/proc/sys/vm/drop_caches``); without it the
row says ``warm cache``. The target is 5 s to serving for the 5 GiB store
(issue 10); the worst run is reported.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time

import nats

from bench.bench_jetstream import INFLIGHT, publish_pipelined
from bench.common import MIB, Row, Settings, Side, Target, make_row, run_loop
from orlop.testing import ServerProcess

__all__ = ["run"]

STREAMS = {"BENCH": "bench.js.>", "SMALL": "bench.small.>"}


def drop_caches() -> bool:
    """Write back dirty pages and drop the page cache; False when not allowed."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        return False
    return True


async def _build(url: str, big_count: int, small_count: int) -> dict[str, int]:
    nc = await nats.connect(url, pending_size=8 * MIB)
    try:
        js = nc.jetstream(timeout=30)
        for name, subject in STREAMS.items():
            await js.add_stream(name=name, subjects=[subject])
        await publish_pipelined(nc, 128 * 1024, big_count)
        small = nc.jetstream(publish_async_max_pending=INFLIGHT, timeout=30)
        pending = [
            await small.publish_async(f"bench.small.{i % 100}", b"s" * 200) for i in range(small_count)
        ]
        for fut in pending:
            await fut
        return {name: (await js.stream_info(name)).state.messages for name in STREAMS}
    finally:
        await nc.close()


async def _serving(url: str, want: dict[str, int], deadline: float) -> None:
    last = "no answer"
    while time.perf_counter() < deadline:
        try:
            nc = await nats.connect(url, max_reconnect_attempts=0, connect_timeout=2)
            try:
                js = nc.jetstream(timeout=60)
                got = {name: (await js.stream_info(name)).state.messages for name in want}
            finally:
                await nc.close()
            if got == want:
                return
            last = str(got)
        except Exception as exc:  # retried until the deadline: the server may still be starting
            last = repr(exc)
        await asyncio.sleep(0.01)
    raise RuntimeError(f"not serving every message after restart (last: {last})")


async def _restart_times(kind: str, gib: float, small_count: int, runs: int, parent: str | None) -> Side:
    big_count = int(gib * 1024) * MIB // (128 * 1024)
    store = tempfile.mkdtemp(prefix=f"bench-restart-{kind}-", dir=parent)
    srv = ServerProcess(kind=kind, store_dir=store)
    samples: dict[str, list[float]] = {"stop_s": [], "kill_s": []}
    try:
        srv.start(timeout=60)
        want = await _build(srv.url, big_count, small_count)
        cold = True
        for _ in range(runs):
            for how in ("stop", "kill"):
                if how == "kill":
                    srv.kill()
                else:
                    srv.stop(timeout=120)
                cold = drop_caches() and cold
                start = time.perf_counter()
                srv.start(timeout=300)
                await _serving(srv.url, want, start + 300)
                samples[f"{how}_s"].append(time.perf_counter() - start)
        side = Side(samples=samples)
        if not cold:
            side.error = f"{kind}: warm cache (drop_caches not allowed)"
        return side
    except Exception as exc:  # one side failing must not hide the other's figures
        return Side(samples=samples, error=f"{kind}: {type(exc).__name__} {str(exc)[:200]}")
    finally:
        srv.close()
        shutil.rmtree(store, ignore_errors=True)


async def _measure(settings: Settings) -> list[Row]:
    gib, small = (1.0, 20_000) if settings.quick else (5.0, 100_000)
    parent = os.environ.get("ORLOP_BENCH_DIR")  # where the stores are built (default: the temp dir)
    sides: dict[str, Side] = {}
    for kind in ("orlop", "nats-server"):
        if kind in settings.kinds:
            sides[kind] = await _restart_times(kind, gib, small, settings.runs, parent)
    missing = Side(error="not run")
    pair = (sides.get("orlop", missing), sides.get("nats-server", missing))
    name = f"{gib:g} GiB + {small // 1000}k small msgs"
    target = Target("max", 5, "s")
    return [
        make_row("restart", f"restart after stop, {name}", "s", "stop_s", *pair, target),
        make_row("restart", f"restart after SIGKILL, {name}", "s", "kill_s", *pair, target),
    ]


def run(settings: Settings) -> list[Row]:
    """Build the big store in each server and time its restarts (see module docstring)."""
    return run_loop(lambda: _measure(settings), settings.uvloop)

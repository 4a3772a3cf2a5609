"""Object store: orlop.objects against nats-py's object store, and on Orlop's own server.

Three sides, alternating run by run:

- ``orlop.objects`` on nats-server: the library, on the reference server;
- ``nats-py`` on nats-server: what users get today (the anchor the targets are ratios of);
- ``orlop.objects@orlop``: the library on Orlop's server (compared with the first side).

Big transfers go from memory into the bucket and from the bucket into a file. Small
objects are 1 KiB, put then got one at a time (ops/s). Client memory is measured in a
separate process (:mod:`bench.objects_child`) so the benchmark's own buffers do not
count; like the range read it is repeated and the worst run is reported. The range
read asks for the last 1 MiB of a big object and counts the payload bytes the client
connection received (``nc.stats['in_bytes']``), falling back to the
server's ``/varz`` ``out_bytes`` when the library does not expose its connection.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import (
    MIB,
    Measure,
    Row,
    Settings,
    Side,
    Target,
    attempt,
    both_servers,
    bound,
    compare,
    make_row,
    run_loop,
)
from bench.objclients import ObjClient, OrlopClient, open_client
from orlop.testing import ServerProcess

__all__ = ["run"]

_names = itertools.count()
_DATA: dict[int, bytes] = {}


def _data(size: int) -> bytes:
    """Random (incompressible) bytes of ``size``, made once per size."""
    if size not in _DATA:
        _DATA[size] = os.urandom(size)
    return _DATA[size]


def _bucket_name(tag: str) -> str:
    return f"bench_{tag}_{os.getpid()}_{next(_names)}"


async def big_transfer(client_kind: str, url: str, size: int) -> dict[str, float]:
    """Put ``size`` random bytes, then get them into a file; MB/s for each.

    Raises RuntimeError when the file differs from what was put.
    """
    data = _data(size)
    bucket = _bucket_name("big")
    client = await open_client(client_kind, url)
    fd, tmp = tempfile.mkstemp(prefix="bench-obj-")
    os.close(fd)
    path = Path(tmp)
    try:
        await client.create_bucket(bucket)
        # Untimed warm-up (first-use costs: consumer paths, thread pools) for both clients.
        await client.put(bucket, "warm", data[: 2 * MIB])
        await client.download(bucket, "warm", path)
        path.unlink()
        # Each timed transfer starts with no dirty pages of earlier runs: their
        # writeback would otherwise land in whichever measurement happens to be
        # running 30 s later (the kernel's dirty_expire), on the same two cores.
        os.sync()
        start = time.perf_counter()
        await client.put(bucket, "big.bin", data)
        put_s = time.perf_counter() - start
        # Both clients write a new file: replacing an existing one would charge an atomic
        # rename's writeback to whichever client downloads via temp file + rename.
        os.sync()
        start = time.perf_counter()
        await client.download(bucket, "big.bin", path)
        get_s = time.perf_counter() - start
        _check_file(path, data)
        await client.delete_bucket(bucket)
    finally:
        path.unlink(missing_ok=True)
        await client.close()
    return {"put_mbs": size / put_s / 1e6, "get_mbs": size / get_s / 1e6}


def _check_file(path: Path, data: bytes) -> None:
    """Size equal, and the first and last MiB equal (both clients verify the digest themselves)."""
    got = path.stat().st_size
    if got != len(data):
        raise RuntimeError(f"downloaded {got} bytes, put {len(data)}")
    with open(path, "rb") as f:
        head = f.read(MIB)
        f.seek(max(0, len(data) - MIB))
        tail = f.read()
    if head != data[:MIB] or tail != data[max(0, len(data) - MIB) :]:
        raise RuntimeError("downloaded bytes differ from the bytes put")


async def small_objects(client_kind: str, url: str, count: int) -> dict[str, float]:
    """Put ``count`` distinct 1 KiB objects one at a time, then get each; ops/s for each."""
    bucket = _bucket_name("small")
    client = await open_client(client_kind, url)
    payloads = [os.urandom(1024) for _ in range(count)]
    try:
        await client.create_bucket(bucket)
        start = time.perf_counter()
        for i, payload in enumerate(payloads):
            await client.put(bucket, f"obj-{i}", payload)
        put_s = time.perf_counter() - start
        start = time.perf_counter()
        for i, payload in enumerate(payloads):
            if await client.get_bytes(bucket, f"obj-{i}") != payload:
                raise RuntimeError(f"obj-{i}: got different bytes")
        get_s = time.perf_counter() - start
        await client.delete_bucket(bucket)
    finally:
        await client.close()
    return {"put_ops": count / put_s, "get_ops": count / get_s}


def _sides(servers: dict[str, ServerProcess | str], factory: Any) -> dict[str, Measure | str]:
    """The three sides: orlop.objects and nats-py on nats-server, orlop.objects on Orlop."""
    ref = servers.get("nats-server", "nats-server not run")
    orlop = servers.get("orlop", "orlop not run")
    out: dict[str, Measure | str] = {}
    for label, client_kind, srv in (
        ("orlop.objects", "orlop.objects", ref),
        ("nats-py", "nats-py", ref),
        ("orlop.objects@orlop", "orlop.objects", orlop),
    ):
        out[label] = srv if isinstance(srv, str) else factory(client_kind, srv.url)
    return out


async def _seed_object(url: str, bucket: str, size: int) -> None:
    """A big object for the memory and range benchmarks, put by orlop.objects or else nats-py."""
    for kind in ("orlop.objects", "nats-py"):
        try:
            client = await open_client(kind, url)
        except ImportError:
            continue
        try:
            await client.create_bucket(bucket)
            await client.put(bucket, "big.bin", _data(size))
            return
        finally:
            await client.close()
    raise RuntimeError("no client could put the seed object")


async def child_rss(client_kind: str, url: str, bucket: str, use_uvloop: bool) -> dict[str, float]:
    """Peak RSS (MiB) of a fresh client process that downloads ``big.bin`` into a file."""
    fd, dest = tempfile.mkstemp(prefix="bench-rss-")
    os.close(fd)
    cmd = [sys.executable, "-m", "bench.objects_child", client_kind, url, bucket, "big.bin", dest]
    if not use_uvloop:
        cmd.append("--no-uvloop")
    root = Path(__file__).resolve().parent.parent
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 900)
        except BaseException:  # timeout or Ctrl-C: never leave the child running
            proc.kill()
            await proc.wait()
            raise
    finally:
        Path(dest).unlink(missing_ok=True)
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{client_kind} child exited {proc.returncode}: {tail[0]}")
    result: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
    return {"maxrss_mb": result["maxrss_mb"], "get_mbs": result["bytes"] / result["seconds"] / 1e6}


def _varz_out_bytes(srv: ServerProcess) -> int:
    with urllib.request.urlopen(f"{srv.monitor_url}/varz", timeout=10) as resp:
        return int(json.loads(resp.read())["out_bytes"])


def _connection_stats(client: OrlopClient) -> dict[str, int] | None:
    """nats-py's ``stats`` of the connection orlop.objects uses, when it exposes it publicly."""
    for attr in ("nc", "connection", "nats"):
        nc = getattr(client.client, attr, None)
        stats = getattr(nc, "stats", None)
        if isinstance(stats, dict) and "in_bytes" in stats:
            return stats
    return None


async def range_read(srv: ServerProcess, bucket: str, size: int) -> dict[str, float]:
    """Read the last MiB of ``big.bin``; MiB received by the client and seconds taken."""
    client: ObjClient = await open_client("orlop.objects", srv.url)
    assert isinstance(client, OrlopClient)
    try:
        stats = _connection_stats(client)
        before = stats["in_bytes"] if stats else _varz_out_bytes(srv)
        start = time.perf_counter()
        part = await client.read_range(bucket, "big.bin", size - MIB, MIB)
        seconds = time.perf_counter() - start
        after = stats["in_bytes"] if stats else _varz_out_bytes(srv)
    finally:
        await client.close()
    if part != _data(size)[size - MIB :]:
        raise RuntimeError(f"range read returned {len(part)} bytes that differ from the object's tail")
    return {"moved_mib": (after - before) / MIB, "seconds": seconds, "by_client_stats": float(bool(stats))}


async def _memory_and_range(servers: dict[str, ServerProcess | str], settings: Settings) -> list[Row]:
    size = (256 if settings.quick else 1024) * MIB
    label = f"{size // MIB} MiB" if size < 1024 * MIB else f"{size // (1024 * MIB)} GiB"
    rows: list[Row] = []
    ref = servers.get("nats-server", "nats-server not run")
    rss: dict[str, Side] = {}
    ranges: dict[str, Side] = {}
    if isinstance(ref, str):
        rss = {k: Side(error=ref) for k in ("orlop.objects", "nats-py")}
    else:
        bucket = _bucket_name("rss")
        _, error = await attempt("seed", bound(_seed_object, ref.url, bucket, size), timeout=900)
        children: dict[str, Measure | str] = {
            kind: error or bound(child_rss, kind, ref.url, bucket, False)
            for kind in ("orlop.objects", "nats-py")
        }
        rss = await compare(children, settings.runs, 900)
        range_side = error or bound(range_read, ref, bucket, size)
        ranges["nats-server"] = (await compare({"r": range_side}, settings.runs, 300))["r"]
    orlop = servers.get("orlop", "orlop not run")
    if isinstance(orlop, str):
        ranges["orlop"] = Side(error=orlop)
    else:
        bucket = _bucket_name("range")
        _, error = await attempt("seed orlop", bound(_seed_object, orlop.url, bucket, size), timeout=1800)
        range_side = error or bound(range_read, orlop, bucket, size)
        ranges["orlop"] = (await compare({"r": range_side}, settings.runs, 300))["r"]
    rows.append(
        make_row(
            "objects",
            f"client peak RSS, {label} get to file",
            "MB",
            "maxrss_mb",
            rss["orlop.objects"],
            rss["nats-py"],
            Target("max", 100, "MB"),
            ("orlop.objects", "nats-py"),
        )
    )
    none = Side(error="")
    for where in ("nats-server", "orlop"):
        rows.append(
            make_row(
                "objects",
                f"range read last 1 MiB of {label}, on {where}",
                "MiB moved",
                "moved_mib",
                ranges[where],
                none,
                Target("max", 4, "MiB"),
                ("orlop.objects", "-"),
            )
        )
    return rows


async def _measure(settings: Settings) -> list[Row]:
    q = settings.quick
    big = (64 if q else 512) * MIB
    small_n = 100 if q else 400
    with both_servers(settings.kinds, monitor=True) as servers:
        # One untimed round first: on the freshly started servers the first 512 MiB
        # transfer was the slowest sample of every benchmark for orlop.objects (277-544
        # MB/s against 625-818 medians, 22 Nov) and often for nats-py.
        got_big = await compare(
            _sides(servers, lambda k, u: bound(big_transfer, k, u, big)), settings.runs, 900, warmup=1
        )
        got_small = await compare(
            _sides(servers, lambda k, u: bound(small_objects, k, u, small_n)), settings.runs, 600
        )
        memory_rows = await _memory_and_range(servers, settings)
    label = f"{big // MIB} MiB"
    lib, py, own = "orlop.objects", "nats-py", "orlop.objects@orlop"
    vs_py = (lib, py)
    own_vs = ("orlop server", "nats-server")
    b, s = got_big, got_small
    return [
        make_row("objects", f"put {label}", "MB/s", "put_mbs", b[lib], b[py], Target("ratio>=", 3), vs_py),
        make_row("objects", f"get {label}", "MB/s", "get_mbs", b[lib], b[py], Target("ratio>=", 8), vs_py),
        make_row("objects", "put 1 KiB", "ops/s", "put_ops", s[lib], s[py], Target("ratio>=", 2), vs_py),
        make_row("objects", "get 1 KiB", "ops/s", "get_ops", s[lib], s[py], Target("ratio>=", 2), vs_py),
        make_row(
            "objects", f"orlop.objects put {label}", "MB/s", "put_mbs", b[own], b[lib], Target(), own_vs
        ),
        make_row(
            "objects", f"orlop.objects get {label}", "MB/s", "get_mbs", b[own], b[lib], Target(), own_vs
        ),
        make_row("objects", "orlop.objects put 1 KiB", "ops/s", "put_ops", s[own], s[lib], Target(), own_vs),
        make_row("objects", "orlop.objects get 1 KiB", "ops/s", "get_ops", s[own], s[lib], Target(), own_vs),
        *memory_rows,
    ]


async def _measure_uvloop(settings: Settings) -> list[Row]:
    """The big transfers again with both clients on uvloop (reported, no target)."""
    big = (64 if settings.quick else 512) * MIB
    kinds = tuple(k for k in settings.kinds if k == "nats-server")
    with both_servers(kinds, monitor=True) as servers:
        sides = _sides(servers, lambda k, u: bound(big_transfer, k, u, big))
        sides.pop("orlop.objects@orlop")
        got = await compare(sides, settings.runs, 900, warmup=1)
    label = f"{big // MIB} MiB"
    lib, py = "orlop.objects", "nats-py"
    return [
        make_row(
            "objects",
            f"{op} {label}, both on uvloop",
            "MB/s",
            f"{op}_mbs",
            got[lib],
            got[py],
            Target(),
            (lib, py),
        )
        for op in ("put", "get")
    ]


def run(settings: Settings) -> list[Row]:
    """Run the object-store benchmarks; returns the table rows.

    The rows with targets run every client on Python's default asyncio loop: that
    is how nats-py's users run it (``asyncio.run`` in its documentation) and how the
    performance anchors measured the ~200 MB/s put and ~60 MB/s get that the targets
    multiply. uvloop speeds up nats-py's latency-bound put by a third or more (one
    awaited PubAck per chunk), while orlop.objects is bound by the machine's two cores
    on either loop; the big transfers are therefore measured again with both clients
    on uvloop and reported beside them (skipped with ``--no-uvloop``).
    """
    rows = run_loop(lambda: _measure(settings), False)
    if settings.uvloop:
        rows += run_loop(lambda: _measure_uvloop(settings), True)
    return rows

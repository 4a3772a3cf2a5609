"""Encryption at rest: the same server with ``jetstream { key }`` and without, in one run.

Each kind (Orlop, nats-server) runs twice side by side, encrypted (default
cipher, ChaCha20-Poly1305) and plaintext, and the runs alternate so machine
noise hits both alike. Rows: pipelined publish and pull fetch of 128 KiB
messages (the workload of :mod:`bench.bench_jetstream`), the ratio being
encrypted / plaintext (target >= 0.7 for Orlop; nats-server's ratio is the
reference point), then the restart time of a 2 GiB stream (256 MiB with
``--quick``) encrypted beside plaintext.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.bench_jetstream import _wait_for_messages, stream_roundtrip
from bench.common import (
    MIB,
    Row,
    Settings,
    Side,
    Target,
    bound,
    compare,
    make_row,
    run_loop,
    running_server,
)

__all__ = ["run"]

SIZE = 128 * 1024


@contextlib.contextmanager
def _key_args() -> Iterator[list[str]]:
    with tempfile.TemporaryDirectory(prefix="bench-atrest-") as d:
        conf = Path(d) / "encrypted.conf"
        conf.write_text('jetstream { key: "bench-at-rest-key" }\n')
        yield ["-c", str(conf)]


async def _big(kind: str, args: list[str], total_mib: int) -> dict[str, float]:
    """Write a ``total_mib`` stream of 128 KiB messages, stop, and time the restart to a full STREAM.INFO."""
    count = total_mib * MIB // SIZE
    with running_server(kind, args) as srv:
        figures = await stream_roundtrip(srv.url, SIZE, count, keep=True)
        srv.stop(timeout=60)
        start = time.perf_counter()
        srv.start(timeout=120)
        await _wait_for_messages(srv.url, count, deadline=start + 120)
        return {**figures, "restart_s": time.perf_counter() - start}


async def _measure(settings: Settings) -> list[Row]:
    q = settings.quick
    count = (64 if q else 512) * MIB // SIZE
    total_mib = 256 if q else 2048
    rows: list[Row] = []
    labels = ("encrypted", "plaintext")
    with _key_args() as key:
        for kind in settings.kinds:
            with running_server(kind, key) as enc, running_server(kind) as plain:
                sides = await compare(
                    {
                        "encrypted": bound(stream_roundtrip, enc.url, SIZE, count),
                        "plaintext": bound(stream_roundtrip, plain.url, SIZE, count),
                    },
                    settings.runs,
                    600,
                    warmup=1,
                )
            target = Target("ratio>=", 0.7) if kind == "orlop" else Target()
            for name, metric in (("pipelined publish", "pub_mbs"), ("pull fetch", "fetch_mbs")):
                rows.append(
                    make_row(
                        "atrest",
                        f"{kind}: {name} 128 KiB",
                        "MB/s",
                        metric,
                        sides["encrypted"],
                        sides["plaintext"],
                        target,
                        labels,
                    )
                )
            big = await compare(
                {
                    "encrypted": bound(_big, kind, key, total_mib),
                    "plaintext": bound(_big, kind, [], total_mib),
                },
                1,
                1800,
            )
            name = f"{total_mib // 1024} GiB" if total_mib >= 1024 else f"{total_mib} MiB"
            missing = Side(error="not run")
            rows.append(
                make_row(
                    "atrest",
                    f"{kind}: restart with {name} stream",
                    "s",
                    "restart_s",
                    big.get("encrypted", missing),
                    big.get("plaintext", missing),
                    Target(),
                    labels,
                )
            )
    return rows


def run(settings: Settings) -> list[Row]:
    """Run the encryption-at-rest comparison; returns the table rows."""
    return run_loop(lambda: _measure(settings), settings.uvloop)

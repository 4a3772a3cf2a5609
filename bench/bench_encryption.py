"""Client-side encryption: encrypted vs plaintext 512 MiB put and get, on both servers, in one run.

One ``orlop.objects`` client per server; each round puts the same random bytes
once in plaintext and once with ``encryption=Key(...)`` (AES-256-GCM, and
ChaCha20-Poly1305 as an extra row), then downloads each into a file (a fresh
name each time, as :mod:`bench.bench_objects` does), alternating the sides run
by run so noise from the shared machine hits them alike. The ratio is
encrypted / plaintext throughput on the same server (target: >= 0.6x). The
downloaded file is checked against the data.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import MIB, Row, Settings, Side, Target, both_servers, bound, compare, make_row, run_loop
from orlop.objects import Key, connect

__all__ = ["run"]

_names = itertools.count()
_KEYS = {
    "plain": None,
    "aes-256-gcm": Key(os.urandom(32), id="bench"),
    "chacha20-poly1305": Key(os.urandom(32), id="bench-cc", scheme="chacha20-poly1305"),
}


async def transfer(url: str, data: bytes, digest: bytes, key: Key | None) -> dict[str, float]:
    """Put ``data`` (with ``key``, or in plaintext), then download it into a file; MB/s for each."""
    fd, tmp = tempfile.mkstemp(prefix="bench-enc-")
    os.close(fd)
    path = Path(tmp)
    bucket = f"enc{next(_names)}"
    try:
        async with connect(url) as client:
            b = await client.create_bucket(bucket)
            await b.put("warm", data[: 2 * MIB], encryption=key)
            await b.download("warm", path, encryption=key)
            os.sync()
            start = time.perf_counter()
            await b.put("big.bin", data, encryption=key)
            put_s = time.perf_counter() - start
            os.sync()
            start = time.perf_counter()
            await b.download("big.bin", path, encryption=key)
            get_s = time.perf_counter() - start
            sha = hashlib.sha256()
            with open(path, "rb") as f:
                while block := f.read(4 * MIB):
                    sha.update(block)
            if sha.digest() != digest:
                raise RuntimeError("the downloaded file differs from what was put")
            await client.delete_bucket(bucket)
    finally:
        path.unlink(missing_ok=True)
    return {"put_mbs": len(data) / put_s / 1e6, "get_mbs": len(data) / get_s / 1e6}


async def _measure(settings: Settings) -> list[Row]:
    size = (64 if settings.quick else 512) * MIB
    data = os.urandom(size)
    digest = hashlib.sha256(data).digest()
    rows: list[Row] = []
    with both_servers(settings.kinds) as servers:
        for kind, srv in servers.items():
            if isinstance(srv, str):
                rows.append(Row("encryption", f"[{kind}] put/get", "MB/s", None, None, note=srv))
                continue
            sides: dict[str, Any] = {
                label: bound(transfer, srv.url, data, digest, key) for label, key in _KEYS.items()
            }
            got: dict[str, Side] = await compare(sides, settings.runs, timeout=900)
            for scheme in ("aes-256-gcm", "chacha20-poly1305"):
                target = Target("ratio>=", 0.6) if scheme == "aes-256-gcm" else Target()
                for metric, what in (("put_mbs", "put"), ("get_mbs", "get")):
                    rows.append(
                        make_row(
                            "encryption",
                            f"[{kind}] {size // MIB} MiB {what}, {scheme} vs plaintext",
                            "MB/s",
                            metric,
                            got[scheme],
                            got["plain"],
                            target,
                            labels=(scheme, "plaintext"),
                        )
                    )
    return rows


def run(settings: Settings) -> list[Row]:
    return run_loop(lambda: _measure(settings), settings.uvloop)

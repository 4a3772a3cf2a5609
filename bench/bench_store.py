"""Throughput of the file engine: 128 KiB appends, sequential loads, reopen time, RSS.

Not a test (no pass/fail); run ``python bench/bench_store.py --gib 2`` and read the
figures. The store lives in a temporary directory (or ``--dir``) and is deleted after.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import psutil

from orlop.store import FileStore, StoreLimits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gib", type=float, default=2.0, help="stream size in GiB")
    ap.add_argument("--record-kib", type=int, default=128)
    ap.add_argument("--dir", default=None, help="parent directory for the store")
    ap.add_argument("--s2", action="store_true", help="compressed stream")
    args = ap.parse_args()
    proc = psutil.Process()
    record = os.urandom(args.record_kib * 1024)
    count = int(args.gib * (1 << 30)) // len(record)
    limits = StoreLimits(compression="s2" if args.s2 else "none")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        d = Path(tmp) / "stream"
        store = FileStore(d, limits)
        peak = proc.memory_info().rss
        t0 = time.perf_counter()
        for i in range(count):
            store.store_msg(f"$O.bench.C.{i // 1000}", b"", record)
            if i % 1024 == 0:
                peak = max(peak, proc.memory_info().rss)
        dt = time.perf_counter() - t0
        total = count * len(record)
        print(f"append  {count} x {len(record) // 1024} KiB: {total / dt / 1e6:8.0f} MB/s ({dt:.2f} s)")
        t0 = time.perf_counter()
        store.sync()
        print(f"sync    {time.perf_counter() - t0:.2f} s")
        store.close()
        t0 = time.perf_counter()
        store = FileStore(d, limits)
        dt_open = time.perf_counter() - t0
        print(
            f"reopen  {store.state().msgs} msgs, {total / (1 << 30):.2f} GiB: {dt_open * 1000:.0f} ms, "
            f"{store.bytes_read / 1e6:.1f} MB read"
        )
        t0 = time.perf_counter()
        seq, n = 0, 0
        while (m := store.load_next(">", seq + 1)) is not None:
            seq, n = m.seq, n + 1
            if n % 1024 == 0:
                peak = max(peak, proc.memory_info().rss)
        dt = time.perf_counter() - t0
        print(f"load    {n} msgs: {total / dt / 1e6:8.0f} MB/s ({dt:.2f} s)")
        print(f"rss     peak {peak / 1e6:.0f} MB, now {proc.memory_info().rss / 1e6:.0f} MB")
        store.close()


if __name__ == "__main__":
    main()

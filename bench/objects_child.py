"""A client process of its own, so its peak RSS measures one object get and nothing else.

``python -m bench.objects_child CLIENT URL BUCKET NAME DEST [--no-uvloop]`` downloads
the object into DEST with the named client (see :mod:`bench.objclients`) and prints
one JSON line: ``{"maxrss_mb", "seconds", "bytes"}`` (MB = 10^6 bytes). ``maxrss`` is the kernel's
high-water mark of this process's memory (``VmHWM`` in ``/proc/self/status``), so no
sample can miss a spike; it includes the interpreter and imports, which is what a
user's process pays too. ``getrusage``'s ``ru_maxrss`` is not used on Linux: it keeps
the *parent's* peak across fork+exec, so a child of the (big) benchmark process would
report the benchmark's memory.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

from bench.common import run_loop
from bench.objclients import open_client


def _peak_rss_kib() -> int:
    """Peak RSS of this process image in KiB (VmHWM; ru_maxrss where /proc is absent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


async def _download(client_kind: str, url: str, bucket: str, name: str, dest: Path) -> float:
    client = await open_client(client_kind, url)
    try:
        start = time.perf_counter()
        await client.download(bucket, name, dest)
        return time.perf_counter() - start
    finally:
        await client.close()


def main(argv: list[str]) -> int:
    """Download one object and print the JSON line; exit status 2 on bad arguments."""
    if len(argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    client_kind, url, bucket, name, dest = argv[:5]
    use_uvloop = "--no-uvloop" not in argv[5:]
    seconds = run_loop(lambda: _download(client_kind, url, bucket, name, Path(dest)), use_uvloop)
    maxrss_kib = _peak_rss_kib()
    size = os.path.getsize(dest)
    print(json.dumps({"maxrss_mb": maxrss_kib * 1024 / 1e6, "seconds": seconds, "bytes": size}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

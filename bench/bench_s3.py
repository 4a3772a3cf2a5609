"""S3 listing cost: ListObjectsV2 pages of 1,000 keys from buckets of 10,000 and 100,000 objects.

``python -m bench.bench_s3 [--sizes 10000,100000] [--kinds orlop,nats-server]``

Each size gets a fresh server and ``orlop gateway --s3-listen``; objects (1 byte each,
names ``dir<NN>/obj<NNNNNN>``) are written with orlop.objects directly (faster than
S3 puts). Reported per size and server, medians in milliseconds:

* ``first page``: a page after a write (the name index is read again: STREAM.INFO with
  ``subjects_filter``, decoded and sorted), then a page from the middle with a warm index;
* ``delimiter``: ``Delimiter=/`` at the root (100 common prefixes, no metadata read);
* ``(HTTP only)``: the warm page as a presigned URL fetched with httpx (no botocore parsing);
* ``full walk``: every page with boto3's paginator, and the time per page;
* ``bucket.list()``: orlop.objects' own listing, which reads every meta (for scale).

Not part of the test run. Results are printed as a Markdown table (docs/s3.md quotes them).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

from orlop.objects import connect
from orlop.testing import GatewayProcess, ServerProcess

KEY, SECRET = "bench", "bench-secret"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _fill(url: str, count: int) -> float:
    started = time.perf_counter()
    async with connect(url) as client:
        bucket = await client.create_bucket("bench")
        gate = asyncio.Semaphore(256)

        async def one(i: int) -> None:
            async with gate:
                await bucket.put(f"dir{i % 100:02d}/obj{i:06d}", b"x")

        await asyncio.gather(*(one(i) for i in range(count)))
        listed = time.perf_counter()
        assert len(await bucket.list()) == count
        full_list = time.perf_counter() - listed
    print(f"  filled {count} objects in {listed - started:.1f} s", flush=True)
    return full_list


def _timed(fn: Any, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measure(kind: str, count: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    (work / "data").mkdir()
    server = ServerProcess(kind=kind, store_dir=str(work / "data"))
    server.start()
    s3_port = _port()
    gateway = GatewayProcess(
        server.url,
        args=["--s3-listen", f"127.0.0.1:{s3_port}", "--s3-access-key", KEY, "--s3-secret-key", SECRET],
    ).start(work)
    try:
        full_list = asyncio.run(_fill(server.url, count))
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{s3_port}",
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=4),
        )
        middle = f"dir50/obj{count // 2:06d}"

        def cold() -> None:
            s3.put_object(Bucket="bench", Key="zz-touch", Body=b"t")  # a write: the index is read again
            assert s3.list_objects_v2(Bucket="bench", MaxKeys=1000)["KeyCount"] == 1000

        def warm() -> None:
            assert s3.list_objects_v2(Bucket="bench", MaxKeys=1000, StartAfter=middle)["KeyCount"] == 1000

        def rolled() -> None:
            assert len(s3.list_objects_v2(Bucket="bench", Delimiter="/")["CommonPrefixes"]) == 100

        signer = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{s3_port}",
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )
        url = signer.generate_presigned_url(
            "list_objects_v2",
            Params={"Bucket": "bench", "MaxKeys": 1000, "StartAfter": middle},
            ExpiresIn=3600,
        )
        http = httpx.Client()

        def raw() -> None:  # the gateway's share: no botocore XML parsing
            answer = http.get(url)
            assert answer.status_code == 200 and answer.text.count("<Key>") == 1000

        row = {"kind": kind, "objects": count, "cold_page_ms": _timed(cold), "warm_page_ms": _timed(warm)}
        row["raw_page_ms"] = _timed(raw)
        row["delimiter_ms"] = _timed(rolled)
        started, pages, keys = time.perf_counter(), 0, 0
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket="bench", PaginationConfig={"PageSize": 1000}
        ):
            pages += 1
            keys += page["KeyCount"]
        walk = time.perf_counter() - started
        assert keys == count + 1
        row.update(walk_s=walk, walk_page_ms=walk / pages * 1000, bucket_list_s=full_list)
        return row
    finally:
        gateway.stop()
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--kinds", default="orlop,nats-server")
    args = parser.parse_args()
    rows = [
        measure(kind, int(size)) for size in args.sizes.split(",") for kind in args.kinds.split(",") if kind
    ]
    columns = ["server", "objects", "page after a write", "warm page", "(HTTP only)", "Delimiter=/"]
    columns += ["full walk (per page)", "bucket.list()"]
    print("\n| " + " | ".join(columns) + " |")
    print("|---" * len(columns) + "|")
    for r in rows:
        print(
            f"| {r['kind']} | {r['objects']:,} | {r['cold_page_ms']:.0f} ms | {r['warm_page_ms']:.0f} ms"
            f" | {r['raw_page_ms']:.0f} ms | {r['delimiter_ms']:.0f} ms"
            f" | {r['walk_s']:.1f} s ({r['walk_page_ms']:.0f} ms)"
            f" | {r['bucket_list_s']:.1f} s |"
        )


if __name__ == "__main__":
    main()

"""The S3 API's cost: streaming a big object, and ListObjectsV2 pages on big buckets.

**Streaming** (``python -m bench s3 [--quick] [--runs N] [--kinds ...]``): a 512 MiB object
(64 MiB with ``--quick``) PUT and GET with boto3 through ``orlop gateway --s3-listen``,
against the same file through the same gateway's own streaming endpoints
(``PUT``/``GET /api/v1/buckets/{b}/objects/{name}`` with curl, as ``bench_gateway`` does)
and through ``orlop.objects`` in-process, alternating run by run, on each server kind.
boto3 does what it does by default: ``put_object`` of an open file (one request, its
SHA-256 signed and its CRC32 sent, so the gateway checks both and computes the MD5 ETag),
``get_object`` streamed to a file in 1 MiB reads. Target: boto3 through S3 at >= 0.8x the
gateway's streaming endpoints; against ``orlop.objects``: report. Also reported: boto3's
managed transfers (``upload_file`` / ``download_file``: a multipart upload of 8 MiB parts
and ranged GETs, 10 threads), and curl on presigned S3 URLs (the S3 layer's cost with the
same client as the streaming endpoints), and boto3 against a sink that answers ``100
Continue`` and drains the body (boto3's own cost: it reads the whole file for its SHA-256
and CRC32 before it sends a byte, so no server can make its PUT faster than that plus
the transfer; the note gives the ceiling this puts on the target ratio).

**Listing** (``python -m bench.bench_s3 [--sizes 10000,100000] [--kinds orlop,nats-server]``):
ListObjectsV2 pages of 1,000 keys from buckets of 10,000 and 100,000 objects.

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
import itertools
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

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

__all__ = ["main", "measure", "run"]

KEY, SECRET = "bench", "bench-secret"
_names = itertools.count()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _boto(url: str, **config: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
    )


def _curl(*args: str) -> float:
    """Seconds one curl run took; raises with its output when it fails."""
    started = time.perf_counter()
    proc = subprocess.run(["curl", "-sS", "--fail-with-body", *args], capture_output=True, timeout=600)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"curl exited {proc.returncode}: {proc.stdout[-300:]!r}{proc.stderr[-300:]!r}")
    return took


# Streaming: one big object through boto3, the gateway's own endpoints and orlop.objects.


class _NullSink:
    """An HTTP server on 127.0.0.1 that takes one PUT at a time and throws its body away.

    ``first_byte`` is when the request's first bytes arrived: boto3 hashes the whole body
    before it connects, so that is the end of its work before sending.
    """

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.first_byte = 0.0

    def serve_one(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                piece = conn.recv(65536)
                if not piece:
                    return
                if not head:
                    self.first_byte = time.perf_counter()
                head += piece
            head, _, rest = head.partition(b"\r\n\r\n")
            lines = [line.split(b":", 1) for line in head.split(b"\r\n")[1:]]
            length = int(next(v for k, v in lines if k.strip().lower() == b"content-length"))
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            got, buffer = len(rest), bytearray(MIB)
            while got < length:
                n = conn.recv_into(buffer)
                if not n:
                    return
                got += n
            conn.sendall(b'HTTP/1.1 200 OK\r\nETag: "0"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')

    def put(self, src: Path) -> dict[str, float]:
        """One boto3 put_object into the sink: MB/s and the seconds before its first byte."""
        client = _boto(self.url)
        server = threading.Thread(target=self.serve_one)
        server.start()
        started = time.perf_counter()
        with open(src, "rb") as f:
            client.put_object(Bucket="sink", Key="k", Body=f)
        took = time.perf_counter() - started
        server.join()
        return {"mbs": src.stat().st_size / MIB / took, "before_send_s": self.first_byte - started}


Timed = Callable[[str], Awaitable[float]]  # a transfer of one name; seconds it took
_LABELS = {  # each side of the streaming comparison, as the table names it
    "s3": "boto3",
    "http": "gateway",
    "lib": "orlop.objects",
    "s3-managed": "boto3 managed",
    "s3-curl": "curl presigned",
    "s3-null": "boto3 to a sink",
}


async def _stream(server: ServerProcess, gateway: GatewayProcess, s3_url: str, src: Path, runs: int) -> Any:
    """Per operation (put, get), the sides' MB/s, measured alternately run by run."""
    size = src.stat().st_size
    out = src.with_name("out.bin")
    api = gateway.url + "/api/v1/buckets/s3bench/objects/"
    s3 = _boto(s3_url, max_pool_connections=10)
    presigner = _boto(s3_url, signature_version="s3v4")
    managed = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=10)

    def presigned(method: str, name: str) -> str:
        url: str = presigner.generate_presigned_url(
            f"{method}_object", Params={"Bucket": "s3bench", "Key": name}, ExpiresIn=3600
        )
        return url

    def s3_put(name: str) -> None:
        with open(src, "rb") as f:
            s3.put_object(Bucket="s3bench", Key=name, Body=f)

    def s3_get(name: str) -> None:
        body = s3.get_object(Bucket="s3bench", Key=name)["Body"]
        with open(out, "wb") as f:
            shutil.copyfileobj(body, f, MIB)

    async def in_thread(fn: Callable[[str], object], name: str) -> float:
        started = time.perf_counter()
        await asyncio.to_thread(fn, name)
        return time.perf_counter() - started

    async with connect(server.url, request_timeout=60) as client:
        bucket = await client.create_bucket("s3bench", exist_ok=True)

        async def lib_put(name: str) -> float:
            started = time.perf_counter()
            await bucket.put(name, src)
            return time.perf_counter() - started

        async def lib_get(name: str) -> float:
            started = time.perf_counter()
            await bucket.download(name, out)
            return time.perf_counter() - started

        puts: dict[str, Timed] = {
            "s3": lambda n: in_thread(s3_put, n),
            "http": lambda n: asyncio.to_thread(_curl, "-T", str(src), "-o", "/dev/null", api + n),
            "lib": lib_put,
            "s3-managed": lambda n: in_thread(
                lambda k: s3.upload_file(str(src), "s3bench", k, Config=managed), n
            ),
            "s3-curl": lambda n: asyncio.to_thread(
                _curl, "-T", str(src), "-o", "/dev/null", presigned("put", n)
            ),
        }
        gets: dict[str, Timed] = {
            "s3": lambda n: in_thread(s3_get, n),
            "http": lambda n: asyncio.to_thread(_curl, "-o", str(out), api + n),
            "lib": lib_get,
            "s3-managed": lambda n: in_thread(
                lambda k: s3.download_file("s3bench", k, str(out), Config=managed), n
            ),
            "s3-curl": lambda n: asyncio.to_thread(_curl, "-o", str(out), presigned("get", n)),
        }

        def put_side(transfer: Timed) -> Callable[[], Awaitable[dict[str, float]]]:
            async def one() -> dict[str, float]:
                name = f"put-{next(_names)}"
                took = await transfer(name)
                info = await bucket.info(name)
                await bucket.delete(name, purge=True)
                assert info.original_size == size, info
                return {"mbs": size / MIB / took}

            return one

        def get_side(transfer: Timed) -> Callable[[], Awaitable[dict[str, float]]]:
            async def one() -> dict[str, float]:
                took = await transfer("source")
                got = out.stat().st_size
                out.unlink()
                assert got == size, got
                return {"mbs": size / MIB / took}

            return one

        sink = _NullSink()

        async def null_side() -> dict[str, float]:
            return await asyncio.to_thread(sink.put, src)

        await bucket.put("source", src)
        put_sides = {k: put_side(v) for k, v in puts.items()}
        put = await compare({**put_sides, "s3-null": null_side}, runs, timeout=600, warmup=1)
        sink.listener.close()
        get = await compare({k: get_side(v) for k, v in gets.items()}, runs, timeout=600, warmup=1)
        await client.delete_bucket("s3bench")
    return {"put": put, "get": get}


def _rows(kind: str, size: int, sides: dict[str, dict[str, Side]]) -> list[Row]:
    rows = []
    mib = size // MIB
    for op in ("put", "get"):
        got, what = sides[op], f"{op.upper()} {mib} MiB"
        pairs = [
            ("s3", "http", Target("ratio>=", 0.8), f"S3 {what}, boto3 vs the gateway's own endpoint"),
            ("s3", "lib", Target("info"), f"S3 {what}, boto3 vs orlop.objects"),
            ("s3-managed", "http", Target("info"), f"S3 {what}, boto3 managed transfer vs own endpoint"),
            ("s3-curl", "http", Target("info"), f"S3 {what}, presigned URL vs own endpoint (curl both)"),
        ]
        for left, right, target, name in pairs:
            rows.append(
                make_row(
                    "s3",
                    f"{name} ({kind})",
                    "MB/s",
                    "mbs",
                    got[left],
                    got[right],
                    target,
                    labels=(_LABELS[left], _LABELS[right]),
                )
            )
    null, own = sides["put"]["s3-null"], sides["put"]["http"]
    row = make_row(
        "s3",
        f"S3 PUT {mib} MiB, boto3 alone (a sink that drops the body) vs own endpoint ({kind})",
        "MB/s",
        "mbs",
        null,
        own,
        Target("info"),
        labels=(_LABELS["s3-null"], _LABELS["http"]),
    )
    before, own_mbs = null.median("before_send_s"), own.median("mbs")
    if before is not None and own_mbs:
        own_s = size / MIB / own_mbs
        row.note = (
            f"boto3 reads and hashes the file for {before:.2f} s before its first byte; with the"
            f" own endpoint's {own_s:.2f} s after it, boto3's PUT can reach at most"
            f" {own_s / (own_s + before):.2f}x of it on this machine, whatever the S3 layer costs"
        )
    rows.append(row)
    return rows


def run(settings: Settings) -> list[Row]:
    """``python -m bench s3``: the streaming comparison on each server kind."""
    size = (64 if settings.quick else 512) * MIB
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-s3-") as tmp, both_servers(settings.kinds) as servers:
        src = random_file(Path(tmp) / "big.bin", size)
        for kind, server in servers.items():
            if isinstance(server, str):
                missing = Side(error=server)
                rows += _rows(kind, size, {op: dict.fromkeys(_LABELS, missing) for op in ("put", "get")})
                continue
            s3_port = _port()
            args = ["--s3-listen", f"127.0.0.1:{s3_port}", "--s3-access-key", KEY, "--s3-secret-key", SECRET]
            gateway = GatewayProcess(server.url, args=args).start(Path(tmp))
            try:
                sides = run_loop(
                    lambda s=server, g=gateway, p=s3_port: _stream(
                        s, g, f"http://127.0.0.1:{p}", src, settings.runs
                    ),
                    settings.uvloop,
                )
            finally:
                gateway.stop()
            rows += _rows(kind, size, sides)
    return rows


# Listing: pages of 1,000 keys on buckets of 10,000 and 100,000 objects.


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

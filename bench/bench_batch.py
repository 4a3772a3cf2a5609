"""ADR-50 batch publishing: atomic batches, fast ingest, and orlop.objects puts through fast ingest.

Rows (Orlop vs nats-server in the same run, runs alternating):

- atomic batch of 1,000 x 1 KiB: 999 messages published without a reply, the commit as a
  request; batches per second (target >= 0.8x nats-server);
- fast ingest of 128 KiB messages: one publisher following the flow protocol the way
  nats.js does (initial flow 500, at most 2 flow windows outstanding), MB/s (target >= 0.8x);
- orlop.objects 512 MiB put (64 MiB with ``--quick``) into a bucket with ``allow_batched``:
  through fast ingest vs the pipelined put (one PubAck per chunk), on each server; the ratio
  is fast / pipelined, and the faster one is orlop.objects' default.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import nats

from bench.common import (
    MIB,
    Row,
    Settings,
    Target,
    both_servers,
    bound,
    compare,
    compare_servers,
    make_row,
    run_loop,
)

__all__ = ["run"]

STREAM = "BATCH"


async def _fresh_stream(nc: Any, **extra: Any) -> None:
    js = nc.jetstream()
    with contextlib.suppress(Exception):  # not there yet
        await js.delete_stream(STREAM)
    body = {"name": STREAM, "subjects": ["batch.>"], **extra}
    resp = json.loads((await nc.request(f"$JS.API.STREAM.CREATE.{STREAM}", json.dumps(body).encode())).data)
    if "error" in resp:
        raise RuntimeError(f"stream create failed: {resp['error']}")


async def atomic_batches(url: str, batches: int, size: int = 1024, per_batch: int = 1000) -> dict[str, float]:
    """``batches`` atomic batches of ``per_batch`` x ``size`` bytes; batches/s and MB/s."""
    nc = await nats.connect(url, pending_size=32 * MIB)
    try:
        await _fresh_stream(nc, allow_atomic=True)
        payload = b"a" * size
        start = time.perf_counter()
        for b in range(batches):
            bid = f"b{b}"
            for i in range(1, per_batch):
                await nc.publish(
                    "batch.a", payload, headers={"Nats-Batch-Id": bid, "Nats-Batch-Sequence": str(i)}
                )
            commit = {"Nats-Batch-Id": bid, "Nats-Batch-Sequence": str(per_batch), "Nats-Batch-Commit": "1"}
            ack = json.loads((await nc.request("batch.a", payload, headers=commit, timeout=30)).data)
            if ack.get("count") != per_batch:
                raise RuntimeError(f"batch not committed: {ack}")
        elapsed = time.perf_counter() - start
        await nc.jetstream().delete_stream(STREAM)
    finally:
        await nc.close()
    return {"batches_s": batches / elapsed, "mbs": batches * per_batch * size / 1e6 / elapsed}


async def fast_ingest(url: str, count: int, size: int = 128 * 1024) -> dict[str, float]:
    """One fast-ingest batch of ``count`` x ``size`` bytes, paced by the server's flow acks; MB/s."""
    nc = await nats.connect(url, pending_size=64 * MIB)
    try:
        await _fresh_stream(nc, allow_batched=True)
        inbox = nc.new_inbox()
        state = {"acked": 0, "msgs": 500}
        moved = asyncio.Event()
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

        async def on_reply(msg: Any) -> None:
            body = json.loads(msg.data)
            if body.get("type") == "ack":
                state["acked"] = max(state["acked"], body["seq"])
                state["msgs"] = body["msgs"]
            elif "batch" in body and not done.done():
                done.set_result(body)
            elif ("error" in body or body.get("type") in ("err", "gap")) and not done.done():
                done.set_exception(RuntimeError(f"fast ingest failed: {body}"))
            moved.set()

        await nc.subscribe(f"{inbox}.fb.>", cb=on_reply)
        payload = b"f" * size
        start = time.perf_counter()
        for n in range(1, count + 1):
            while n - 1 - state["acked"] >= 2 * state["msgs"] and not done.done():
                moved.clear()
                await asyncio.wait_for(moved.wait(), 30)
            op = 0 if n == 1 else (2 if n == count else 1)
            await nc.publish("batch.f", payload, reply=f"{inbox}.fb.500.fail.{n}.{op}.$FI")
        ack = await asyncio.wait_for(done, 60)
        elapsed = time.perf_counter() - start
        if ack.get("count") != count:
            raise RuntimeError(f"fast ingest stored {ack.get('count')} of {count}")
        await nc.jetstream().delete_stream(STREAM)
    finally:
        await nc.close()
    return {"mbs": count * size / 1e6 / elapsed}


async def objects_put(url: str, total: int, fast: bool) -> dict[str, float]:
    """orlop.objects put of ``total`` bytes into an ``allow_batched`` bucket; MB/s."""
    from orlop.objects import connect
    from orlop.objects import put as put_module

    data = bytes(range(256)) * (total // 256)
    async with await connect(url) as client:
        with contextlib.suppress(Exception):  # not there yet
            await client.delete_bucket("benchfast")
        bucket = await client.create_bucket("benchfast", fast_ingest=True)
        before = put_module.FAST_INGEST
        put_module.FAST_INGEST = fast
        try:
            start = time.perf_counter()
            info = await bucket.put("big", data)
            elapsed = time.perf_counter() - start
        finally:
            put_module.FAST_INGEST = before
        if info.size != len(data):
            raise RuntimeError("put stored the wrong size")
        await client.delete_bucket("benchfast")
    return {"mbs": total / 1e6 / elapsed}


async def _measure(settings: Settings) -> list[Row]:
    q = settings.quick
    rows: list[Row] = []
    with both_servers(settings.kinds) as servers:
        orl, ref = await compare_servers(
            servers, settings.runs, lambda url: bound(atomic_batches, url, 2 if q else 10)
        )
        rows.append(
            make_row(
                "batch",
                "atomic batch 1,000 x 1 KiB",
                "batches/s",
                "batches_s",
                orl,
                ref,
                Target("ratio>=", 0.8),
            )
        )
        count = (64 if q else 512) * MIB // (128 * 1024)
        orl, ref = await compare_servers(servers, settings.runs, lambda url: bound(fast_ingest, url, count))
        rows.append(make_row("batch", "fast ingest 128 KiB", "MB/s", "mbs", orl, ref, Target("ratio>=", 0.8)))
        total = (64 if q else 512) * MIB
        for kind, srv in servers.items():
            if isinstance(srv, str):
                continue
            sides = await compare(
                {
                    "fast ingest": bound(objects_put, srv.url, total, True),
                    "pipelined": bound(objects_put, srv.url, total, False),
                },
                settings.runs,
                600,
                warmup=1,
            )
            rows.append(
                make_row(
                    "batch",
                    f"{kind}: orlop.objects put {total // MIB} MiB",
                    "MB/s",
                    "mbs",
                    sides["fast ingest"],
                    sides["pipelined"],
                    Target(),
                    ("fast ingest", "pipelined"),
                )
            )
    return rows


def run(settings: Settings) -> list[Row]:
    """Run the batch publishing comparison; returns the table rows."""
    return run_loop(lambda: _measure(settings), settings.uvloop)

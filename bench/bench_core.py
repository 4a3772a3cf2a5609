"""Core NATS throughput: publish/subscribe and request/reply, Orlop vs nats-server.

The client is nats-py on one event loop for both sides: a publisher connection and a
subscriber connection that receives every message. The publisher keeps at most a
window of unreceived bytes in flight (it waits on the subscriber), so neither server
is pushed into slow-consumer handling, and the figure is the end-to-end rate from the
first publish to the last delivery. With 128 B messages the client's per-message cost
dominates on both sides; with 128 KiB the server's byte handling shows.

The servers run without JetStream (same flags for both): this is the core data path.
Request/reply uses a nats-py responder and a requester, first one request at a time
(latency-bound), then with many requests outstanding (throughput-bound).
"""

from __future__ import annotations

import asyncio
import time

import nats
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from bench.common import MIB, Row, Settings, Target, both_servers, compare_servers, make_row, run_loop

__all__ = ["run"]

WINDOW_BYTES = 8 * MIB
WINDOW_MSGS = 20_000


async def pub_sub_rate(url: str, size: int, count: int) -> dict[str, float]:
    """Publish ``count`` messages of ``size`` bytes; the figure is when the last one arrives.

    Raises TimeoutError when deliveries stall for 30 s (lost messages).
    """
    pub = await nats.connect(url, pending_size=4 * MIB)
    sub_nc = await nats.connect(url)
    received = 0
    done = asyncio.Event()
    progress = asyncio.Event()

    async def on_msg(msg: Msg) -> None:
        nonlocal received
        received += 1
        progress.set()
        if received == count:
            done.set()

    sub = await sub_nc.subscribe(
        "bench.core", cb=on_msg, pending_msgs_limit=count + 1, pending_bytes_limit=2 * count * size + MIB
    )
    await sub_nc.flush()
    payload = b"x" * size
    window = max(1, min(WINDOW_MSGS, WINDOW_BYTES // size))
    try:
        start = time.perf_counter()
        for sent in range(count):
            while sent - received >= window:
                progress.clear()
                await pub.flush()
                await asyncio.wait_for(progress.wait(), 30)
            await pub.publish("bench.core", payload)
        await pub.flush()
        await asyncio.wait_for(done.wait(), 30)
        elapsed = time.perf_counter() - start
    finally:
        await sub.unsubscribe()
        await pub.close()
        await sub_nc.close()
    return {"msgs": count / elapsed, "mbs": count * size / elapsed / 1e6}


async def _first_reply(requester: Client, payload: bytes) -> None:
    """One untimed request, retried while the server reports no responders (for up to 2 s).

    Once seen (rarely) with nats-server right after the responder's SUB was flushed; the
    timed loop must start from a routed subscription on both servers alike.
    """
    for _ in range(100):
        try:
            await requester.request("bench.req", payload, timeout=5)
            return
        except nats.errors.NoRespondersError:
            await asyncio.sleep(0.02)
    raise RuntimeError("no responders for bench.req after 2 s")


async def request_rate(url: str, count: int, concurrency: int, size: int = 128) -> dict[str, float]:
    """``count`` requests answered by a nats-py responder, ``concurrency`` outstanding at a time."""
    responder = await nats.connect(url)
    requester = await nats.connect(url)

    async def echo(msg: Msg) -> None:
        await msg.respond(msg.data)

    await responder.subscribe("bench.req", cb=echo)
    await responder.flush()
    payload = b"r" * size
    await _first_reply(requester, payload)
    done = 0

    async def worker(n: int) -> None:
        nonlocal done
        for _ in range(n):
            try:
                reply = await requester.request("bench.req", payload, timeout=10)
            except nats.errors.Error as exc:
                raise RuntimeError(f"request {done + 1} of {count}: {exc!r}") from exc
            if len(reply.data) != size:
                raise RuntimeError(f"reply of {len(reply.data)} bytes, expected {size}")
            done += 1

    per = count // concurrency
    try:
        start = time.perf_counter()
        await asyncio.gather(*(worker(per) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    finally:
        await requester.close()
        await responder.close()
    return {"ops": per * concurrency / elapsed}


async def _measure(settings: Settings) -> list[Row]:
    q = settings.quick
    small_n = 50_000 if q else 300_000
    big_n = 800 if q else 4_000
    req_n = 1_000 if q else 5_000
    with both_servers(settings.kinds, jetstream=False) as servers:
        runs = settings.runs
        small = await compare_servers(servers, runs, lambda u: lambda: pub_sub_rate(u, 128, small_n))
        big = await compare_servers(servers, runs, lambda u: lambda: pub_sub_rate(u, 128 * 1024, big_n))
        seq = await compare_servers(servers, runs, lambda u: lambda: request_rate(u, req_n // 2, 1))
        conc = await compare_servers(servers, runs, lambda u: lambda: request_rate(u, req_n, 32))
    return [
        make_row("core", "pub/sub 128 B", "msgs/s", "msgs", *small, Target("ratio>=", 0.5)),
        make_row("core", "pub/sub 128 B", "MB/s", "mbs", *small, Target()),
        make_row("core", "pub/sub 128 KiB", "msgs/s", "msgs", *big, Target()),
        make_row("core", "pub/sub 128 KiB", "MB/s", "mbs", *big, Target("ratio>=", 0.8)),
        make_row("core", "request/reply sequential", "ops/s", "ops", *seq, Target()),
        make_row("core", "request/reply 32 concurrent", "ops/s", "ops", *conc, Target()),
    ]


def run(settings: Settings) -> list[Row]:
    """Run the core benchmarks against both servers; returns the table rows."""
    return run_loop(lambda: _measure(settings), settings.uvloop)

"""JetStream throughput, server memory and restart time, Orlop vs nats-server (file storage).

Publishing is pipelined: nats-py's ``js.publish_async`` with 256 acks outstanding, the
pattern that lets a server show its own speed (a client awaiting each ack measures the
round trip instead). Reading uses a durable pull consumer (``ack_policy: none``) with raw
``CONSUMER.MSG.NEXT`` requests (256 messages, or 12 MiB for big messages), the next one
sent before the previous batch has fully arrived, so the consumer never idles between
batches, with at most 24 MiB requested and not yet received.

The big run writes a 2 GiB stream (256 MiB with ``--quick``) into a fresh server of each
kind while a thread samples the server's RSS, reads it all back, then restarts the server
and times process start to a STREAM.INFO that shows every message. It is repeated like
every other figure (fresh servers each time); peak RSS and restart time report the worst run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api

from bench.common import (
    MIB,
    Row,
    RssSampler,
    Settings,
    Side,
    Target,
    both_servers,
    bound,
    compare,
    compare_servers,
    make_row,
    run_loop,
    running_server,
)

__all__ = ["run"]

STREAM = "BENCH"
SUBJECT = "bench.js.data"
INFLIGHT = 256
PULL_BATCH = 256
PULL_WINDOW_BYTES = 24 * 1024 * 1024


async def _create_stream(nc: Client) -> None:
    js = nc.jetstream()
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_stream(STREAM)
    await js.add_stream(name=STREAM, subjects=["bench.js.>"], storage=api.StorageType.FILE)


def _payload(size: int) -> bytes:
    """The bytes every benchmark message carries; readers compare what they get with it."""
    return b"j" * size


async def publish_pipelined(nc: Client, size: int, count: int) -> float:
    """Publish ``count`` messages with ``INFLIGHT`` acks outstanding; returns seconds.

    Raises the first failed PubAck's error (e.g. APIError) after all are settled.
    """
    js = nc.jetstream(publish_async_max_pending=INFLIGHT, timeout=30)
    payload = _payload(size)
    futures: list[Awaitable[api.PubAck]] = []
    start = time.perf_counter()
    for _ in range(count):
        futures.append(await js.publish_async(SUBJECT, payload, wait_stall=30))
    acks = await asyncio.gather(*futures)
    elapsed = time.perf_counter() - start
    if acks[-1].seq < count:
        raise RuntimeError(f"last ack seq {acks[-1].seq} < {count} published")
    return elapsed


async def fetch_all(nc: Client, count: int, size: int, consumer: str = "reader") -> tuple[float, int]:
    """Read ``count`` messages of ``size`` bytes through a durable pull consumer; (seconds, bytes).

    Pulls of up to ``PULL_BATCH`` messages, at most ``PULL_WINDOW_BYTES`` requested and not
    yet received: nats-server cuts a reader off as a slow consumer when 64 MiB wait in its
    outbound buffer, and with 2 x 32 MiB batches of 128 KiB messages in flight it did so.

    Raises TimeoutError when deliveries stop for 30 s; RuntimeError on a status reply.
    """
    js = nc.jetstream()
    await js.add_consumer(STREAM, api.ConsumerConfig(durable_name=consumer, ack_policy=api.AckPolicy.NONE))
    inbox = nc.new_inbox()
    next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{consumer}"
    state = {"received": 0, "bytes": 0, "requested": 0}
    expected = _payload(size)
    window = max(2, PULL_WINDOW_BYTES // max(size, 1))
    batch = min(PULL_BATCH, window // 2)
    done = asyncio.Event()
    progress = asyncio.Event()
    failure: list[str] = []

    async def pull_more() -> None:
        while state["requested"] < count and state["requested"] - state["received"] <= window - batch:
            n = min(batch, count - state["requested"])
            state["requested"] += n
            body = json.dumps({"batch": n, "expires": 60_000_000_000}).encode()
            await nc.publish(next_subject, body, reply=inbox)

    async def on_msg(msg: Msg) -> None:
        if msg.headers and "Status" in msg.headers:
            failure.append(f"status {msg.headers.get('Status')} {msg.headers.get('Description', '')}")
            done.set()
            return
        state["received"] += 1
        state["bytes"] += len(msg.data)
        if msg.data != expected:
            failure.append(f"message {state['received']} differs from what was published")
            done.set()
            return
        progress.set()
        if state["received"] == count:
            done.set()
        else:
            await pull_more()

    sub = await nc.subscribe(inbox, cb=on_msg, pending_msgs_limit=1_000_000, pending_bytes_limit=2048 * MIB)
    start = time.perf_counter()
    await pull_more()
    while not done.is_set():
        progress.clear()
        await asyncio.wait_for(progress.wait(), 30)
    elapsed = time.perf_counter() - start
    await sub.unsubscribe()
    if failure:
        raise RuntimeError(f"pull got {failure[0]} after {state['received']} of {count}")
    return elapsed, state["bytes"]


async def stream_roundtrip(url: str, size: int, count: int, *, keep: bool = False) -> dict[str, float]:
    """Fresh stream: pipelined publish then pull-fetch of ``count`` x ``size`` bytes (MB/s each).

    The stream is deleted afterwards unless ``keep``. Raises when bytes go missing.
    """
    nc = await nats.connect(url, pending_size=8 * MIB)
    try:
        await _create_stream(nc)
        put_s = await publish_pipelined(nc, size, count)
        get_s, got = await fetch_all(nc, count, size)
        if got != size * count:
            raise RuntimeError(f"fetched {got} bytes, expected {size * count}")
        if not keep:
            await nc.jetstream().delete_stream(STREAM)
    finally:
        await nc.close()
    total = size * count / 1e6
    return {"pub_mbs": total / put_s, "fetch_mbs": total / get_s, "pub_ops": count / put_s}


async def small_publish(url: str, count: int, sequential: int) -> dict[str, float]:
    """1 KiB publishes: ``count`` pipelined, then ``sequential`` awaited one by one (ops/s)."""
    nc = await nats.connect(url, pending_size=8 * MIB)
    try:
        await _create_stream(nc)
        pipelined_s = await publish_pipelined(nc, 1024, count)
        js = nc.jetstream(timeout=10)
        payload = b"s" * 1024
        start = time.perf_counter()
        for _ in range(sequential):
            await js.publish(SUBJECT, payload)
        sequential_s = time.perf_counter() - start
        await js.delete_stream(STREAM)
    finally:
        await nc.close()
    return {"pipelined": count / pipelined_s, "sequential": sequential / sequential_s}


async def _wait_for_messages(url: str, count: int, deadline: float) -> None:
    """Poll STREAM.INFO until it shows ``count`` messages; RuntimeError at ``deadline``.

    Connection errors while the server finishes starting are expected and retried.
    """
    last = "no answer"
    while time.perf_counter() < deadline:
        try:
            nc = await nats.connect(url, max_reconnect_attempts=0, connect_timeout=2)
            try:
                info = await nc.jetstream(timeout=30).stream_info(STREAM)
            finally:
                await nc.close()
            if info.state.messages == count:
                return
            last = f"{info.state.messages} messages"
        except Exception as exc:  # retried until the deadline: the server may still be recovering
            last = repr(exc)
        await asyncio.sleep(0.01)
    raise RuntimeError(f"after restart STREAM.INFO never showed {count} messages (last: {last})")


async def big_stream(kind: str, total_mib: int) -> dict[str, float]:
    """Write then read a ``total_mib`` stream of 128 KiB messages in a fresh server; restart it.

    Returns peak server RSS (MiB) over write+read, both throughputs, and the restart time:
    process start to a STREAM.INFO showing every message. Raises on lost messages.
    """
    size = 128 * 1024
    count = total_mib * MIB // size
    with running_server(kind) as srv:
        assert srv.proc is not None
        with RssSampler(srv.proc.pid) as rss:
            figures = await stream_roundtrip(srv.url, size, count, keep=True)
        srv.stop(timeout=60)
        start = time.perf_counter()
        srv.start(timeout=120)
        await _wait_for_messages(srv.url, count, deadline=start + 120)
        restart_s = time.perf_counter() - start
    return {**figures, "rss_mb": rss.peak_mb, "restart_s": restart_s}


async def _measure(settings: Settings) -> list[Row]:
    q = settings.quick
    count_128k = (64 if q else 512) * MIB // (128 * 1024)
    n_1k, n_seq = (10_000, 500) if q else (50_000, 2_000)
    runs = settings.runs
    with both_servers(settings.kinds) as servers:
        big = await compare_servers(
            servers, runs, lambda u: bound(stream_roundtrip, u, 128 * 1024, count_128k)
        )
        small = await compare_servers(servers, runs, lambda u: bound(small_publish, u, n_1k, n_seq))
    total_mib = 256 if q else 2048
    huge = await compare({kind: bound(big_stream, kind, total_mib) for kind in settings.kinds}, runs, 1800)
    name = f"{total_mib // 1024} GiB" if total_mib >= 1024 else f"{total_mib} MiB"
    missing = Side(error="not run")
    sides = (huge.get("orlop", missing), huge.get("nats-server", missing))
    ratio = Target("ratio>=", 0.8)
    js = "jetstream"
    return [
        make_row(js, "pipelined publish 128 KiB", "MB/s", "pub_mbs", *big, ratio),
        make_row(js, "pull fetch 128 KiB", "MB/s", "fetch_mbs", *big, ratio),
        make_row(js, "pipelined publish 1 KiB", "ops/s", "pipelined", *small, Target()),
        make_row(js, "sequential publish 1 KiB", "ops/s", "sequential", *small, Target()),
        make_row(js, f"{name} stream publish", "MB/s", "pub_mbs", *sides, Target()),
        make_row(js, f"{name} stream fetch", "MB/s", "fetch_mbs", *sides, Target()),
        make_row(js, f"server peak RSS, {name} write+read", "MB", "rss_mb", *sides, Target("max", 150, "MB")),
        make_row(js, f"restart with {name} stream", "s", "restart_s", *sides, Target("max", 5, "s")),
    ]


def run(settings: Settings) -> list[Row]:
    """Run the JetStream benchmarks against both servers; returns the table rows."""
    return run_loop(lambda: _measure(settings), settings.uvloop)

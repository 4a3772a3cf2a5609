"""Hostile-client campaign: protocol abuse next to a well-behaved client.

One round starts a server and runs, side by side for a few seconds, a good
client (nats-py: request/reply through its own responder and JetStream
publishes) and a seeded mix of hostile ones on raw sockets:

* ``garbage``: random bytes instead of protocol;
* ``huge``: ``PUB`` declaring a payload far over ``max_payload``;
* ``long-line``: a control line that never ends (megabytes without CRLF);
* ``half``: a ``PUB`` whose payload stops half-way and never comes;
* ``idle``: a thousand or more connections that never say anything;
* ``slow``: a subscriber that stops reading while 100+ MB are published to it.

The round fails when the server exits, when the good client misses a reply or
an acknowledgement (5 s each), when a message it got acknowledged is missing
afterwards, or when the server's resident memory grows by more than
``RSS_BUDGET`` over its size before the attack.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
import nats.errors
import psutil
from nats.aio.msg import Msg

from campaigns.common import Outcome, quiet
from orlop.testing import ServerProcess

__all__ = ["ATTACKS", "RSS_BUDGET", "hostile_round"]

RSS_BUDGET = 256 << 20
"""Largest growth of the server's RSS a round allows (nats-server lets one slow client hold 64 MiB)."""
ROUND_SECONDS = 4.0


async def _open(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port), limit=1 << 20)
    await asyncio.wait_for(reader.readline(), 5)  # INFO
    return reader, writer


async def _closed_by_server(reader: asyncio.StreamReader, timeout: float = 5.0) -> bool:
    """True when the server closes the connection within ``timeout`` (whatever it said first)."""
    try:
        async with asyncio.timeout(timeout):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def _send_and_watch(url: str, lines: list[bytes], out: Outcome, what: str) -> None:
    reader, writer = await _open(url)
    try:
        for part in lines:
            writer.write(part)
            await writer.drain()
        if await _closed_by_server(reader):
            out.note(f"{what} cut by the server")
        else:
            out.note(f"{what} left open")
    except ConnectionError:
        out.note(f"{what} cut by the server")
    finally:
        writer.close()


async def garbage(url: str, rnd: random.Random, out: Outcome, stop: asyncio.Event) -> None:
    for _ in range(rnd.randrange(3, 8)):
        junk = rnd.randbytes(rnd.randrange(16, 65536))
        await _send_and_watch(url, [junk], out, "garbage")


async def huge(url: str, rnd: random.Random, out: Outcome, stop: asyncio.Event) -> None:
    size = rnd.choice((64 << 20, 1 << 40, 10**18))
    await _send_and_watch(url, [b'CONNECT {"verbose":false}\r\n', b"PUB big %d\r\n" % size], out, "huge")


async def long_line(url: str, rnd: random.Random, out: Outcome, stop: asyncio.Event) -> None:
    piece = b"PUB " + b"a" * 65532
    await _send_and_watch(url, [b'CONNECT {"verbose":false}\r\n'] + [piece] * rnd.randrange(16, 64), out,
                          "long-line")  # fmt: skip


async def half(url: str, rnd: random.Random, out: Outcome, stop: asyncio.Event) -> None:
    _, writer = await _open(url)
    writer.write(b'CONNECT {"verbose":false}\r\nPUB half 1000000\r\n' + b"h" * 500_000)
    await writer.drain()
    await stop.wait()  # held open, payload never finished, for the whole round
    writer.close()
    out.note("half payload held")


async def idle(url: str, rnd: random.Random, out: Outcome, stop: asyncio.Event) -> None:
    writers = []
    try:
        for _ in range(rnd.randrange(1000, 2500)):
            writers.append((await _open(url))[1])
        out.note("idle connections", len(writers))
        await stop.wait()
    finally:
        for w in writers:
            w.close()


async def slow(url: str, rnd: random.Random, out: Outcome, stop: asyncio.Event) -> None:
    reader, writer = await _open(url)
    writer.write(b'CONNECT {"verbose":false}\r\nSUB flood 1\r\nPING\r\n')
    await writer.drain()
    await asyncio.wait_for(reader.readline(), 5)  # PONG: the subscription is in place; now stop reading
    nc = await nats.connect(url, error_cb=quiet, allow_reconnect=False)
    try:
        payload = rnd.randbytes(65536)
        for _ in range(rnd.randrange(1600, 3200)):  # 100-200 MiB
            if stop.is_set() or nc.is_closed:
                break
            await nc.publish("flood", payload)
            await nc.flush(timeout=5)
        out.note("flooded slow consumer")
    finally:
        await nc.close()
        writer.close()


Attack = Callable[[str, random.Random, Outcome, asyncio.Event], Awaitable[None]]
ATTACKS: dict[str, Attack] = {
    "garbage": garbage,
    "huge": huge,
    "long-line": long_line,
    "half": half,
    "idle": idle,
    "slow": slow,
}


async def _good_client(url: str, out: Outcome, stop: asyncio.Event) -> list[int]:
    """Request/reply and JetStream publishes until ``stop``; returns the acknowledged seqs."""
    acked: list[int] = []
    nc = await nats.connect(url, error_cb=quiet)
    try:

        async def echo(msg: Msg) -> None:
            await msg.respond(msg.data)

        await nc.subscribe("echo", cb=echo)
        js = nc.jetstream(timeout=5)
        n = 0
        while not stop.is_set():
            n += 1
            try:
                reply = await nc.request("echo", b"ping %d" % n, timeout=5)
                if reply.data != b"ping %d" % n:
                    out.fail(f"echo {n} answered {reply.data[:40]!r}")
                acked.append((await js.publish("good", b"msg %d" % n)).seq)
            except (nats.errors.Error, TimeoutError) as exc:
                out.fail(f"good client op {n} failed during the attack: {exc!r}")
                break
            await asyncio.sleep(0.05)
    finally:
        await nc.close()
    return acked


async def _watch_rss(pid: int, peak: list[int], stop: asyncio.Event) -> None:
    proc = psutil.Process(pid)
    while not stop.is_set():
        with contextlib.suppress(psutil.Error):
            peak[0] = max(peak[0], proc.memory_info().rss)
        await asyncio.sleep(0.1)


async def hostile_round(kind: str, seed: int, workdir: Path) -> Outcome:
    """One seeded round (see module docstring)."""
    rnd = random.Random(seed)
    out = Outcome()
    chosen = rnd.sample(sorted(ATTACKS), rnd.randrange(2, 5))
    srv = ServerProcess(kind=kind, store_dir=str(workdir))
    try:
        srv.start()
        assert srv.proc is not None
        nc = await nats.connect(srv.url, error_cb=quiet)
        await nc.jetstream().add_stream(name="GOOD", subjects=["good"])
        await nc.close()
        base = psutil.Process(srv.proc.pid).memory_info().rss
        peak = [base]
        stop = asyncio.Event()
        watch = asyncio.create_task(_watch_rss(srv.proc.pid, peak, stop))
        good = asyncio.create_task(_good_client(srv.url, out, stop))
        attacks = [asyncio.create_task(ATTACKS[a](srv.url, random.Random(rnd.random()), out, stop))
                   for a in chosen]  # fmt: skip
        for a in chosen:
            out.note(a)
        await asyncio.sleep(ROUND_SECONDS)
        stop.set()
        results = await asyncio.gather(good, *attacks, return_exceptions=True)
        await watch
        for name, res in zip(["good client", *chosen], results, strict=True):
            if isinstance(res, BaseException) and not isinstance(
                res, ConnectionError | OSError | TimeoutError
            ):
                out.fail(f"{name} raised {res!r}")
        if srv.proc.poll() is not None:
            out.fail(f"server exited with {srv.proc.returncode} during {', '.join(chosen)}")
            return out
        grew = peak[0] - base
        out.note("RSS growth MiB, summed over rounds", grew >> 20)
        if grew > RSS_BUDGET:
            out.fail(f"RSS grew by {grew >> 20} MiB during {', '.join(chosen)}")
        acked = results[0] if isinstance(results[0], list) else []
        out.acked_msgs = len(acked)
        await _check_kept(srv, acked, out)
    finally:
        srv.close()
    return out


async def _check_kept(srv: ServerProcess, acked: list[int], out: Outcome) -> None:
    nc = await nats.connect(srv.url, error_cb=quiet)
    try:
        js = nc.jetstream(timeout=10)
        for seq in acked:
            try:
                await js.get_msg("GOOD", seq)
            except nats.errors.Error:
                out.lost += 1
    finally:
        await nc.close()

"""Micro-benchmark of the sans-IO codec: ``python -m bench.bench_protocol [--quick]``.

Not part of ``python -m bench`` (there is no nats-server counterpart to compare a Python
function with); it prints absolute figures for the three costs the server pays per message:
``ServerParser.feed`` on 128-byte PUBs and on 128 KiB PUBs (fed as 64 KiB and 256 KiB socket
reads), and ``encode.msg`` per delivery. Best of several runs, since the machine is shared.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

from orlop.protocol import ClientParser, ServerParser, encode, headers

__all__ = ["main"]


def _best(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _feed_all(parser_cls: type[ServerParser] | type[ClientParser], chunks: list[bytes], count: int) -> None:
    parser = parser_cls()
    got = 0
    for chunk in chunks:
        got += len(parser.feed(chunk))
    assert got == count, (got, count)


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def bench_parse(runs: int, count: int) -> None:
    small = (b"PUB foo.bar 128\r\n" + b"x" * 128 + b"\r\n") * count
    for read in (65536, 262144):
        chunks = _chunks(small, read)
        t = _best(partial(_feed_all, ServerParser, chunks, count), runs)
        print(f"ServerParser.feed  PUB 128 B, {read // 1024} KiB reads: {count / t / 1e6:6.2f} M ops/s")
    big_count = max(20, count // 50)
    big = (b"PUB foo.bar 131072\r\n" + b"x" * 131072 + b"\r\n") * big_count
    for read in (65536, 262144):
        chunks = _chunks(big, read)
        t = _best(partial(_feed_all, ServerParser, chunks, big_count), runs)
        print(
            f"ServerParser.feed  PUB 128 KiB, {read // 1024} KiB reads: "
            f"{big_count / t:8.0f} ops/s  {len(big) / t / 1e9:5.2f} GB/s"
        )
    msgs = encode.msg("foo.bar", "1", "", b"", b"x" * 128) * count
    t = _best(lambda: _feed_all(ClientParser, _chunks(msgs, 65536), count), runs)
    print(f"ClientParser.feed  MSG 128 B, 64 KiB reads: {count / t / 1e6:6.2f} M ops/s")


def bench_encode(runs: int, count: int) -> None:
    payload = b"x" * 128
    hdr = headers.build([("Nats-Msg-Id", "abc")])
    cases = {
        "MSG no reply": ("foo.bar", "1", "", b"", payload),
        "MSG with reply": ("foo.bar", "1", "_INBOX.abcdefghijklmnopqrstuv.abcd", b"", payload),
        "HMSG with reply": ("foo.bar", "1", "_INBOX.abcdefghijklmnopqrstuv.abcd", hdr, payload),
    }
    msg = encode.msg
    for name, (subject, sid, reply, h, p) in cases.items():

        def loop(
            subject: str = subject, sid: str = sid, reply: str = reply, h: bytes = h, p: bytes = p
        ) -> None:
            for _ in range(count):
                msg(subject, sid, reply, h, p)

        t = _best(loop, runs)
        print(f"encode.msg {name:16s} 128 B: {t / count * 1e9:6.0f} ns/call")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_protocol", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer messages and runs")
    args = parser.parse_args(argv)
    runs, count = (3, 2000) if args.quick else (7, 10000)
    bench_parse(runs, count)
    bench_encode(runs, count * 10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

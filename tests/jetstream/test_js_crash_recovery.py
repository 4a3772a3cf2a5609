"""Orlop-only: acknowledged messages survive SIGKILL; damaged files are detected, logged, never served.

A server subprocess is killed while pipelined publishes stream in; after a
restart every message that was acknowledged must be there with the exact
payload (compared by SHA-256). Then block files are damaged on disk (a flipped
byte inside a record, a truncated tail) and the restarted server must report
the damage in its log and refuse to serve the bad record.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import nats
import pytest

from orlop.testing import KINDS, ServerProcess


async def api(nc: Any, subject: str, body: Any = b"") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, raw, timeout=10)).data)
    return result


def payload(i: int) -> bytes:
    return hashlib.sha256(b"%d" % i).digest() * (64 + i % 200)


async def get_data(nc: Any, stream: str, seq: int) -> bytes | None:
    resp = await api(nc, f"STREAM.MSG.GET.{stream}", {"seq": seq})
    if "error" in resp:
        return None
    return base64.b64decode(resp["message"].get("data", ""))


def msgs_dir(server: ServerProcess, stream: str) -> Path:
    return Path(server.store_dir) / "jetstream" / "$G" / "streams" / stream / "msgs"


async def test_sigkill_during_pipelined_publish(orlop_server: ServerProcess) -> None:
    nc = await nats.connect(orlop_server.url, allow_reconnect=False)
    await api(nc, "STREAM.CREATE.CRASH", {"name": "CRASH", "subjects": ["crash"]})
    js = nc.jetstream(publish_async_max_pending=128)
    acked: dict[int, str] = {}

    async def record(i: int, fut: Any) -> None:
        try:
            ack = await fut
        except Exception:  # the connection dies under the pending ones
            return
        acked[ack.seq] = hashlib.sha256(payload(i)).hexdigest()

    watchers = []
    for i in range(3000):
        if i == 1500:
            orlop_server.kill()
        try:
            # After the kill, pending acks never come: the pending window fills and this waits.
            fut = await asyncio.wait_for(js.publish_async("crash", payload(i)), 2)
        except Exception:
            break
        watchers.append(asyncio.ensure_future(record(i, fut)))
    _, pending = await asyncio.wait(watchers, timeout=5)
    for w in pending:
        w.cancel()
    await nc.close()
    assert len(acked) >= 500, len(acked)

    orlop_server.start()
    nc = await nats.connect(orlop_server.url)
    try:
        state = (await api(nc, "STREAM.INFO.CRASH"))["state"]
        assert state["last_seq"] >= max(acked)
        for seq, digest in sorted(acked.items()):
            data = await get_data(nc, "CRASH", seq)
            assert data is not None, seq
            assert hashlib.sha256(data).hexdigest() == digest, seq
    finally:
        await nc.close()


async def fill(server: ServerProcess, stream: str, n: int) -> None:
    nc = await nats.connect(server.url)
    try:
        await api(nc, f"STREAM.CREATE.{stream}", {"name": stream, "subjects": [stream.lower()]})
        for i in range(n):
            await nc.request(stream.lower(), b"record-%04d-" % i + b"z" * 200, timeout=5)
    finally:
        await nc.close()


def block_files(server: ServerProcess, stream: str) -> list[Path]:
    return sorted(msgs_dir(server, stream).glob("*.blk"))


async def test_flipped_byte_is_detected_and_never_served(orlop_server: ServerProcess) -> None:
    await fill(orlop_server, "FLIP", 20)
    orlop_server.stop()
    blocks = block_files(orlop_server, "FLIP")
    assert blocks, "no block files written"
    raw = bytearray(blocks[0].read_bytes())
    at = raw.find(b"record-0010-") + 20
    assert at > 20
    raw[at] ^= 0xFF
    blocks[0].write_bytes(bytes(raw))

    orlop_server.start()
    nc = await nats.connect(orlop_server.url)
    try:
        assert await get_data(nc, "FLIP", 11) is None
        for seq in (1, 10, 12, 20):
            data = await get_data(nc, "FLIP", seq)
            assert data == b"record-%04d-" % (seq - 1) + b"z" * 200, seq
        # Whatever path reads it, the damaged record is never handed out.
        direct = await api(nc, "STREAM.MSG.GET.FLIP", {"next_by_subj": "flip", "seq": 11})
        assert direct["message"]["seq"] != 11
    finally:
        await nc.close()
    assert "corrupt" in orlop_server.log().lower()


async def test_truncated_tail_is_detected(orlop_server: ServerProcess) -> None:
    await fill(orlop_server, "TAIL", 10)
    orlop_server.stop()
    last = block_files(orlop_server, "TAIL")[-1]
    size = last.stat().st_size
    with open(last, "r+b") as f:
        f.truncate(size - 7)
        f.flush()
        os.fsync(f.fileno())

    orlop_server.start()
    nc = await nats.connect(orlop_server.url)
    try:
        state = (await api(nc, "STREAM.INFO.TAIL"))["state"]
        # Seq 10 is lost, but it was acknowledged once: the stream keeps it as used.
        assert state["messages"] == 9 and state["last_seq"] == 10
        assert await get_data(nc, "TAIL", 10) is None
        assert await get_data(nc, "TAIL", 9) == b"record-0008-" + b"z" * 200
        ack = json.loads((await nc.request("tail", b"after", timeout=5)).data)
        assert ack == {"stream": "TAIL", "seq": 11}
        assert await get_data(nc, "TAIL", 11) == b"after"
    finally:
        await nc.close()
    assert "truncated" in orlop_server.log().lower()
    assert "seqs 10-10 are lost" in orlop_server.log()


@pytest.mark.parametrize("kind", KINDS)
async def test_cut_tail_never_reuses_a_sequence(kind: str, tmp_path: Path) -> None:
    """1,000 messages, a clean stop, 5 bytes cut off the last block file: the next publish gets 1001."""
    srv = ServerProcess(kind=kind, store_dir=str(tmp_path))
    srv.start()
    try:
        nc = await nats.connect(srv.url)
        js = nc.jetstream()
        await api(nc, "STREAM.CREATE.CUT", {"name": "CUT", "subjects": ["cut"]})
        for i in range(1000):
            await js.publish("cut", b"m%04d" % i)
        await nc.close()
        srv.stop()
        last = sorted(msgs_dir(srv, "CUT").glob("*.blk"))[-1]
        os.truncate(last, last.stat().st_size - 5)
        srv.start()
        nc = await nats.connect(srv.url)
        js = nc.jetstream()
        assert (await js.publish("cut", b"after")).seq == 1001
        assert (await js.get_msg("CUT", 1001)).data == b"after"
        assert (await js.get_msg("CUT", 998)).data == b"m0997"
        await nc.close()
    finally:
        srv.close()

"""Orlop-only: a really full disk (a small tmpfs, ENOSPC) under a running server.

``test_js_crash_diskfull.py`` caps the file size (EFBIG); this fills a real
filesystem that also holds the server's log and ports file. Every publish is
either acknowledged and kept or refused with 10077; the server stays up and
serves reads; after SIGKILL and a restart on the still-full disk every
acknowledged message is there and intact, and once space is freed (a purge of
another stream) publishing works again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig
from nats.js.errors import APIError

from orlop.testing import ServerProcess


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs mount (the test sandbox runs as root)."""
    d = tmp_path / "tiny"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(d)], check=True)
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


def chunk(i: int) -> bytes:
    return hashlib.sha256(b"%d" % i).digest() * 2048  # 64 KiB, incompressible enough


@pytest.mark.parametrize("headroom", [False, True])
async def test_enospc_refuses_keeps_acknowledged_and_recovers(
    tiny_dir: Path, tmp_path: Path, headroom: bool
) -> None:
    """Without headroom the OS's ENOSPC is what refuses (10077); with it (the default) 10023 comes first."""
    conf = tmp_path / "noreserve.conf"
    conf.write_text("jetstream { max_file_store: 1GB, store_reserve: 0 }\n")
    srv = ServerProcess(
        kind="orlop", store_dir=str(tiny_dir), extra_args=[] if headroom else ["-c", str(conf)]
    )
    srv.start()
    try:
        nc = await nats.connect(srv.url)
        js = nc.jetstream(timeout=10)
        await js.add_stream(StreamConfig(name="FILLER", subjects=["filler"]))
        await js.add_stream(StreamConfig(name="DATA", subjects=["data"]))
        await js.publish("filler", b"f" * 512 * 1024)
        kept: dict[int, bytes] = {}
        refused = 0
        for i in range(80):
            try:
                ack = await js.publish("data", chunk(i))
            except APIError as err:
                assert (err.code, err.err_code) == (503, 10023 if headroom else 10077)
                refused += 1
                continue
            kept[ack.seq] = hashlib.sha256(chunk(i)).digest()
        assert kept and refused
        assert sorted(kept) == list(range(1, len(kept) + 1))
        if headroom:  # refused before the filesystem filled: room is left to work
            assert shutil.disk_usage(tiny_dir).free >= 512 * 1024
        for seq, digest in kept.items():  # still serving reads on a full disk
            assert hashlib.sha256((await js.get_msg("DATA", seq)).data or b"").digest() == digest
        await nc.close()

        srv.restart(kill=True)
        nc = await nats.connect(srv.url)
        js = nc.jetstream(timeout=10)
        assert (await js.stream_info("DATA")).state.messages == len(kept)
        for seq, digest in kept.items():
            assert hashlib.sha256((await js.get_msg("DATA", seq)).data or b"").digest() == digest
        await js.purge_stream("FILLER")
        ack = await js.publish("data", b"room again")
        assert ack.seq == len(kept) + 1
        await nc.close()
    finally:
        srv.close()


async def test_atomic_batches_on_a_full_disk_are_whole_or_absent(tiny_dir: Path, tmp_path: Path) -> None:
    """A batch commit is one write: on a full disk it is refused (10077) and none of it is stored."""
    conf = tmp_path / "noreserve.conf"
    conf.write_text("jetstream { max_file_store: 1GB, store_reserve: 0 }\n")
    srv = ServerProcess(kind="orlop", store_dir=str(tiny_dir), extra_args=["-c", str(conf)])
    srv.start()
    try:
        nc = await nats.connect(srv.url)
        js = nc.jetstream(timeout=10)
        await js.add_stream(StreamConfig(name="FILLER", subjects=["filler"]))
        await nc.request(
            "$JS.API.STREAM.CREATE.AB",
            b'{"name":"AB","subjects":["ab"],"allow_atomic":true}',
        )
        await js.publish("filler", b"f" * 512 * 1024)
        committed: list[int] = []
        refused = 0
        for b in range(12):
            for i in range(1, 8):
                await nc.publish(
                    "ab",
                    chunk(b * 8 + i)[:32768],
                    headers={"Nats-Batch-Id": f"b{b}", "Nats-Batch-Sequence": str(i)},
                )
            last = {"Nats-Batch-Id": f"b{b}", "Nats-Batch-Sequence": "8", "Nats-Batch-Commit": "1"}
            ack = json.loads(
                (await nc.request("ab", chunk(b * 8 + 8)[:32768], headers=last, timeout=10)).data
            )
            if "error" in ack:
                assert (ack["error"]["code"], ack["error"]["err_code"]) == (503, 10077)
                refused += 1
            else:
                assert ack["count"] == 8
                committed.append(b)
        assert committed and refused

        async def check() -> None:
            info = await js.stream_info("AB")
            assert info.state.messages == 8 * len(committed)
            got = [
                (await js.get_msg("AB", seq)).data
                for seq in range(info.state.first_seq, info.state.last_seq + 1)
            ]
            batches = [got[k : k + 8] for k in range(0, len(got), 8)]
            assert [[chunk(b * 8 + i)[:32768] for i in range(1, 9)] for b in committed] == batches

        await check()
        await nc.close()
        srv.restart(kill=True)
        nc = await nats.connect(srv.url)
        js = nc.jetstream(timeout=10)
        await check()
        await nc.close()
    finally:
        srv.close()

"""Orlop-only: an ``s2`` file stream stores compressible payloads compressed on disk.

The on-disk encoding (see :mod:`orlop.store.records`) is a raw Snappy block per
payload, flagged in the record header, used only when it shrinks the payload;
reads and byte accounting see the original bytes. This checks it end to end:
published through the server, measured as block-file sizes, read back through
nats-py before and after a restart.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nats
from nats.js.api import StorageType, StoreCompression, StreamConfig

from orlop.testing import ServerProcess

COUNT = 64


def payload(i: int) -> bytes:
    line = b"%06d the same sentence repeated, as logs and JSON documents are\n" % i
    return line * (65536 // len(line))


def blocks_size(store_dir: str, stream: str) -> int:
    return sum(p.stat().st_size for p in Path(store_dir).rglob("*.blk") if stream in p.parts)


async def publish_and_check(url: str) -> dict[str, int]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        states = {}
        for name, comp in (("PLAIN", StoreCompression.NONE), ("PACKED", StoreCompression.S2)):
            await js.add_stream(
                StreamConfig(
                    name=name, subjects=[name.lower() + ".>"], storage=StorageType.FILE, compression=comp
                )
            )
            for i in range(COUNT):
                await js.publish(f"{name.lower()}.x", payload(i))
            states[name] = (await js.stream_info(name)).state.bytes
        return states
    finally:
        await nc.close()


async def read_back(url: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for name in ("PLAIN", "PACKED"):
            for i in range(COUNT):
                msg = await js.get_msg(name, i + 1)
                assert msg.data is not None
                assert hashlib.sha256(msg.data).digest() == hashlib.sha256(payload(i)).digest()
    finally:
        await nc.close()


async def test_s2_stream_is_compressed_on_disk_and_reads_back(tmp_path: Path) -> None:
    with ServerProcess(kind="orlop", store_dir=str(tmp_path)) as srv:
        states = await publish_and_check(srv.url)
        # Accounting uses the original sizes, as nats-server's does (fileStoreMsgSize).
        for name, nbytes in states.items():
            assert nbytes == sum(30 + len(name) + 2 + len(payload(i)) for i in range(COUNT))
        await read_back(srv.url)
        plain, packed = blocks_size(srv.store_dir, "PLAIN"), blocks_size(srv.store_dir, "PACKED")
        assert plain >= COUNT * 65000
        assert packed * 5 < plain
        srv.restart()
        await read_back(srv.url)
        assert blocks_size(srv.store_dir, "PACKED") == packed

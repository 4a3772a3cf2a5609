"""Disk-full campaign: a small tmpfs filled by puts, then deletes, purges, compaction, more puts, restarts.

One round mounts a 16-32 MiB tmpfs for the store (the log stays outside it)
and walks a seeded sequence of steps, checking after every step that every
object that was acknowledged and not deleted reads back intact:

1. put objects (64 KiB to 3 MiB) until the server refuses several in a row;
2. delete about half of them and purge a stream subject, while (in some
   rounds) another process's file grows on the same disk until it is full,
   so deletes, punching and compaction run out of room mid-way;
3. put again until refused;
4. restart (SIGTERM or SIGKILL), still full;
5. remove the other file, put again, restart again.

A refused put must leave nothing behind that breaks the others. On Orlop the
deleted bytes must also come back as free space (``df`` before and after step
2 without the filler): its store punches them out at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from pathlib import Path

import nats
import nats.errors
import nats.js.errors

from campaigns.common import Outcome, digest, quiet, seeded_bytes, tmpfs
from orlop.errors import (
    DigestMismatch,
    ObjectNotFound,
    ObjectStoreError,
    ObjectStoreUnavailable,
    StorageLimitExceeded,
)
from orlop.objects import Bucket, ObjectStoreClient
from orlop.testing import ServerProcess

__all__ = ["diskfull_round"]

SIZES = (64 << 10, 300 << 10, 1 << 20, 3 << 20)
PUT_TIMEOUT = 5.0
"""Seconds an object operation waits (a tmpfs answers in milliseconds; nats-server never answers
a put on a full disk, and every such put costs this long)."""


class Round:
    def __init__(self, kind: str, seed: int, store: Path, workdir: Path) -> None:
        self.rnd = random.Random(seed)
        self.seed = seed
        self.store = store
        self.out = Outcome()
        self.objects: dict[str, str] = {}
        self.n = 0
        self.srv = ServerProcess(
            kind=kind, store_dir=str(workdir), jetstream=False, extra_args=["-js", "-sd", str(store)]
        )
        self.nc: nats.NATS | None = None
        self.bucket: Bucket | None = None

    async def connect(self) -> Bucket:
        self.nc = await nats.connect(self.srv.url, allow_reconnect=False, error_cb=quiet)
        client = ObjectStoreClient(self.nc, timeout=PUT_TIMEOUT)
        self.bucket = await client.bucket("files")
        return self.bucket

    async def put_until_refused(self, refusals: int) -> None:
        assert self.bucket is not None
        refused = 0
        while refused < refusals:
            name = f"o{self.n}"
            data = seeded_bytes(self.seed * 10_000 + self.n, self.rnd.choice(SIZES))
            self.n += 1
            try:
                await self.bucket.put(name, data)
            except StorageLimitExceeded:
                refused += 1
                self.out.note("refused puts")
                continue
            except ObjectStoreUnavailable:  # nats-server leaves a put on a full disk unanswered
                refused = refusals  # each costs a whole timeout: one is answer enough
                self.out.note("unanswered puts")
                continue
            self.objects[name] = digest(data)
            self.out.acked_objects += 1
            refused = 0

    async def verify(self, step: str) -> None:
        assert self.bucket is not None
        for name, sha in sorted(self.objects.items()):
            try:
                data = await self.bucket.get_bytes(name)
            except ObjectNotFound:
                self.out.lost += 1
                self.out.fail(f"{step}: acked object {name} is gone")
            except DigestMismatch:
                self.out.corrupt += 1
                self.out.fail(f"{step}: object {name} fails its digest")
            else:
                if digest(data) != sha:
                    self.out.corrupt += 1
                    self.out.fail(f"{step}: object {name} reads back different")

    async def delete_half(self) -> int:
        assert self.bucket is not None
        names = sorted(self.objects)
        self.rnd.shuffle(names)
        gone = 0
        for name in names[: len(names) // 2]:
            try:
                await self.bucket.delete(name)
            except (StorageLimitExceeded, ObjectStoreUnavailable):  # nats-server: delete marker refused
                self.out.note("refused deletes")
                continue
            del self.objects[name]
            gone += 1
        return gone

    async def restart(self) -> None:
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.close()
        if self.rnd.random() < 0.5:
            self.srv.kill()
        else:
            self.srv.stop()
        self.srv.start()
        await self.connect()


async def _grow(path: Path) -> None:
    """Another writer on the same disk: append until it is full."""
    chunk = os.urandom(256 << 10)
    try:
        f = open(path, "ab", buffering=0)  # noqa: SIM115 - closed below; creating it may fail
    except OSError:
        return  # the disk is already too full for a new file
    with f:
        while True:
            try:
                f.write(chunk)
                f.flush()
            except OSError:
                return
            await asyncio.sleep(0)


def _used(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


async def _steps(r: Round) -> None:
    r.srv.start()
    nc = await nats.connect(r.srv.url, allow_reconnect=False, error_cb=quiet)
    await ObjectStoreClient(nc, timeout=10).create_bucket("files")
    js = nc.jetstream(timeout=10)
    await js.add_stream(name="EVENTS", subjects=["ev.>"])
    for i in range(r.rnd.randrange(10, 200)):
        await js.publish(f"ev.{i % 3}", seeded_bytes(r.seed + i, r.rnd.randrange(10, 2000)))
    await nc.close()
    await r.connect()
    await r.put_until_refused(3)
    await r.verify("after filling")
    filler = r.store / "filler"
    grow = r.rnd.random() < 0.5
    before = _used(r.store)
    deleted_bytes = 0
    growing = asyncio.ensure_future(_grow(filler)) if grow else None
    try:
        sizes = {name: 0 for name in r.objects}
        assert r.bucket is not None
        for name in sizes:
            sizes[name] = (await r.bucket.info(name)).size
        kept = set(r.objects)
        await r.delete_half()
        deleted_bytes = sum(sizes[n] for n in kept - set(r.objects))
        assert r.nc is not None
        with contextlib.suppress(nats.js.errors.Error, nats.errors.Error):
            await r.nc.jetstream(timeout=10).purge_stream("EVENTS", subject="ev.1")
    finally:
        if growing is not None:
            await growing
    if not grow and r.srv.kind == "orlop":
        freed = before - _used(r.store)
        r.out.note("freed MiB", freed >> 20)
        if freed < 0.8 * deleted_bytes:
            r.out.fail(f"deleting {deleted_bytes} bytes freed only {freed}")
    await r.verify("after deleting")
    await r.put_until_refused(2)
    await r.verify("after filling again")
    await r.restart()
    await r.verify("after a restart on a full disk")
    filler.unlink(missing_ok=True)
    await r.put_until_refused(2)
    await r.verify("with room again")
    await r.restart()
    await r.verify("after the last restart")


async def diskfull_round(kind: str, seed: int, workdir: Path) -> Outcome:
    """One seeded round on a server of ``kind``; the store lives on a fresh small tmpfs."""
    size = random.Random(seed).choice(("16m", "24m", "32m"))
    with tmpfs(size, workdir) as store:
        r = Round(kind, seed, store, workdir)
        try:
            await _steps(r)
        except (ObjectStoreError, nats.errors.Error, nats.js.errors.Error) as exc:
            r.out.fail(f"{type(exc).__name__}: {exc}")
        finally:
            if r.nc is not None:
                with contextlib.suppress(Exception):
                    await r.nc.close()
            r.srv.close()
    return r.out

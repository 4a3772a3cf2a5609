"""Kill campaign: SIGKILL at a random moment of a mixed workload; every acknowledged byte must survive.

One round: start a server on a fresh store, lay down some data, then run
concurrent workers (stream publishes, deletes and purges, object puts and
deletes, bursts of small messages whose purge makes the store compact) and kill
the server with SIGKILL after a random 50-1200 ms. Restart it and check, through
a client, that

* every acknowledged message is there with its subject and bytes (SHA-256),
  unless its removal was acknowledged, in which case it stays removed;
* every acknowledged object reads back whole (orlop.objects checks the
  digest), and every acknowledged delete stays deleted;
* the next publish gets a sequence above every acknowledged one.

Operations in flight at the kill may have happened or not; nothing else may
differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors

from campaigns.common import Outcome, digest, quiet, seeded_bytes
from orlop.errors import DigestMismatch, ObjectNotFound, ObjectStoreError
from orlop.objects import ObjectStoreClient
from orlop.testing import ServerProcess

__all__ = ["kill_encrypted_round", "kill_round"]

OBJECT_SIZES = (0, 1, 1000, 100_000, 1 << 20, 3 << 20)


@dataclass
class Model:
    """What the clients were told, to compare with what the server says after the restart."""

    msgs: dict[int, tuple[str, str]] = field(default_factory=dict)  # acked seq -> (subject, sha)
    removed: set[int] = field(default_factory=set)  # acked removals (delete or purge)
    maybe_removed: set[int] = field(default_factory=set)  # removal in flight at the kill
    deleting: set[int] = field(default_factory=set)  # single deletes sent and not yet answered
    objects: dict[str, str] = field(default_factory=dict)  # acked put -> sha
    deleted: set[str] = field(default_factory=set)
    maybe_deleted: set[str] = field(default_factory=set)


_FAILED = (nats.errors.Error, nats.js.errors.Error, ObjectStoreError, asyncio.TimeoutError, OSError)


async def _publisher(js: Any, rnd: random.Random, m: Model, seed: int) -> None:
    n = 0
    while True:
        subject = f"ev.{rnd.randrange(8)}"
        data = seeded_bytes(seed * 100_000 + n, rnd.choice((10, 200, 4000, 60_000)))
        n += 1
        ack = await js.publish(subject, data)
        m.msgs[ack.seq] = (subject, digest(data))
        if rnd.random() < 0.1 and m.msgs:
            victim = rnd.choice(list(m.msgs))
            if victim in m.removed:
                continue
            m.maybe_removed.add(victim)
            m.deleting.add(victim)
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_msg("EVENTS", victim)
            m.removed.add(victim)
            m.deleting.discard(victim)


async def _purger(js: Any, rnd: random.Random, m: Model, seed: int) -> None:
    """Bursts of small messages on one subject, then a purge of it: the store compacts."""
    n = 0
    while True:
        mine: list[int] = []
        for _ in range(rnd.randrange(20, 200)):
            data = seeded_bytes(seed * 100_000 + 50_000 + n, rnd.randrange(1, 300))
            n += 1
            ack = await js.publish("ev.burst", data)
            m.msgs[ack.seq] = ("ev.burst", digest(data))
            mine.append(ack.seq)
        keep = rnd.choice((0, 0, 5))
        burst = sorted(s for s, (subj, _) in m.msgs.items() if subj == "ev.burst" and s not in m.removed)
        m.maybe_removed.update(burst)
        await js.purge_stream("EVENTS", subject="ev.burst", keep=keep)
        # The server kept the newest `keep` it still had. A delete in flight meanwhile (the
        # publisher's) may have taken one of them, so the kept ones may reach further back.
        left = [s for s in burst if s not in m.removed]
        in_flight = sum(1 for s in left if s in m.deleting) if keep else 0
        certain = left[: max(0, len(left) - keep - in_flight)] if keep else left
        m.removed.update(certain)


async def _objects(client: ObjectStoreClient, rnd: random.Random, m: Model, seed: int, worker: int) -> None:
    bucket = await client.bucket("files")
    n = 0
    while True:
        if m.objects and rnd.random() < 0.3:
            name = rnd.choice(sorted(set(m.objects) - m.deleted - m.maybe_deleted) or [""])
            if name:
                m.maybe_deleted.add(name)
                await bucket.delete(name)
                m.deleted.add(name)
            continue
        name = f"w{worker}/o{n}"
        data = seeded_bytes(seed * 100_000 + 90_000 + worker * 1000 + n, rnd.choice(OBJECT_SIZES))
        n += 1
        await bucket.put(name, data)
        m.objects[name] = digest(data)


async def _run_workers(workers: list[Any], srv: ServerProcess, after: float) -> None:
    tasks = [asyncio.ensure_future(w) for w in workers]
    await asyncio.sleep(after)
    srv.kill()
    for t in tasks:
        with contextlib.suppress(*_FAILED, asyncio.CancelledError):
            await asyncio.wait_for(t, 20)


async def _verify(srv: ServerProcess, m: Model, out: Outcome) -> None:
    nc = await nats.connect(srv.url, allow_reconnect=False, error_cb=quiet)
    try:
        js = nc.jetstream(timeout=10)
        for seq, (subject, sha) in sorted(m.msgs.items()):
            try:
                got = await js.get_msg("EVENTS", seq)
            except nats.js.errors.NotFoundError:
                if seq not in m.removed and seq not in m.maybe_removed:
                    out.lost += 1
                    out.fail(f"acked message {seq} is gone")
                continue
            if seq in m.removed:
                out.fail(f"removed message {seq} came back")
            elif got.subject != subject or digest(got.data or b"") != sha:
                out.corrupt += 1
                out.fail(f"message {seq} reads back different")
        top = max(m.msgs, default=0)
        ack = await js.publish("ev.after", b"after the restart")
        if ack.seq <= top:
            out.fail(f"sequence {ack.seq} handed out again (acked up to {top})")
        client = ObjectStoreClient(nc, timeout=10)
        bucket = await client.bucket("files")
        for name, sha in sorted(m.objects.items()):
            try:
                data = await bucket.get_bytes(name)
            except ObjectNotFound:
                if name not in m.deleted and name not in m.maybe_deleted:
                    out.lost += 1
                    out.fail(f"acked object {name} is gone")
                continue
            except DigestMismatch:
                out.corrupt += 1
                out.fail(f"object {name} fails its digest")
                continue
            if name in m.deleted:
                out.fail(f"deleted object {name} came back")
            elif digest(data) != sha:
                out.corrupt += 1
                out.fail(f"object {name} reads back different")
    finally:
        await nc.close()


async def kill_encrypted_round(kind: str, seed: int, workdir: Path) -> Outcome:
    """:func:`kill_round` with encryption at rest on (``jetstream { key }``, the default cipher)."""
    conf = workdir.parent / f"{workdir.name}-encrypted.conf"
    conf.write_text(f'jetstream {{ key: "kill-campaign-{seed}" }}\n')
    return await kill_round(kind, seed, workdir, extra_args=["-c", str(conf)])


async def kill_round(kind: str, seed: int, workdir: Path, *, extra_args: list[str] | None = None) -> Outcome:
    """One seeded round on a server of ``kind`` with its store in ``workdir``."""
    rnd = random.Random(seed)
    out = Outcome()
    m = Model()
    srv = ServerProcess(kind=kind, store_dir=str(workdir), extra_args=list(extra_args or []))
    srv.start()
    try:
        nc = await nats.connect(srv.url, allow_reconnect=False, pending_size=32 << 20, error_cb=quiet)
        js = nc.jetstream(timeout=5)
        await js.add_stream(name="EVENTS", subjects=["ev.>"])
        client = ObjectStoreClient(nc, timeout=5)
        await client.create_bucket("files")
        await _objects_for(client, rnd, m, seed, rnd.randrange(0, 4))
        workers = [
            _publisher(js, random.Random(rnd.random()), m, seed),
            _purger(js, random.Random(rnd.random()), m, seed),
        ]
        workers += [
            _objects(client, random.Random(rnd.random()), m, seed, w) for w in range(rnd.randrange(1, 3))
        ]
        await _run_workers(workers, srv, rnd.uniform(0.05, 1.2))
        with contextlib.suppress(*_FAILED):
            await nc.close()
        out.acked_msgs, out.acked_objects = len(m.msgs), len(m.objects)
        out.note("compactions", srv.log().count("compacted block"))
        srv.start()
        await _verify(srv, m, out)
    finally:
        srv.close()
    return out


async def _objects_for(
    client: ObjectStoreClient, rnd: random.Random, m: Model, seed: int, count: int
) -> None:
    """A few objects laid down before the workload, so the kill can hit their deletion too."""
    bucket = await client.bucket("files")
    for n in range(count):
        name = f"base/o{n}"
        data = seeded_bytes(seed * 100_000 + 99_000 + n, rnd.choice(OBJECT_SIZES))
        await bucket.put(name, data)
        m.objects[name] = digest(data)

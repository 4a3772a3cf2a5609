"""Object versions on top of plain JetStream: the history rule.

A bucket created with ``history=N`` (N > 1) records ``orlop.history=N`` in its
stream metadata. The stream's ``max_msgs_per_subject`` is *not* used: it
applies to every subject, and a chunk subject holds one message per chunk,
so it would truncate any object larger than N chunks. Instead:

* every meta write (put, update_meta, delete tombstone, link, restore) is
  published **without** ``Nats-Rollup``, so the meta subject keeps one
  message per revision; ``revision`` = the stream sequence of that message;
* overwrites and soft deletes do **not** purge the previous chunks;
* after each write the writer prunes: when the subject holds more than N
  metas, the oldest ones are purged (``STREAM.PURGE {"filter", "seq"}`` below
  the N-th newest it read, so racing writers never drop a revision whose
  chunks they did not see) and so are the chunk subjects they referenced, unless a kept revision
  references the same chunks (``restore`` re-publishes an old meta with its
  original ``nuid``, so revisions may share chunks);
* ``delete(purge=True)`` purges every revision's chunks and the meta subject.

Readers see the newest message of a name as the object (``last_by_subj``,
``last_per_subject`` consumers), exactly like the official clients, which can
therefore read such a bucket. A put by an official client rolls the name's
history up to its own revision (its ``Nats-Rollup: sub``); the older
revisions' chunks then stay until ``delete(purge=True)`` of that name.
In a bucket without history (N = 1) only the current revision is retained.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orlop.errors import ObjectNotFound
from orlop.objects.meta import ObjectInfo, chunk_subject, meta_subject

if TYPE_CHECKING:
    from orlop.objects.bucket import Bucket

__all__ = ["prune", "restore", "revisions"]


async def revisions(bucket: Bucket, name: str) -> list[ObjectInfo]:
    """Every retained revision of ``name``, oldest first (tombstones included)."""
    subject = meta_subject(bucket.name, name)
    out: list[ObjectInfo] = []
    seq = 1
    while True:
        msg = await bucket.get_msg({"next_by_subj": subject, "seq": seq})
        if msg is None:
            return out
        info = bucket.info_from_msg(msg)
        out.append(info)
        seq = info.revision + 1


async def prune(bucket: Bucket, name: str) -> None:
    """Drop revisions beyond the bucket's history depth, with their unshared chunks.

    The meta purge is bounded by sequence (everything on the subject before the
    oldest revision kept), not by ``keep``: it removes exactly the revisions read
    here, whose chunks are then known, even while other writers add revisions
    (a newer revision is pruned by its own writer's prune). Chunks shared with a
    revision still retained after the purge (``restore``) stay.
    """
    revs = await revisions(bucket, name)
    keep = bucket.history
    if len(revs) <= keep:
        return
    await bucket.purge({"filter": meta_subject(bucket.name, name), "seq": revs[-keep].revision})
    retained = {r.nuid for r in await revisions(bucket, name)}
    dropped = {r.nuid for r in revs[:-keep] if r.nuid and not r.is_link} - retained
    for nuid in sorted(dropped):
        await bucket.purge({"filter": chunk_subject(bucket.name, nuid)})


async def restore(bucket: Bucket, name: str, revision: int) -> ObjectInfo:
    """Make revision ``revision`` of ``name`` current again (a new revision sharing its chunks).

    Raises ObjectNotFound when that revision is not retained or is a tombstone,
    RevisionMismatch when the object changed concurrently.
    """
    from orlop.objects.put import publish_meta

    target = await bucket.info(name, revision=revision)
    current = await bucket.latest(name)
    if current is not None and current.revision == target.revision:
        return current
    if bucket.history <= 1 and not target.is_link:
        # Without history the replaced revision's chunks are gone.
        raise ObjectNotFound(f"revision {revision} of {name!r} is not retained (bucket has no history)")
    seq, _ = await publish_meta(bucket, target, expected=current.revision if current else 0, ttl=target.ttl)
    restored = target.evolve(revision=seq, modified_ns=0)
    await bucket.after_write(restored, current)
    return await bucket.info(name)

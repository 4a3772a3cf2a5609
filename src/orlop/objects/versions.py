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
* ``delete(purge=True)`` purges every revision's chunks and the meta subject;
  ``delete_revision`` removes one revision's meta message (``STREAM.MSG.DELETE``) and
  its chunks unless a retained revision shares them.

The operations behind these rules (``revisions``, ``prune``, ``after_write``)
live in :class:`orlop.objects.core.BucketCore`, since every write path uses them.

Readers see the newest message of a name as the object (``last_by_subj``,
``last_per_subject`` consumers), exactly like the official clients, which can
therefore read such a bucket. A put by an official client rolls the name's
history up to its own revision (its ``Nats-Rollup: sub``); the older
revisions' chunks then stay until ``delete(purge=True)`` of that name.
In a bucket without history (N = 1) only the current revision is retained.
"""

from __future__ import annotations

from orlop.errors import ObjectNotFound
from orlop.objects.core import BucketCore
from orlop.objects.meta import ObjectInfo

__all__ = ["delete_revision", "restore"]


async def restore(core: BucketCore, name: str, revision: int) -> ObjectInfo:
    """Make revision ``revision`` of ``name`` current again (a new revision sharing its chunks).

    Raises ObjectNotFound when that revision is not retained or is a tombstone,
    RevisionMismatch when the object changed concurrently.
    """
    target = await core.lookup(name, revision=revision)
    current = await core.latest(name)
    if current is not None and current.revision == target.revision:
        return current
    if core.history <= 1 and not target.is_link:
        # Without history the replaced revision's chunks are gone.
        raise ObjectNotFound(f"revision {revision} of {name!r} is not retained (bucket has no history)")
    seq, _ = await core.publish_meta(target, expected=current.revision if current else 0, ttl=target.ttl)
    restored = target.evolve(revision=seq, modified_ns=0)
    await core.after_write(restored, current)
    return await core.lookup(name)


async def delete_revision(core: BucketCore, name: str, revision: int) -> ObjectInfo | None:
    """Remove one retained revision of ``name`` (a tombstone too); the removed one, or None.

    Its meta message goes (``STREAM.MSG.DELETE`` by sequence: exactly that revision, even
    while others write the name), then its chunks unless a retained revision shares them
    (:meth:`BucketCore.purge_unshared`, as pruning does). Removing the newest makes the one
    before it current again; removing the only one leaves no trace of the name.
    """
    target = next((r for r in await core.revisions(name) if r.revision == revision), None)
    if target is None:
        return None
    await core.wire.request(f"STREAM.MSG.DELETE.{core.stream}", {"seq": revision})
    await core.purge_unshared(name, [target])
    return target

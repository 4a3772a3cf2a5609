"""orlop.objects: the NATS JetStream Object Store (ADR-20) over nats-py's public API.

Async API here, the blocking twin in :mod:`orlop.objects.sync` (same names).
Works against any JetStream server (Orlop's own or nats-server); buckets and
objects are wire-compatible with the official Go, JavaScript and Python
clients, plus versions, range reads, conditional writes, per-object
compression and TTL built from standard JetStream features, and client-side
encryption (``encryption=Key(...)``, :mod:`orlop.objects.encryption`).

Errors are the :mod:`orlop.errors` Object Store tree (BucketNotFound,
ObjectNotFound, ObjectAlreadyExists > RevisionMismatch, ObjectTooLarge,
StorageLimitExceeded, DigestMismatch, DecryptionFailed, BadRequest, LinkError, BucketSealed,
ObjectStoreUnavailable), each with ``code``/``err_code``/``description`` and
``to_dict()``.

Performance: big objects travel in 1 MiB chunks with many PubAcks in flight,
each frame handed to the socket before the next is read; gets stream through
an ordered push consumer whose flow control is answered as data is consumed;
small objects and exact ranges use DIRECT.GET; downloads hash on a helper
thread and write files with ``O_DIRECT`` on another (see :mod:`.hashing`,
:mod:`.direct_sink`). Applications that move big objects may call
:func:`tune_allocator` once at start (an explicit opt-in: it changes glibc's
malloc settings for the whole process); a put only frees one buffer once to
steer glibc's own adaptive thresholds (:func:`.tuning.warm_heap`).

On a nats-server cluster (``num_replicas=3``): a download survives its
stream leader moving; a put in flight then fails with ObjectStoreUnavailable
and leaves nothing behind; reads retry through a leader election for about
20 s (:meth:`.wire.Wire.patiently`), writes are never retried; a direct-get
miss on a replicated bucket is asked again of the stream leader, since a
lagging replica may answer first.
"""

from orlop.objects.bucket import Bucket, BucketStatus
from orlop.objects.client import ObjectStoreClient, connect, stream_config
from orlop.objects.encryption import Key, Keyring
from orlop.objects.meta import ObjectInfo, ObjectLink
from orlop.objects.reader import ObjectReader
from orlop.objects.tuning import tune_allocator
from orlop.objects.watch import ObjectWatcher

__all__ = [
    "Bucket",
    "BucketStatus",
    "Key",
    "Keyring",
    "ObjectInfo",
    "ObjectLink",
    "ObjectReader",
    "ObjectStoreClient",
    "ObjectWatcher",
    "connect",
    "stream_config",
    "tune_allocator",
]

"""Process tuning for bulk transfers: opt-in :func:`tune_allocator`, built-in :func:`warm_heap`.

Every chunk that crosses nats-py is copied several times into fresh ``bytes``
and ``bytearray`` objects of chunk size (the PUB frame is built with two
concatenations; a received message goes through asyncio's stream buffer,
nats-py's parser buffer and two slices). glibc serves allocations of 128 KiB
and more with ``mmap`` and returns them with ``munmap``; its dynamic threshold
then rises, but the heap top keeps being trimmed and regrown. Either way each
chunk-sized buffer costs fresh pages: a page fault per 4 KiB plus zeroing.

Tuned, a put and a get cost about a quarter less client CPU per MiB, at the
same peak RSS; a 1 MiB alloc/free loop faults in ~240 pages per MiB untuned
and ~none tuned (tests/objects/test_objects_tuning.py; figures:
docs/performance.md, lab notes).

A library must not change process-wide allocator settings behind its user's
back (they affect every allocation of the process, and the memory returned to
the OS), so nothing in :mod:`orlop.objects` calls this by itself: applications
that move big objects (Orlop's CLI, the HTTP gateway) call it once at start.

What the library does by itself is smaller (:func:`warm_heap`, at the start of a
put): it frees one buffer of four chunks once per process, so that glibc's own
adaptive rule raises its thresholds. That fixes the worst case of the pattern
above, which nats-py's publish hits exactly: its two concatenations make two
frames of chunk size, the first freed while the second lives, so both end at
the heap top together; glibc's dynamic trim threshold is twice the largest
``mmap`` chunk freed so far, i.e. twice one frame, and whether the pair crosses
it depends on a few KiB of slack. When it does, every chunk trims the heap and
regrows it: 2 MiB of fresh pages per 1 MiB chunk (481 page faults per MiB in a
loop of nats-py's ``pub_cmd`` alone, 8 after :func:`warm_heap`). On these VMs a
fresh page also faults on the host (virtio-balloon free page reporting), and a
512 MiB put against nats-server went from 370-450 MB/s at 2.2-2.6 ms of client
CPU per MiB to 720-770 MB/s at 1.05 ms (same process, same layout, A/B).
"""

from __future__ import annotations

from orlop.allocator import set_malloc_thresholds

__all__ = ["tune_allocator", "warm_heap"]

_DEFAULT_MMAP_THRESHOLD = 16 * 1024 * 1024
_DEFAULT_TRIM_THRESHOLD = 64 * 1024 * 1024
# glibc's dynamic mmap threshold never rises above 32 MiB on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX).
_WARM_MAX = 32 * 1024 * 1024
_WARM_CHUNKS = 4
_warmed = 0


def warm_heap(chunk: int) -> None:
    """Once per process and size: free a buffer of four ``chunk`` (see the module docstring).

    glibc, on freeing an ``mmap``-ed block bigger than its current threshold,
    raises the mmap threshold to that block and the trim threshold to twice it:
    afterwards chunk-sized buffers live on the heap and the heap top is kept
    while it holds less than eight chunks of free memory. This is the change
    glibc makes by itself the first time any program frees such a buffer, and
    it bounds what it keeps (2 x 4 chunks, at most 64 MiB). The buffer is
    ``bytes(n)``, served by ``calloc``: an ``mmap``-ed block is never touched,
    so this costs two system calls. Elsewhere (musl, macOS, an explicit
    ``mallopt``) it is one allocation that changes nothing.
    """
    global _warmed
    size = min(_WARM_CHUNKS * chunk, _WARM_MAX)
    if size <= _warmed:
        return
    _warmed = size
    bytes(size)


def tune_allocator(
    mmap_threshold: int = _DEFAULT_MMAP_THRESHOLD, trim_threshold: int = _DEFAULT_TRIM_THRESHOLD
) -> bool:
    """Keep chunk-sized buffers on glibc's heap (``mallopt``); True when applied.

    ``mmap_threshold``: allocations below this never use ``mmap`` (glibc caps it
    at 32 MiB on 64-bit). ``trim_threshold``: free memory at the heap top kept
    for reuse instead of being returned to the OS, so the process may hold up to
    that much more than it uses after a transfer. Returns False (and changes
    nothing) on anything but glibc, e.g. macOS or musl. Raises ValueError on
    negative thresholds. Calling it again just sets the values again.
    """
    return set_malloc_thresholds(mmap_threshold, trim_threshold)

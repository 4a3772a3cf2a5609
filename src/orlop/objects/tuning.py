"""Opt-in process tuning for bulk transfers: :func:`tune_allocator`.

Every chunk that crosses nats-py is copied several times into fresh ``bytes``
and ``bytearray`` objects of chunk size (the PUB frame is built with two
concatenations; a received message goes through asyncio's stream buffer,
nats-py's parser buffer and two slices). glibc serves allocations of 128 KiB
and more with ``mmap`` and returns them with ``munmap``; its dynamic threshold
then rises, but the heap top keeps being trimmed and regrown. Either way each
chunk-sized buffer costs fresh pages: a page fault per 4 KiB plus zeroing.

Measured on this project's 2-vCPU machines against nats-server (128 MiB
objects, 1 MiB chunks, A/B back to back, client CPU per MiB, event-loop
thread in brackets): put 1.5 (0.85) -> 1.1 (0.45) ms, get to a file 2.0 (1.1)
-> 1.55 (0.65) ms; throughput rose accordingly (put ~430-520 -> ~490-790 MB/s,
get ~310-515 -> ~405-675 MB/s on a shared machine). Peak RSS of a 1 GiB get
stays ~70-78 MB either way. A 1 MiB alloc/free loop faults in ~240 pages per
MiB untuned and ~none tuned (tests/objects/test_objects_tuning.py). The same
effect is seen with ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``
in the environment.

A library must not change process-wide allocator settings behind its user's
back (they affect every allocation of the process, and the memory returned to
the OS), so nothing in :mod:`orlop.objects` calls this by itself: applications
that move big objects (Orlop's CLI, the HTTP gateway) call it once at start.
"""

from __future__ import annotations

from orlop.allocator import set_malloc_thresholds

__all__ = ["tune_allocator"]

_DEFAULT_MMAP_THRESHOLD = 16 * 1024 * 1024
_DEFAULT_TRIM_THRESHOLD = 64 * 1024 * 1024


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
